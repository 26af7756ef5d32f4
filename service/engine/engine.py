"""The engine process: every onnxruntime session of one device, fed by every HTTP worker.

One thread runs a ``selectors`` loop over the engine's Unix socket. Each turn it reads every
batch request that has arrived (from any worker, for any version), then runs them grouped
by version: the requests for one version that arrived together become one onnxruntime run
of up to ``DCGAN_MAX_BATCH_SIZE`` rows (the micro-batcher's policy, "take what is queued",
now across workers; a worker sends its own batch, so N workers fill a run N times as fast).
The run's float output becomes uint8 pixels in one pass, written straight into each
request's shared-memory segment, and each request gets one 8-byte reply.

A second thread loads models (at start, on a reload request, when the watched folder
changes) so a reload never stalls the batches; the loop swaps the registry in when the load
is complete, pushes it to every worker, and keeps a replaced version's session until no
worker holds it and no channel is open on it.

Liveness: the loop writes a heartbeat (``Heartbeat``) each turn and the start time of the
batch it is running; the parent's watchdog (``service.engine.supervise``) kills the engine
when either is too old. The engine stops when its standard input closes (the parent closed
it, or died), never on SIGINT/SIGTERM, so a terminal's Ctrl-C or a group-wide SIGTERM
cannot take it away from workers that are still finishing their requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import selectors
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import REGISTRY

from contract.exports import CUDA
from service.core.metrics import EngineMetrics, build_engine_metrics
from service.core.multiproc import inherited_shared_folder, remove_if_last
from service.core.settings import Settings
from service.engine.wire import (
    REPLY,
    REQUEST,
    STOP,
    FrameReader,
    Layout,
    ProtocolError,
    Segment,
    recv_json,
    same_user,
    segment_folder,
    send_json,
    sockaddr,
    socket_file,
)
from service.inference.registry import (
    ModelVersion,
    ProviderError,
    Registry,
    check_required_cuda,
    discover,
    ready_versions,
    registry_diff,
)

log = logging.getLogger("service.engine")
TICK_S = 0.25  # the loop wakes at least this often, so an idle engine still beats
FIRST_FRAME_TIMEOUT_S = 2.0
EXIT_PROVIDER = 2  # DCGAN_REQUIRE_CUDA without CUDA: a user error, not worth a restart
# how many engines the parent has started, this one included (engine.supervise sets it)
GENERATION_ENV = "DCGAN_ENGINE_GENERATION"


class Heartbeat:
    """Three float64 in a small shared mapping: last beat, start of the running batch (0:
    idle) and state (0 loading, 1 serving), all on CLOCK_MONOTONIC, which every process of
    the machine shares. The parent makes it (an anonymous memfd, so no file can be deleted
    under it) and passes its descriptor to the engine, which writes it; the parent's
    watchdog reads it."""

    _FMT = struct.Struct("<ddd")

    def __init__(self, fd: int) -> None:
        import mmap

        self.fd = fd
        self._map = mmap.mmap(fd, self._FMT.size)

    @classmethod
    def create(cls) -> Heartbeat:
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("dcgan-engine-heartbeat")
        else:  # not Linux: an unlinked temporary file does the same
            fd, name = tempfile.mkstemp(prefix="dcgan-engine-")
            os.unlink(name)
        os.ftruncate(fd, cls._FMT.size)
        beat = cls(fd)
        beat.write(time.monotonic(), 0.0, 0.0)
        return beat

    def write(self, beat: float, batch: float, state: float) -> None:
        self._FMT.pack_into(self._map, 0, beat, batch, state)

    def read(self) -> tuple[float, float, float]:
        beat, batch, state = self._FMT.unpack_from(self._map, 0)
        return beat, batch, state

    def close(self) -> None:
        self._map.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def snapshot(versions: list[tuple[str, ModelVersion]]) -> list[dict[str, Any]]:
    """The registry as workers get it: every version, its handle, manifest and status."""
    return [
        {
            "handle": handle,
            "name": v.name,
            "version": v.version,
            "path": str(v.path),
            "status": v.status,
            "reason": v.reason,
            "provider": v.provider,
            "files": list(v.files),
            "manifest": v.manifest.model_dump(mode="json") if v.manifest is not None else None,
        }
        for handle, v in versions
    ]


@dataclass
class Channel:
    sock: socket.socket
    handle: str
    segment: Segment
    layout: Layout
    pending: bytearray = field(default_factory=bytearray)
    busy: bool = False  # a runner is using its segment: close it only once it is done
    closing: bool = False  # its worker went away while it was busy
    broken: bool = False  # a reply could not be sent


@dataclass
class Control:
    sock: socket.socket
    reader: FrameReader = field(default_factory=FrameReader)
    holds: set[str] = field(default_factory=set)
    pid: int = 0


@dataclass
class Request:
    channel: Channel
    rows: int


class Engine:
    def __init__(self, settings: Settings, address: str, heartbeat: Heartbeat) -> None:
        self.settings, self.address, self.heartbeat = settings, address, heartbeat
        self.generation = int(os.environ.get(GENERATION_ENV, "1"))
        self.metrics: EngineMetrics = build_engine_metrics(REGISTRY)
        self.metrics.generation.set(self.generation)
        self.registry = Registry()
        self.handles: dict[str, ModelVersion] = {}  # every version still loaded
        self._handle_of: dict[int, str] = {}  # id(version) -> handle
        self._counter = 0
        self.controls: dict[int, Control] = {}
        self.channels: dict[int, Channel] = {}
        self.sel = selectors.DefaultSelector()
        self._loads: queue.Queue[int | None] = queue.Queue()  # reload requests: control fd
        self._loaded: queue.Queue[tuple[Registry, list[int]]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._state = 0.0
        self.runners = 1
        self._pool: ThreadPoolExecutor | None = None
        self._busy = 0  # runners at work (main thread only)
        self._pending: list[Request] = []  # waiting for a runner (main thread only)
        self._finished: queue.SimpleQueue[list[Request]] = queue.SimpleQueue()
        self._running: dict[int, float] = {}  # runner thread -> start of its batch
        self._stopping = False
        self._told_to_stop = False  # the parent said STOP before closing stdin

    # -- registry -------------------------------------------------------------------------

    def _handle(self, version: ModelVersion) -> str:
        key = id(version)
        if key not in self._handle_of:
            self._counter += 1
            handle = f"{version.name}/{version.version}/{self.generation}.{self._counter}"
            self._handle_of[key] = handle
            self.handles[handle] = version
        return self._handle_of[key]

    def _versions(self) -> list[tuple[str, ModelVersion]]:
        return [
            (self._handle(v), v)
            for _, vs in sorted(self.registry.models.items())
            for _, v in sorted(vs.items())
        ]

    def adopt(self, registry: Registry) -> dict[str, Any]:
        old, self.registry = self.registry, registry
        self.metrics.models_loaded.set(len(ready_versions(registry)))
        current = {h for h, _ in self._versions()}
        for control in self.controls.values():
            control.holds |= current  # until the worker says what it still holds
        self._collect()
        return registry_diff(old, registry)

    def _collect(self) -> None:
        """Drop the sessions of replaced versions nobody holds and no channel uses."""
        live = {h for h, _ in self._versions()}
        held = {h for c in self.controls.values() for h in c.holds}
        used = {c.handle for c in self.channels.values()}
        for handle in list(self.handles):
            if handle not in live and handle not in held and handle not in used:
                version = self.handles.pop(handle)
                self._handle_of.pop(id(version), None)
                version.session = None
                log.info("engine: released %s v%d", version.name, version.version)

    def _loader(self) -> None:
        """The loading thread: one discovery at a time, each answered through the wake pipe."""
        while True:
            asker = self._loads.get()
            if asker is None:
                return
            askers = [asker]
            with contextlib.suppress(queue.Empty):  # reloads asked meanwhile share this one
                while (more := self._loads.get_nowait()) is not None:
                    askers.append(more)
            try:
                new = discover(self.settings, self.registry)
            except Exception:
                log.exception("engine: reload failed; keeping the loaded models")
                new = self.registry
            self._loaded.put((new, [a for a in askers if a >= 0]))
            os.write(self._wake_w, b"x")

    def _watch(self) -> None:
        from service.inference.model_watch import WATCH_SETTLE_S, watch_models_folder

        async def reload() -> None:
            self._loads.put(-1)

        async def watch() -> None:
            task = asyncio.create_task(watch_models_folder(self.settings.models_dir, reload))
            await asyncio.sleep(WATCH_SETTLE_S)
            await reload()  # what changed before the watcher was up
            await task

        asyncio.run(watch())

    # -- connections ----------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        try:
            if not same_user(sock):  # an abstract socket has no file permissions
                raise ProtocolError("a connection from another user")
            sock.settimeout(FIRST_FRAME_TIMEOUT_S)
            first = recv_json(sock)
            if first["op"] == "control":
                self._open_control(sock, first)
            elif first["op"] == "channel":
                self._open_channel(sock, first)
            else:
                raise ProtocolError(f"unknown first frame {first['op']!r}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("engine: refused a connection: %s", exc)
            with contextlib.suppress(OSError):
                send_json(sock, {"op": "error", "message": str(exc)})
            sock.close()

    def _open_control(self, sock: socket.socket, first: dict[str, Any]) -> None:
        control = Control(sock, pid=int(first.get("pid", 0)))
        versions = self._versions()
        control.holds = {h for h, _ in versions}
        send_json(sock, {"op": "registry", "versions": snapshot(versions), **self._about()})
        sock.setblocking(False)
        self.controls[sock.fileno()] = control
        self.sel.register(sock, selectors.EVENT_READ, self._on_control)
        self.metrics.workers.set(len(self.controls))
        log.info("engine: worker %d connected", control.pid)

    def _about(self) -> dict[str, Any]:
        return {"generation": self.generation, "pid": os.getpid()}

    def _open_channel(self, sock: socket.socket, first: dict[str, Any]) -> None:
        handle, rows = str(first["handle"]), int(first["rows"])
        version = self.handles.get(handle)
        if version is None or version.status != "ready" or version.manifest is None:
            raise ProtocolError(f"no loaded version {handle}: it was replaced; reconnect")
        m = version.manifest
        if not 1 <= rows <= 65536:
            raise ProtocolError(f"rows must be 1..65536, got {rows}")
        layout = Layout(rows, m.nz, (m.image_size, m.image_size, m.channels))
        path = Path(str(first["segment"]))
        if path.parent != segment_folder() or not path.name.startswith("dcgan-"):
            raise ProtocolError(f"a segment must be a dcgan-* file in {segment_folder()}")
        segment = Segment(path, layout.size, create=False)
        channel = Channel(sock, handle, segment, layout)
        send_json(sock, {"op": "ok"})
        sock.setblocking(False)
        self.channels[sock.fileno()] = channel
        self.sel.register(sock, selectors.EVENT_READ, self._on_channel)

    def _close_channel(self, channel: Channel) -> None:
        fd = channel.sock.fileno()
        if fd < 0:
            return  # closed already
        if fd in self.channels and not channel.closing:
            self.sel.unregister(channel.sock)
        self.channels.pop(fd, None)
        channel.sock.close()
        channel.segment.close()
        self._collect()

    def _close_control(self, control: Control) -> None:
        fd = control.sock.fileno()
        self.sel.unregister(control.sock)
        self.controls.pop(fd, None)
        control.sock.close()
        self.metrics.workers.set(len(self.controls))
        log.info("engine: worker %d disconnected", control.pid)
        self._collect()

    def _on_control(self, sock: socket.socket, _requests: list[Request]) -> None:
        control = self.controls[sock.fileno()]
        try:
            data = sock.recv(65536)
            if not data:
                raise ProtocolError("closed")
            frames = control.reader.feed(data)
        except (OSError, ValueError):
            self._close_control(control)
            return
        for frame in frames:
            if frame["op"] == "reload":
                self._loads.put(sock.fileno())
            elif frame["op"] == "holding":
                control.holds = {str(h) for h in frame.get("handles", [])}
                self._collect()

    def _on_channel(self, sock: socket.socket, requests: list[Request]) -> None:
        channel = self.channels[sock.fileno()]
        try:
            data = sock.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if channel.busy:  # a runner is writing its pixels: close it when done
                self.sel.unregister(sock)
                channel.closing = True
            else:
                self._close_channel(channel)
            return
        channel.pending += data
        while len(channel.pending) >= REQUEST.size:
            rows, _seq = REQUEST.unpack_from(channel.pending)
            del channel.pending[: REQUEST.size]
            if channel.busy or not 1 <= rows <= channel.layout.rows:
                # one batch at a time per channel: a second would overwrite the first's rows
                if not self._reply(
                    channel, rows, f"rows must be 1..{channel.layout.rows}, one batch at a time"
                ):
                    self._close_channel(channel)
                    return
                continue
            requests.append(Request(channel, rows))

    def _on_wake(self, _sock: Any, _requests: list[Request]) -> None:
        os.read(self._wake_r, 4096)
        self._on_finished()
        while True:
            try:
                new, askers = self._loaded.get_nowait()
            except queue.Empty:
                return
            diff = self.adopt(new)
            message = {"op": "registry", "versions": snapshot(self._versions()), **self._about()}
            for control in list(self.controls.values()):
                self._send(control, message)
            for fd in askers:
                if fd in self.controls:
                    self._send(self.controls[fd], {"op": "reloaded", "diff": diff})

    def _send(self, control: Control, message: dict[str, Any]) -> None:
        try:
            control.sock.setblocking(True)
            send_json(control.sock, message)
            control.sock.setblocking(False)
        except OSError:
            self._close_control(control)

    def _on_stdin(self, _sock: Any, _requests: list[Request]) -> None:
        data = os.read(sys.stdin.fileno(), 4096)
        self._told_to_stop |= STOP in data
        if not data:  # closed: after STOP by a parent that stops, without it by one that died
            self._stopping = True
            self.sel.unregister(sys.stdin.fileno())

    # -- batches --------------------------------------------------------------------------

    def _reply(self, channel: Channel, rows: int, error: str = "") -> bool:
        """One reply; False when the worker cannot be written to (the channel is broken)."""
        text = error.encode()[:65536]
        try:
            channel.sock.sendall(REPLY.pack(rows, len(text)) + text)
        except OSError:  # closed, or not read at all (a full buffer): the worker is gone
            return False
        return True

    def _dispatch(self) -> None:
        """Free runners take the oldest waiting version's requests, up to max_batch rows
        (those that piled up while every runner was busy go together)."""
        limit = self.settings.max_batch_size
        while self._busy < self.runners and self._pending:
            handle = self._pending[0].channel.handle
            run: list[Request] = []
            rest: list[Request] = []
            size = 0
            for request in self._pending:
                if request.channel.handle == handle and (not run or size + request.rows <= limit):
                    run.append(request)
                    size += request.rows
                else:
                    rest.append(request)
            self._pending = rest
            for request in run:
                request.channel.busy = True
            self._busy += 1
            assert self._pool is not None  # serve() made it
            self._pool.submit(self._execute, self.handles.get(handle), run)

    def _execute(self, version: ModelVersion | None, run: list[Request]) -> None:
        """In a runner thread: one onnxruntime run for ``run``, pixels into each segment,
        one reply each."""
        me = threading.get_ident()
        try:
            try:
                if version is None or version.session is None:
                    raise RuntimeError("the version was unloaded")
                latents = [r.channel.layout.latents(r.channel.segment.buf, r.rows) for r in run]
                batch = latents[0] if len(latents) == 1 else np.concatenate(latents)
                self._running[me] = time.monotonic()
                start = time.perf_counter()
                images = version.pixels(version.run(batch))
                elapsed = time.perf_counter() - start
            except Exception as exc:  # a failed run fails its requests, not the engine
                error = f"{type(exc).__name__}: {exc}"
                for request in run:
                    request.channel.busy = False
                    if not self._reply(request.channel, request.rows, error):
                        request.channel.broken = True
                return
            finally:
                self._running.pop(me, None)
            name = version.name
            self.metrics.batch_size.labels(name).observe(len(batch))
            self.metrics.merged.labels(name).observe(len(run))
            self.metrics.inference_duration.labels(name).observe(elapsed)
            self.metrics.images.labels(name).inc(len(batch))
            offset = 0
            for request in run:
                out = request.channel.layout.pixels(request.channel.segment.buf, request.rows)
                np.copyto(out, images[offset : offset + request.rows])
                offset += request.rows
                # free before the reply: the worker's next batch may arrive at once
                request.channel.busy = False
                if not self._reply(request.channel, request.rows):
                    request.channel.broken = True
        finally:
            self._finished.put(run)
            os.write(self._wake_w, b"r")

    def _on_finished(self) -> None:
        while True:
            try:
                run = self._finished.get_nowait()
            except queue.Empty:
                return
            self._busy -= 1
            for request in run:
                channel = request.channel
                if channel.broken or channel.closing:
                    self._close_channel(channel)

    # -- the loop -------------------------------------------------------------------------

    def serve(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = socket_file(self.address)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        listener.bind(sockaddr(self.address))
        if path is not None:
            os.chmod(path, 0o600)
        listener.listen(1024)
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, lambda s, r: self._accept(s))
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        with contextlib.suppress(ValueError, OSError):
            self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, self._on_stdin)
        threading.Thread(target=self._loader, name="engine-loader", daemon=True).start()
        if self.settings.watch:
            threading.Thread(target=self._watch, name="engine-watch", daemon=True).start()
        self.runners = runner_count(self.settings, self.registry)
        self._pool = ThreadPoolExecutor(self.runners, thread_name_prefix="engine-run")
        self._state = 1.0
        served = [f"{v.name} v{v.version} ({v.provider})" for v in ready_versions(self.registry)]
        log.info(
            "engine %d (pid %d) serving %s on %s with %d runner(s) x %s onnxruntime thread(s)",
            self.generation,
            os.getpid(),
            ", ".join(served) or "no models",
            self.address,
            self.runners,
            self.settings.intra_op_threads or "default",
        )
        while not self._stopping:
            running = list(self._running.values())
            self.heartbeat.write(time.monotonic(), min(running, default=0.0), self._state)
            requests: list[Request] = []
            try:
                events = self.sel.select(TICK_S)
            except InterruptedError:
                continue
            for key, _ in events:
                key.data(key.fileobj, requests)
            self._pending += requests
            self._dispatch()
        log.info("engine %d stopping", self.generation)
        self._leave_shared_folder()
        self._loads.put(None)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        listener.close()
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _leave_shared_folder(self) -> None:
        """A parent killed with SIGKILL cannot remove the shared folder; the last of its
        processes to stop does (service.core.multiproc.remove_if_last), the engine included.
        (Not getppid(): a dying parent's stdin closes before the engine is re-parented.)"""
        folder = inherited_shared_folder()
        if folder and not self._told_to_stop:
            remove_if_last(folder)


def runner_count(settings: Settings, registry: Registry) -> int:
    """DCGAN_ENGINE_RUNNERS, or: 1 on a GPU (one run at a time keeps it fed, and runs on one
    stream do not overlap anyway), one per core on a CPU (each run single-threaded, as the
    in-process workers' are: small convolutions scale better across runs than within)."""
    if settings.engine_runners:
        return settings.engine_runners
    if any(v.provider == CUDA for v in ready_versions(registry)):
        return 1
    return os.cpu_count() or 1


def engine_settings(settings: Settings) -> Settings:
    """On a CPU with one runner per core, each run gets one onnxruntime thread (unless
    DCGAN_INTRA_OP_THREADS says otherwise)."""
    if settings.intra_op_threads or settings.engine_runners == 1:
        return settings
    runners = settings.engine_runners or os.cpu_count() or 1
    return settings.model_copy(
        update={"intra_op_threads": max(1, (os.cpu_count() or 1) // runners)}
    )


def main() -> None:
    """``python -m service.engine ADDRESS HEARTBEAT_FD``: started by dcgan-serve's parent."""
    from service.core.logs import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = engine_settings(Settings())
    configure_logging(settings)
    address, heartbeat = sys.argv[1], Heartbeat(int(sys.argv[2]))
    engine = Engine(settings, address, heartbeat)
    try:
        registry = discover(settings)
        check_required_cuda(settings, registry)
    except ProviderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(EXIT_PROVIDER)
    engine.adopt(registry)
    try:
        engine.serve()
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.ENAMETOOLONG):
            print(f"error: the engine cannot listen on {address}: {exc}", file=sys.stderr)
            sys.exit(EXIT_PROVIDER)
        raise
