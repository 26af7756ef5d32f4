"""The process layer of a worker of ``dcgan-serve`` (DCGAN_WORKERS > 1; the parent is
``service.process.supervisor``): how workers tell each other about reloads, and how each one learns
that it must stop.

- **Readiness at SIGTERM.** In a worker, uvicorn's own server takes SIGTERM; the handler
  installed here first marks every model manager of the process as draining, so ``/readyz``
  turns 503 while requests finish.
- **The reload signal.** A reload answered by one worker (the *leader*) writes a new token
  to a file in the shared folder, with the versions it loaded (name/version -> sha256); the
  others poll the file and follow, and can check that they hold what the leader held.
- **The parent.** A worker stops, gracefully, once its parent is gone (killed with SIGKILL,
  it can neither stop its workers nor clean up).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import uuid
import weakref
from pathlib import Path
from types import FrameType
from typing import Protocol

from service.inference.registry import ModelVersion, Registry, ready_versions

log = logging.getLogger("service.workers")  # not __name__: the name log lines always had

RELOAD_POLL_S = 0.25  # how often a worker looks at the reload signal
PARENT_POLL_S = 0.5  # how often a worker checks that its parent still runs
LeaderView = dict[str, str]  # "name/version" -> onnx_sha256 of each version the leader loaded


class Drains(Protocol):
    def begin_shutdown(self) -> None: ...


_DRAINING: weakref.WeakSet[Drains] = weakref.WeakSet()  # told first at SIGTERM


def begin_shutdown_all() -> None:
    """Every registered manager of this process stops reporting ready."""
    for manager in list(_DRAINING):
        manager.begin_shutdown()


def drain_on_sigterm(manager: Drains) -> None:
    """Mark ``manager`` draining at SIGTERM, before uvicorn's handler (chained) stops the
    server. Installed once per process, from the main thread only (signals need it)."""
    first = not _DRAINING
    _DRAINING.add(manager)
    if not first or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(sig: int, frame: FrameType | None) -> None:
        begin_shutdown_all()
        if callable(previous):
            previous(sig, frame)

    signal.signal(signal.SIGTERM, handler)


def onnx_sha(version: ModelVersion) -> str:
    return version.manifest.onnx_sha256 if version.manifest is not None else ""


def leader_view(registry: Registry) -> LeaderView:
    return {f"{v.name}/{v.version}": onnx_sha(v) for v in ready_versions(registry)}


def behind_leader(registry: Registry, leader: LeaderView) -> list[str]:
    """The versions the leader loaded that ``registry`` does not hold ready, same bytes."""
    behind = []
    for key, sha in leader.items():
        name, version = key.split("/")
        entry = registry.models.get(name, {}).get(int(version))
        if entry is None or entry.status != "ready" or onnx_sha(entry) != sha:
            behind.append(key)
    return behind


class ReloadSignal:
    """The shared file through which the workers' reloads follow each other."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = self.read()[0]  # the last token seen or sent

    def read(self) -> tuple[str, LeaderView]:
        """The last signal's token and the leader's view; ("", {}) when there is none."""
        try:
            message = json.loads(self.path.read_text())
            token, ready = str(message["token"]), message["ready"]
            return token, {str(k): str(v) for k, v in ready.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "", {}

    def send(self, loaded: Registry) -> None:
        self.seen = uuid.uuid4().hex
        self.path.parent.mkdir(parents=True, exist_ok=True)  # deleted by a /tmp cleaner
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        staging.write_text(json.dumps({"token": self.seen, "ready": leader_view(loaded)}))
        staging.replace(self.path)  # atomic: a reader sees the old signal or the new one

    def new(self) -> LeaderView | None:
        """The leader's view when another worker has signalled since; else None."""
        token, leader = self.read()
        if not token or token == self.seen:
            return None
        self.seen = token
        return leader


async def follow_parent(parent: int) -> None:
    """Stop this worker (gracefully, as at SIGTERM) once ``parent`` is gone: a parent killed
    with SIGKILL would otherwise leave workers serving the port for ever, and the restarted
    service could not bind it."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_POLL_S)
    log.warning("dcgan-serve's parent process %d is gone: this worker stops", parent)
    os.kill(os.getpid(), signal.SIGTERM)
