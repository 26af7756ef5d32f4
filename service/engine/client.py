"""The worker's side of the shared engine.

- :class:`EngineLink`: the control connection, on the worker's event loop. It receives the
  engine's registry (at connect and after every reload, whoever asked), asks for reloads,
  tells the engine which versions this worker still holds, and notices the engine going
  away (then reconnects, polling its socket, and takes the new engine's registry).
- :class:`RemoteVersion`: how a worker's batcher runs one version: it borrows a data
  channel (a socket and a shared-memory segment of ``rows`` latents and images), writes the
  batch's latents, sends one request and blocks its thread (not the loop) on one reply;
  then it copies the pixels out, so the segment is free for the next batch at once.

Every transport failure is :class:`EngineUnavailable`, which the API answers with a JSON
503 and Retry-After; a failed run inside the engine is :class:`EngineRunError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from service.engine.wire import (
    LENGTH,
    MAX_FRAME,
    REPLY,
    REQUEST,
    Layout,
    ProtocolError,
    Segment,
    recv_exact,
    recv_json,
    send_json,
    sockaddr,
)

log = logging.getLogger("service.engine")
CONNECT_POLL_S = 0.1


class EngineUnavailable(ConnectionError):
    """The engine is not running or did not answer: the request gets a 503."""


class EngineRunError(RuntimeError):
    """onnxruntime failed inside the engine for this batch."""


class Channel:
    """One data channel: blocking, used by one thread at a time."""

    def __init__(self, address: str, handle: str, layout: Layout, timeout_s: float) -> None:
        self.layout = layout
        self.segment = Segment.create(layout.size)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._seq = itertools.count()
        try:
            self.sock.settimeout(timeout_s)
            self.sock.connect(sockaddr(address))
            send_json(
                self.sock,
                {
                    "op": "channel",
                    "handle": handle,
                    "rows": layout.rows,
                    "segment": str(self.segment.path),
                },
            )
            answer = recv_json(self.sock)
        except (OSError, ValueError) as exc:
            self.close()
            raise EngineUnavailable(f"the inference engine is not reachable: {exc}") from None
        finally:
            self.segment.unlink()  # mapped by both sides now (or refused): nothing to leave
        if answer["op"] != "ok":
            self.close()
            raise EngineUnavailable(str(answer.get("message", "the engine refused the channel")))

    def run(self, latents: np.ndarray) -> np.ndarray:
        """[n, nz] float32 latents (n <= rows) -> [n, H, W, C] uint8 pixels."""
        n = len(latents)
        self.layout.latents(self.segment.buf, n)[...] = latents
        try:
            self.sock.sendall(REQUEST.pack(n, next(self._seq) & 0xFFFFFFFF))
            rows, error_length = REPLY.unpack(recv_exact(self.sock, REPLY.size))
            error = recv_exact(self.sock, error_length).decode() if error_length else ""
        except TimeoutError:
            raise EngineUnavailable("the inference engine did not answer in time") from None
        except OSError as exc:
            raise EngineUnavailable(f"the inference engine went away: {exc}") from None
        if error:
            raise EngineRunError(error)
        if rows != n:
            raise EngineUnavailable(f"the engine answered {rows} rows for {n}")
        return np.array(self.layout.pixels(self.segment.buf, n))  # the one read

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.segment.close()


class RemoteVersion:
    """A version served by the engine: a pool of data channels, one per concurrent batch
    (a batcher runs one batch at a time; with batching off, one per request thread)."""

    def __init__(self, address: str, handle: str, layout: Layout, timeout_s: float) -> None:
        self.address, self.handle, self.layout = address, handle, layout
        self.timeout_s = timeout_s
        self._idle: list[Channel] = []
        self._lock = threading.Lock()
        self._closed = False

    def _take(self) -> Channel:
        with self._lock:
            if self._closed:
                raise EngineUnavailable(f"{self.handle} was replaced")
            if self._idle:
                return self._idle.pop()
        return Channel(self.address, self.handle, self.layout, self.timeout_s)

    def _give(self, channel: Channel) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(channel)
                return
        channel.close()

    def run(self, latents: np.ndarray) -> np.ndarray:
        rows = self.layout.rows
        parts = []
        for start in range(0, len(latents), rows):
            channel = self._take()
            try:
                parts.append(channel.run(latents[start : start + rows]))
            except EngineUnavailable:
                channel.close()
                raise
            except BaseException:
                self._give(channel)
                raise
            self._give(channel)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for channel in idle:
            channel.close()


Snapshot = dict[str, Any]  # a "registry" frame: {"versions": [...], "generation", "pid"}


class EngineLink:
    """The control connection (see the module docstring)."""

    def __init__(
        self,
        address: str,
        on_registry: Callable[[Snapshot], None],
        on_down: Callable[[str], None],
    ) -> None:
        self.address = address
        self.on_registry, self.on_down = on_registry, on_down
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reloads: deque[asyncio.Future[dict[str, Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.generation = 0

    async def connect(self, timeout_s: float | None) -> Snapshot:
        """Connect (waiting for the engine's socket while it starts) -> its registry."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            try:
                # connected by hand: uvloop refuses abstract names in open_unix_connection
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await loop.sock_connect(sock, sockaddr(self.address))
                except BaseException:
                    sock.close()
                    raise
                reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_FRAME)
                self._reader, self._writer = reader, writer
                self._send({"op": "control", "pid": os.getpid()})
                first = await self._read()
                if first["op"] != "registry":
                    raise ProtocolError(f"expected the registry, got {first['op']!r}")
                self.generation = int(first.get("generation", 0))
                return first
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if deadline is not None and loop.time() > deadline:
                    raise EngineUnavailable(
                        f"the inference engine did not answer on {self.address}: {exc}"
                    ) from None
                await asyncio.sleep(CONNECT_POLL_S)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
        self._fail_reloads("the server is shutting down")

    async def _read(self) -> dict[str, Any]:
        assert self._reader is not None
        (size,) = LENGTH.unpack(await self._reader.readexactly(LENGTH.size))
        if size > MAX_FRAME:
            raise ProtocolError(f"a frame of {size} bytes exceeds {MAX_FRAME}")
        message = json.loads(await self._reader.readexactly(size))
        if not isinstance(message, dict) or not isinstance(message.get("op"), str):
            raise ProtocolError("a frame must be a JSON object with an 'op'")
        return message

    def _send(self, message: dict[str, Any]) -> None:
        assert self._writer is not None
        data = json.dumps(message).encode()
        self._writer.write(LENGTH.pack(len(data)) + data)

    def _fail_reloads(self, reason: str) -> None:
        while self._reloads:
            future = self._reloads.popleft()
            if not future.done():
                future.set_exception(EngineUnavailable(reason))

    async def _follow(self) -> None:
        while True:
            try:
                frame = await self._read()
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                reason = "the inference engine stopped; waiting for it to restart"
                log.error("%s (%s)", reason, exc or type(exc).__name__)
                self._fail_reloads(reason)
                self.on_down(reason)
                frame = await self.connect(None)
                log.info("connected to inference engine %d", self.generation)
            if frame["op"] == "registry":
                self.on_registry(frame)
            elif frame["op"] == "reloaded" and self._reloads:
                future = self._reloads.popleft()
                if not future.done():
                    future.set_result(dict(frame.get("diff", {})))

    async def reload(self) -> dict[str, Any]:
        """Ask the engine to rescan the models folder -> what changed. The new registry
        arrives (``on_registry``) before the answer."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._reloads.append(future)
        try:
            self._send({"op": "reload"})
        except (OSError, AssertionError, RuntimeError):
            self._reloads.remove(future)
            raise EngineUnavailable("the inference engine is not running") from None
        return await future

    def holding(self, handles: list[str]) -> None:
        """The versions this worker may still run (ready ones, and retired ones in use)."""
        with contextlib.suppress(OSError, AssertionError, RuntimeError):
            self._send({"op": "holding", "handles": sorted(handles)})
