"""A worker's registry, built from the shared engine's snapshot: the same ModelVersion
entries the HTTP layer knows (manifest, status, provider, card files), with no session;
each ready one runs through a :class:`~service.engine.client.RemoteVersion`."""

from __future__ import annotations

from pathlib import Path

from contract.manifest import Manifest
from service.core.settings import Settings
from service.engine.client import RemoteVersion, Snapshot
from service.engine.wire import Layout
from service.inference.registry import ModelVersion, Registry

# a channel that gets no answer this long after the watchdog would have fired gives up
ANSWER_MARGIN_S = 5.0


def registry_from_snapshot(
    snapshot: Snapshot, previous: Registry | None, settings: Settings
) -> Registry:
    """``previous`` entries with the same handle are kept as they are (their batchers run on)."""
    assert settings.engine_socket is not None
    kept = {
        v.handle: v
        for vs in (previous.models.values() if previous is not None else ())
        for v in vs.values()
        if v.handle
    }
    registry = Registry()
    for item in snapshot["versions"]:
        handle = str(item["handle"])
        entry = kept.get(handle)
        if entry is not None:
            entry.files = tuple(item["files"])
        else:
            manifest = Manifest.model_validate(item["manifest"]) if item["manifest"] else None
            entry = ModelVersion(
                str(item["name"]),
                int(item["version"]),
                Path(item["path"]),
                str(item["status"]),
                str(item["reason"]),
                manifest,
                provider=str(item["provider"]),
                files=tuple(item["files"]),
                handle=handle,
            )
            if entry.status == "ready" and manifest is not None:
                layout = Layout(
                    settings.max_batch_size,
                    manifest.nz,
                    (manifest.image_size, manifest.image_size, manifest.channels),
                )
                timeout = settings.engine_watchdog_s + ANSWER_MARGIN_S
                entry.remote = RemoteVersion(settings.engine_socket, handle, layout, timeout)
        registry.models.setdefault(entry.name, {})[entry.version] = entry
    return registry
