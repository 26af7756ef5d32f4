"""ModelManager: the served models' whole lifecycle in one object.

``start`` discovers the models folder and starts a micro-batcher per ready version;
``reload`` rescans and swaps the registry in one assignment; ``lease`` is how a request
holds one version from resolution until its response body is made; ``close`` stops
everything. A version replaced or removed by a reload is *retired*: no new request can
resolve it, and its batcher closes when its last lease ends, so a request caught by a
reload always finishes on the version it resolved. Everything here runs on the event
loop (no threadpool hop between resolving a version and leasing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import stat
import threading
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import Gauge

from contract.manifest import is_valid_model_name
from service.batching import MicroBatcher
from service.errors import ApiError
from service.metrics import MULTIPROCESS, Metrics
from service.registry import ModelVersion, Registry, check_required_cuda, discover
from service.render_pool import RenderPool
from service.settings import Settings
from service.supervisor import remove_if_last

log = logging.getLogger(__name__)
access_log = logging.getLogger("service.access")
_MANAGERS: weakref.WeakSet[ModelManager] = weakref.WeakSet()
WATCH_SETTLE_S = 1.0  # the second look after a file-change reload
WATCH_FOLDER_POLL_S = 1.0  # how often the watch checks that the models folder is the same one
RELOAD_POLL_S = 0.25
PARENT_POLL_S = 0.5  # how often a worker checks that dcgan-serve's parent still runs
# a follower that finds a version the leader loaded still incomplete looks again this often,
# this many times: an export or a copy being finished as the signal arrived
SETTLE_POLL_S, SETTLE_TRIES = 0.2, 10
LeaderView = dict[str, str]  # "name/version" -> onnx_sha256 of each version the leader loaded


def begin_shutdown_all() -> None:
    """Every manager of this process stops reporting ready."""
    for manager in list(_MANAGERS):
        manager.begin_shutdown()


def _flip_readiness_on_sigterm() -> None:
    """In a worker process, where uvicorn's own server handles SIGTERM: readiness first."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(sig: int, frame: FrameType | None) -> None:
        begin_shutdown_all()
        if callable(previous):
            previous(sig, frame)

    signal.signal(signal.SIGTERM, handler)


def ready_versions(registry: Registry) -> list[ModelVersion]:
    return [v for vs in registry.models.values() for v in vs.values() if v.status == "ready"]


