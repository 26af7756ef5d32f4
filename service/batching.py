"""Micro-batching: concurrent requests for one model version become one onnxruntime run.

A request's latents wait in a bounded queue. A worker task takes the first waiting request,
adds every request already queued (they pile up while the previous batch runs) up to
``max_batch`` images, optionally waits up to ``max_wait`` for more, and runs the batch in a
thread (onnxruntime releases the GIL). A request whose caller went away (its future was
cancelled, or its client disconnected) is dropped before its batch runs. A full queue
refuses new work at once (the route answers 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from service.metrics import Metrics

RunFn = Callable[[np.ndarray], np.ndarray]
DisconnectCheck = Callable[[], Awaitable[bool]]


class Overloaded(Exception):
    """The queue is full."""


@dataclass
class _Item:
    latents: np.ndarray
    future: asyncio.Future[np.ndarray]
    enqueued: float
    disconnected: DisconnectCheck | None = None


@dataclass
class MicroBatcher:
    run: RunFn
    model: str
    metrics: Metrics
    max_batch: int = 32
    max_wait_s: float = 0.0
    queue_size: int = 256
    _queue: asyncio.Queue[_Item] = field(init=False)
    _carry: _Item | None = field(default=None, init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _busy: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.queue_size)

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def drain_and_close(self, timeout_s: float = 30.0) -> None:
        """Let queued and running requests finish, then stop (used after a reload)."""
        deadline = time.perf_counter() + timeout_s
        while (self._queue.qsize() or self._carry or self._busy) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        await self.close()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(
        self, latents: np.ndarray, disconnected: DisconnectCheck | None = None
    ) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Item(latents, future, time.perf_counter(), disconnected))
        except asyncio.QueueFull:
            raise Overloaded from None
        self.metrics.queue_depth.labels(self.model).set(self._queue.qsize())
        return await future

    async def _next_batch(self) -> list[_Item]:
        first = self._carry or await self._queue.get()
        self._carry = None
        items, size = [first], len(first.latents)
        deadline = time.perf_counter() + self.max_wait_s
        while size < self.max_batch:
            # take what queued up while the previous batch ran; wait only if max_wait > 0
            if self._queue.empty():
                timeout = deadline - time.perf_counter()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if size + len(item.latents) > self.max_batch:
                self._carry = item  # starts the next batch
                break
            items.append(item)
            size += len(item.latents)
        return items

    async def _live(self, items: list[_Item]) -> list[_Item]:
        live = []
        for item in items:
            if item.future.done():  # cancelled by its caller
                continue
            if item.disconnected is not None and await item.disconnected():
                item.future.cancel()
                continue
            live.append(item)
        return live

    async def _loop(self) -> None:
        while True:
            self._busy = False
            batch = await self._next_batch()
            self._busy = True
            items = await self._live(batch)
            self.metrics.queue_depth.labels(self.model).set(self._queue.qsize())
            if not items:
                continue
            now = time.perf_counter()
            for item in items:
                self.metrics.queue_wait.labels(self.model).observe(now - item.enqueued)
            try:
                outputs = await asyncio.to_thread(self._run_batch, [i.latents for i in items])
            except Exception as exc:  # a failed run fails its requests, not the worker
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, out in zip(items, outputs, strict=True):
                if not item.future.done():
                    item.future.set_result(out)

    def _run_batch(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        latents = np.concatenate(parts) if len(parts) > 1 else parts[0]
        # one oversized request runs alone, in chunks of max_batch
        chunks = []
        for start in range(0, len(latents), self.max_batch):
            chunk = latents[start : start + self.max_batch]
            t0 = time.perf_counter()
            chunks.append(self.run(chunk))
            self.metrics.inference_duration.labels(self.model).observe(time.perf_counter() - t0)
            self.metrics.batch_size.labels(self.model).observe(len(chunk))
        images = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        bounds = np.cumsum([len(p) for p in parts])[:-1]
        return np.split(images, bounds)
