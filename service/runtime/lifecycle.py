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
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from service.core.metrics import LabelSets, Metrics, publish
from service.core.multiproc import inherited_shared_folder, remove_if_last
from service.core.settings import Settings
from service.engine.client import EngineLink, Snapshot
from service.engine.remote import registry_from_snapshot
from service.inference.batching import MicroBatcher
from service.inference.model_watch import WATCH_SETTLE_S, watch_models_folder
from service.inference.registry import (
    ModelVersion,
    Registry,
    UnknownModel,
    UnknownVersion,
    VersionUnavailable,
    check_required_cuda,
    discover,
    ready_versions,
    registry_diff,
)
from service.inference.render_pool import RenderPool
from service.runtime.workers import (
    RELOAD_POLL_S,
    LeaderView,
    ReloadSignal,
    behind_leader,
    drain_on_sigterm,
    follow_parent,
    onnx_sha,
)

log = logging.getLogger("service.lifecycle")  # not __name__: the name log lines always had
# a follower that finds a version the leader loaded still incomplete looks again this often,
# this many times: an export or a copy being finished as the signal arrived
SETTLE_POLL_S, SETTLE_TRIES = 0.2, 10


class ModelManager:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.registry = Registry()
        self.draining = False  # set at SIGTERM: /readyz says 503 while requests finish
        self._reload_lock: asyncio.Lock | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._retired: dict[int, ModelVersion] = {}  # still leased after a reload
        self._tasks: list[asyncio.Task[None]] = []  # file watcher, reload signal
        self._signal: ReloadSignal | None = None  # with several workers: their reloads
        self._published_info: LabelSets = set()  # model_info label sets
        self._published_queues: LabelSets = set()
        self.renders: RenderPool | None = None  # heavy renders of every batcher (create_app)
        self._parent: int | None = None  # dcgan-serve's parent process, in a worker
        # DCGAN_ENGINE=shared: the engine runs every version; None: this process does
        self.engine: EngineLink | None = None
        self.engine_problem: str | None = None  # why the engine cannot serve now (/readyz)
        self._held: list[str] = []  # the engine handles last reported as held

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, registry: Registry | None = None) -> None:
        settings = self.settings
        if settings.engine_socket is not None:  # a worker of the shared engine
            self.engine = EngineLink(settings.engine_socket, self._adopt, self._engine_down)
            first = await self.engine.connect(settings.engine_start_timeout_s)
            loaded = registry_from_snapshot(first, None, settings)
        elif registry is not None:
            loaded = registry
        else:
            loaded = await asyncio.to_thread(discover, settings)
        check_required_cuda(settings, loaded)
        self._activate(loaded)
        self.registry = loaded
        self._reload_lock = asyncio.Lock()
        self.metrics.worker_processes.set(1)
        loop = asyncio.get_running_loop()
        if self.engine is not None:
            self.engine.start()
            self._report_held()
        elif self.settings.watch:
            watch = watch_models_folder(self.settings.models_dir, self._reload_quietly)
            self._tasks.append(loop.create_task(watch))
            # what changed between the discovery above and the watcher's first look would
            # bring no event: one more look once the watcher runs
            self._tasks.append(loop.create_task(self._look_again(WATCH_SETTLE_S)))
        if self.settings.reload_signal_file is not None:  # one of dcgan-serve's workers
            if self.engine is None:  # the shared engine tells every worker itself
                self._signal = ReloadSignal(self.settings.reload_signal_file)
                self._tasks.append(loop.create_task(self._follow_reload_signal()))
            self._parent = os.getppid()
            self._tasks.append(loop.create_task(follow_parent(self._parent)))
            drain_on_sigterm(self)

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
        for version in versions:
            if version.remote is not None:
                version.remote.close()
        if self.engine is not None:
            await self.engine.close()
        if self.renders is not None:  # renders under way stop at their next step
            self.renders.close()
        shared = inherited_shared_folder()
        if self._parent is not None and os.getppid() != self._parent and shared is not None:
            # the parent was killed and cannot remove the folder it made: the last worker does
            remove_if_last(shared)

    async def reload(
        self, *, tell_workers: bool = True, leader: LeaderView | None = None
    ) -> dict[str, Any]:
        """Rescan the models folder; with several workers, the others follow (``leader``:
        what the worker that reloaded first loaded, see :meth:`_follow_reload_signal`)."""
        assert self._reload_lock is not None, "start() first"
        if self.engine is not None:  # the engine reloads, and every worker adopts its registry
            async with self._reload_lock:
                return await self.engine.reload()
        async with self._reload_lock:
            old = self.registry
            new = await asyncio.to_thread(discover, self.settings, old)
            if leader:
                new = await self._settle(new, old, leader)
            self._activate(new)
            self.registry = new  # one assignment: requests see old or new, never a mix
            self._retire_dropped(old, new)
            if tell_workers and self._signal is not None:
                self._signal.send(new)
            return registry_diff(old, new)

    def _adopt(self, snapshot: Snapshot) -> None:
        """The engine's registry (after a reload, or from a new engine): swapped in as a
        reload's is; versions with the same handle keep their batchers."""
        old = self.registry
        new = registry_from_snapshot(snapshot, old, self.settings)
        self._activate(new)
        self.registry = new
        self.engine_problem = None
        self._retire_dropped(old, new)
        self._report_held()

    def _retire_dropped(self, old: Registry, new: Registry) -> None:
        """The versions of ``old`` that ``new`` does not keep: closed once their last lease
        is given back."""
        kept = {id(v) for vs in new.models.values() for v in vs.values()}
        for version in ready_versions(old):
            if id(version) not in kept:
                version.retired = True
                self._retired[id(version)] = version
                self._close_if_unused(version)

    def _engine_down(self, reason: str) -> None:
        self.engine_problem = reason

    def _report_held(self) -> None:
        if self.engine is None:
            return
        held = sorted({v.handle for v in [*ready_versions(self.registry), *self._retired.values()]})
        if held != self._held:
            self._held = held
            self.engine.holding(held)

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
            if kept is not None and kept.status == "ready" and onnx_sha(kept) == leader[key]:
                log.info("%s: keeping the loaded files the other worker loaded", key)
                new.models[name][int(version)] = kept
        return new

    # -- requests -----------------------------------------------------------------------

    def resolve(self, name: str | None, version: int | None) -> ModelVersion:
        """The ready version a request asked for (None: the default model, its default
        version); else UnknownModel, UnknownVersion or VersionUnavailable."""
        registry = self.registry
        name = name or self.default_model()
        versions = registry.models.get(name)
        if not versions:
            raise UnknownModel(name, registry.ready_names())
        entry = versions.get(version) if version is not None else registry.default_version(name)
        if entry is None:
            raise UnknownVersion(name, version or 0, sorted(versions))
        if entry.status != "ready":
            raise VersionUnavailable(entry)
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
        except LookupError:
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
        if version.remote is not None:
            version.remote.close()  # its channels: the engine may now unload it
            self._report_held()
        if version.batcher is None:
            return
        batcher, version.batcher = version.batcher, None
        task = asyncio.get_running_loop().create_task(batcher.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        log.info("retired %s v%d closed", version.name, version.version)

    async def _follow_reload_signal(self) -> None:
        """Reload when another worker did (it wrote a new token to the signal file)."""
        assert self._signal is not None
        while True:
            await asyncio.sleep(RELOAD_POLL_S)
            leader = self._signal.new()
            if leader is not None:
                try:
                    await self.reload(tell_workers=False, leader=leader)
                except Exception:  # keep following: the next signal may succeed
                    log.exception("reload signalled by another worker failed")

    async def _reload_quietly(self) -> None:
        """A reload of this worker only (each worker watches the folder for itself)."""
        await self.reload(tell_workers=False)

    async def _look_again(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        try:
            await self.reload(tell_workers=False)
        except Exception:
            log.exception("reload after start-up failed")