class ModelManager:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.registry = Registry()
        self.draining = False  # set at SIGTERM: /readyz says 503 while requests finish
        self._reload_lock: asyncio.Lock | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._retired: dict[int, ModelVersion] = {}  # still leased after a reload
        self._tasks: list[asyncio.Task[None]] = []  # file watcher, reload signal
        self._reload_token = ""  # the last reload signal seen or sent
        self._published_info: set[tuple[str, ...]] = set()  # model_info label sets
        self._published_queues: set[tuple[str, ...]] = set()
        self.renders: RenderPool | None = None  # heavy renders of every batcher (create_app)
        self._parent: int | None = None  # dcgan-serve's parent process, in a worker
        _MANAGERS.add(self)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, registry: Registry | None = None) -> None:
        loaded = (
            registry if registry is not None else await asyncio.to_thread(discover, self.settings)
        )
        check_required_cuda(self.settings, loaded)
        self._activate(loaded)
        self.registry = loaded
        self._reload_lock = asyncio.Lock()
        self.metrics.worker_processes.set(1)
        loop = asyncio.get_running_loop()
        if self.settings.watch:
            self._tasks.append(loop.create_task(self._watch()))
            # what changed between the discovery above and the watcher's first look would
            # bring no event: one more look once the watcher runs
            self._tasks.append(loop.create_task(self._look_again(WATCH_SETTLE_S)))
        if self.settings.reload_signal_file is not None:  # one of dcgan-serve's workers
            self._reload_token = self._read_reload_signal()[0]
            self._tasks.append(loop.create_task(self._follow_reload_signal()))
            self._parent = os.getppid()
            self._tasks.append(loop.create_task(_follow_parent(self._parent)))
            _flip_readiness_on_sigterm()

    def begin_shutdown(self) -> None:
        """Called from the SIGTERM handler: only flips a flag, so it is signal-safe."""
        self.draining = True

    async def close(self) -> None:
        """Stop the watcher and every batcher; requests still waiting get 503, never hang."""
        self.draining = True
        for task in self._tasks:
            task.cancel()
        versions = [*ready_versions(self.registry), *self._retired.values()]
        batchers = [v.batcher for v in versions if v.batcher is not None]
        await asyncio.gather(*(b.close() for b in batchers), *self._closing)
        if self.renders is not None:  # renders under way stop at their next step
            self.renders.close()
        if self._parent is not None and os.getppid() != self._parent and MULTIPROCESS:
            # the parent was killed and cannot remove the folder it made: the last worker does
            remove_if_last(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).parent)

    @property
    def ready(self) -> bool:
        return not self.draining and self.registry.ready

    async def reload(
        self, *, tell_workers: bool = True, leader: LeaderView | None = None
    ) -> dict[str, Any]:
        """Rescan the models folder; with several workers, the others follow (``leader``:
        what the worker that reloaded first loaded, see :meth:`_follow_reload_signal`)."""
        assert self._reload_lock is not None, "start() first"
        async with self._reload_lock:
            old = self.registry
            new = await asyncio.to_thread(discover, self.settings, old)
            if leader:
                new = await self._settle(new, old, leader)
            self._activate(new)
            self.registry = new  # one assignment: requests see old or new, never a mix
            kept = {id(v) for vs in new.models.values() for v in vs.values()}
            for version in ready_versions(old):
                if id(version) not in kept:
                    version.retired = True
                    self._retired[id(version)] = version
                    self._close_if_unused(version)
            if tell_workers:
                self._send_reload_signal(new)
            return diff(old, new)

    async def _settle(self, new: Registry, old: Registry, leader: LeaderView) -> Registry:
        """A follower reloads a moment after the leader, and may find a version the leader
        loaded half rewritten by the next copy (an export, ``cp -r``): it looks again for a
        while, then keeps what it had loaded with the leader's checksum, so every worker
        serves what the leader's reload saw, not a 503."""
        for _ in range(SETTLE_TRIES):
            if not behind_leader(new, leader):
                return new
            await asyncio.sleep(SETTLE_POLL_S)
            new = await asyncio.to_thread(discover, self.settings, new)
        for key in behind_leader(new, leader):
            name, version = key.split("/")
            kept = old.models.get(name, {}).get(int(version))
            if kept is not None and kept.status == "ready" and _sha(kept) == leader[key]:
                log.info("%s: keeping the loaded files the other worker loaded", key)
                new.models[name][int(version)] = kept
        return new

    # -- requests -----------------------------------------------------------------------

    def resolve(self, name: str | None, version: int | None) -> ModelVersion:
        """The version a request asked for; 404 naming the available ones, 503 if unusable."""
        registry = self.registry
        name = name or self.default_model()
        versions = registry.models.get(name)
        if not versions:
            details: dict[str, object] = {"available": registry.ready_names()}
            if is_valid_model_name(name):  # a name that could be exported: say how
                details["hint"] = (
                    f"train and export it: dcgan train --preset PRESET --data IMAGE_FOLDER "
                    f"--run-dir runs/{name} && dcgan export runs/{name} "
                    "(then POST /admin/reload); `dcgan presets` lists the presets"
                )
            raise ApiError(404, "model_not_found", f"unknown model {name!r}", details)
        entry = versions.get(version) if version is not None else registry.default_version(name)
        if entry is None:
            raise ApiError(
                404,
                "version_not_found",
                f"model {name!r} has no version {version}",
                {"versions": sorted(versions)},
            )
        if entry.status != "ready":
            raise ApiError(
                503,
                "model_unavailable",
                f"{name} v{entry.version} is unavailable: {entry.reason}",
                {"reason": entry.reason},
                {"Retry-After": "30"},
            )
        return entry

    def default_model(self) -> str:
        configured, registry = self.settings.default_model, self.registry
        if configured in registry.models or not registry.ready_names():
            return configured
        return registry.ready_names()[0]

    @asynccontextmanager
    async def lease(self, entry: ModelVersion) -> AsyncIterator[ModelVersion]:
        """Hold ``entry`` (resolved on this loop, no await since) until the block ends."""
        self.acquire(entry)
        try:
            yield entry
        finally:
            self.release(entry)

    def acquire(self, entry: ModelVersion) -> None:
        """Lease ``entry`` (resolved on this loop, no await since); :meth:`release` ends it.
        The plain-call form of :meth:`lease`, for the hot routes."""
        entry.leases += 1

    def release(self, entry: ModelVersion) -> None:
        entry.leases -= 1
        if entry.retired:
            self._close_if_unused(entry)

    def saturated(self, name: str | None, version: int | None = None) -> int | None:
        """Retry-After seconds when the model's queue is full (checked before the body is read)."""
        try:
            entry = self.resolve(name, version)
        except ApiError:
            return None  # the route answers with the proper error
        batcher = entry.batcher
        return batcher.retry_after_s() if batcher is not None and batcher.full else None

    # -- internals ----------------------------------------------------------------------

    def _activate(self, registry: Registry) -> None:
        """Start batchers for newly loaded versions and publish model_info."""
        settings, metrics = self.settings, self.metrics
        ready = ready_versions(registry)
        info: LabelSets = {(v.name, str(v.version), v.provider) for v in ready}
        queues: LabelSets = {(v.name,) for v in ready} if settings.batching else set()
        publish(metrics.model_info, self._published_info, info, 1)
        publish(metrics.queue_capacity, self._published_queues, queues, settings.queue_size)
        self._published_info, self._published_queues = info, queues
        for v in ready:
            if settings.batching and v.batcher is None:
                v.batcher = MicroBatcher(
                    v.run,
                    v.name,
                    metrics,
                    settings.max_batch_size,
                    settings.max_wait_ms / 1000,
                    settings.queue_size,
                    convert=v.pixels,
                    renders=self.renders.executor if self.renders is not None else None,
                )
                v.batcher.start()

    def _close_if_unused(self, version: ModelVersion) -> None:
        if version.leases:
            return
        self._retired.pop(id(version), None)
        if version.batcher is None:
            return
        batcher, version.batcher = version.batcher, None
        task = asyncio.get_running_loop().create_task(batcher.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        log.info("retired %s v%d closed", version.name, version.version)

    def _read_reload_signal(self) -> tuple[str, LeaderView]:
        """The last signal's token and the leader's view of what it loaded."""
        path = self.settings.reload_signal_file
        try:
            signal_ = json.loads(path.read_text()) if path is not None else {}
            return str(signal_["token"]), {str(k): str(v) for k, v in signal_["ready"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "", {}

    def _send_reload_signal(self, loaded: Registry) -> None:
        path = self.settings.reload_signal_file
        if path is None:
            return
        self._reload_token = uuid.uuid4().hex
        ready = {f"{v.name}/{v.version}": _sha(v) for v in ready_versions(loaded)}
        path.parent.mkdir(parents=True, exist_ok=True)  # deleted by a /tmp cleaner
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(json.dumps({"token": self._reload_token, "ready": ready}))
        staging.replace(path)  # atomic: a reader sees the old signal or the new one

    async def _follow_reload_signal(self) -> None:
        """Reload when another worker did (it wrote a new token to the signal file)."""
        while True:
            await asyncio.sleep(RELOAD_POLL_S)
            token, leader = self._read_reload_signal()
            if token and token != self._reload_token:
                self._reload_token = token
                try:
                    await self.reload(tell_workers=False, leader=leader)
                except Exception:  # keep following: the next signal may succeed
                    log.exception("reload signalled by another worker failed")

    async def _look_again(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        try:
            await self.reload(tell_workers=False)
        except Exception:
            log.exception("reload after start-up failed")

    async def _watch(self) -> None:
        """Reload on file changes under the models folder, and follow the folder itself: a
        watch sits on a folder's inode, so a models folder deleted and recreated, renamed
        away or re-pointed through a symlink (the usual atomic way to publish a new set)
        would otherwise leave the watcher on the old one, silently."""
        root = self.settings.models_dir
        if folder_identity(root) is None:
            root.mkdir(parents=True, exist_ok=True)
        while True:
            identity = folder_identity(root)
            stop = asyncio.Event()
            watcher = asyncio.create_task(self._watch_folder(root, stop)) if identity else None
            while folder_identity(root) == identity and not (watcher and watcher.done()):
                await asyncio.sleep(WATCH_FOLDER_POLL_S)
            stop.set()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher
            now = folder_identity(root)
            if now != identity:
                log.warning(
                    "the models folder %s was %s: reloading, and watching what is there now",
                    root,
                    "removed" if now is None else "replaced (recreated, renamed or re-pointed)",
                )
                access_log.info(json.dumps({"event": "reload", "reason": "models folder replaced"}))
            try:
                await self.reload(tell_workers=False)
            except Exception:
                log.exception("reload after the models folder changed failed")

    async def _watch_folder(self, root: Path, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        # exports are renamed into place, so one change set means a whole new version
        async for changes in awatch(root, debounce=500, stop_event=stop):
            access_log.info(json.dumps({"event": "reload", "changes": len(changes)}))
            try:
                await self.reload(tell_workers=False)  # every worker watches for itself
                # A folder created in this change set (a new model's first version) can be
                # filled before the watcher has added a watch on it, and those events never
                # come: look once more after a moment (unchanged versions are kept as they are).
                await asyncio.sleep(WATCH_SETTLE_S)
                await self.reload(tell_workers=False)
            except Exception:  # a bad reload must not stop the watcher
                log.exception("reload after file change failed")


def _sha(version: ModelVersion) -> str:
    return version.manifest.onnx_sha256 if version.manifest is not None else ""


def behind_leader(registry: Registry, leader: LeaderView) -> list[str]:
    """The versions the leader loaded that ``registry`` does not hold ready, same bytes."""
    behind = []
    for key, sha in leader.items():
        name, version = key.split("/")
        entry = registry.models.get(name, {}).get(int(version))
        if entry is None or entry.status != "ready" or _sha(entry) != sha:
            behind.append(key)
    return behind


async def _follow_parent(parent: int) -> None:
    """A worker of dcgan-serve stops (gracefully, as at SIGTERM) once its parent is gone: a
    parent killed with SIGKILL would otherwise leave workers serving the port for ever, and
    the restarted service could not bind it."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_POLL_S)
    log.warning("dcgan-serve's parent process %d is gone: this worker stops", parent)
    os.kill(os.getpid(), signal.SIGTERM)


def folder_identity(path: Path) -> tuple[str, int, int] | None:
    """What a watch is tied to: the folder's real path and inode; None when it is missing."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return (real, st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


LabelSets = set[tuple[str, ...]]


def publish(gauge: Gauge, before: LabelSets, now: LabelSets, value: float) -> None:
    """Set ``now``'s series to ``value``; drop the series of ``before`` that are gone.

    In multiprocess mode prometheus_client cannot remove a series: it is set to 0 instead.
    """
    for labels in before - now:
        if MULTIPROCESS:
            gauge.labels(*labels).set(0)
        else:
            gauge.remove(*labels)
    for labels in now:
        gauge.labels(*labels).set(value)


def diff(old: Registry, new: Registry) -> dict[str, Any]:
    """What a reload changed: added, removed, reloaded (new weights) and failed versions."""

    def keys(reg: Registry) -> dict[tuple[str, int], ModelVersion]:
        return {(n, v): e for n, vs in reg.models.items() for v, e in vs.items()}

    before, after = keys(old), keys(new)
    return {
        "added": sorted(f"{n}/{v}" for (n, v) in after.keys() - before.keys()),
        "removed": sorted(f"{n}/{v}" for (n, v) in before.keys() - after.keys()),
        "reloaded": sorted(
            f"{n}/{v}"
            for (n, v), e in after.items()
            if (n, v) in before and before[(n, v)] is not e and e.status == "ready"
        ),
        "failed": [
            {"model": e.name, "version": e.version, "reason": e.reason}
            for e in after.values()
            if e.status != "ready"
        ],
    }
