"""Micro-batching: concurrent requests for one model version become one onnxruntime run.

A request is a :class:`Job`: how to make its latents, how many images it wants, and how to
turn its images into a response body. Jobs wait in a bounded queue. A worker task takes the
first waiting job, adds every job already queued (they pile up while the previous batch
runs) up to ``max_batch`` images, optionally waits up to ``max_wait`` for more, and hands
the batch to the batcher's own thread: latents, one onnxruntime run (it releases the GIL),
then the light jobs' rendering, all off the event loop. Heavy rendering (large or many
images) goes to the default thread pool instead, so it never holds up the next batch.

A job whose caller went away (its future was cancelled: the route does that when its
client disconnects) or whose deadline passed is dropped before its batch runs. A full
queue refuses new work at once, with a Retry-After estimated from the queue and the
measured batch time. ``close`` fails every job it has not finished with :class:`Closed`:
no caller ever waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.core import tracing
from service.core.metrics import Metrics
from service.core.tracing import RequestTrace
from service.inference.rendering import Abandoned

RunFn = Callable[[np.ndarray], np.ndarray]
ConvertFn = Callable[[np.ndarray], np.ndarray]  # a whole batch's output -> what jobs get


class Overloaded(Exception):
    """The queue is full; ``retry_after_s`` is when it is likely to have room."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"queue full, retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Closed(Exception):
    """The batcher stopped (shutdown) before this job ran."""


class DeadlineExceeded(Exception):
    """The job's deadline passed while it waited in the queue."""


class ClientDisconnected(Exception):
    """The client closed its connection while the job waited: it was not run."""


@dataclass
class Job:
    """One request's work. ``latents`` and ``finish`` run in a worker thread, never the loop."""

    latents: Callable[[], np.ndarray]
    size: int  # images (rows of latents)
    # its images, converted (see MicroBatcher), and a ``check`` to call between steps -> body
    finish: Callable[..., Any]
    heavy: bool = False  # render in the shared pool, not the batch's thread
    deadline: float | None = None  # time.monotonic() after which the job is dropped
    # set when the request is gone (client left, shutdown): its render stops at the next step
    stop: threading.Event = field(default_factory=threading.Event)
    stage: str = "queued"  # then "running" (in a batch), then "rendering" (heavy, in the pool)
    # the request's trace when tracing is on (service.core.tracing), taken where the job is made
    trace: RequestTrace | None = field(default_factory=tracing.current)

    def checkpoint(self) -> None:
        """Between render steps: raise :class:`Abandoned` once the request is gone."""
        if self.stop.is_set():
            raise Abandoned("the request is gone")

    def render(self, images: np.ndarray) -> Any:
        """``finish`` on this job's images, stoppable at every step it checks."""
        if self.trace is None:
            return self.finish(images, check=self.checkpoint)
        start = tracing.now_ns()
        body = self.finish(images, check=self.checkpoint)
        self.trace.child("encode", start, tracing.now_ns(), {"dcgan.images": len(images)})
        return body


@dataclass
class _Item:
    job: Job
    future: asyncio.Future[Any]
    enqueued: float
    enqueued_ns: int = 0  # wall clock, for the queue-wait span (only when traced)


@dataclass
class _Failed:
    error: Exception


def infer(
    run: RunFn, latents: np.ndarray, max_batch: int, model: str, metrics: Metrics
) -> np.ndarray:
    """Run the generator in chunks of ``max_batch`` (one oversized request runs alone)."""
    chunks = []
    for start in range(0, len(latents), max_batch):
        chunk = latents[start : start + max_batch]
        t0 = time.perf_counter()
        chunks.append(run(chunk))
        metrics.inference_duration.labels(model).observe(time.perf_counter() - t0)
        metrics.batch_size.labels(model).observe(len(chunk))
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def execute(
    job: Job,
    run: RunFn,
    max_batch: int,
    model: str,
    metrics: Metrics,
    convert: ConvertFn | None = None,
) -> Any:
    """A job on its own, start to finish (batching off): call it in a worker thread."""
    start = tracing.now_ns()
    images = infer(run, job.latents(), max_batch, model, metrics)
    if job.trace is not None:
        tracing.record_batch([job.trace], model, len(images), start, tracing.now_ns())
    metrics.images_generated.labels(model).inc(len(images))
    return job.render(convert(images) if convert is not None else images)


@dataclass
class MicroBatcher:
    run: RunFn
    model: str
    metrics: Metrics
    max_batch: int = 32
    max_wait_s: float = 0.0
    queue_size: int = 256
    # applied once to a batch's output before it is split among its jobs (the service turns
    # floats into uint8 pixels here: one NumPy pass a batch instead of one a request)
    convert: ConvertFn | None = None
    # heavy jobs render here (render_pool.RenderPool); None: the loop's default pool
    renders: Executor | None = None
    _queue: asyncio.Queue[_Item] = field(init=False)
    _carry: _Item | None = field(default=None, init=False)
    _inflight: list[_Item] = field(default_factory=list, init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)
    _renders: set[asyncio.Future[Any]] = field(default_factory=set, init=False)
    _executor: ThreadPoolExecutor = field(init=False)
    _queued_images: int = field(default=0, init=False)
    _batch_s: float = field(default=0.0, init=False)  # moving average of one batch's time
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        # this model's series, looked up once (a labels() call costs more than the update)
        self._depth = self.metrics.queue_depth.labels(self.model)
        self._wait = self.metrics.queue_wait.labels(self.model)
        self._images = self.metrics.images_generated.labels(self.model)
        self._expired = self.metrics.rejected.labels(self.model, "deadline")
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        # one thread per batcher: batches of a model run one after another anyway, and
        # heavy renders in the shared pool can never starve inference of a thread
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"batch-{self.model}")

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Stop the worker; every job not finished yet fails with :class:`Closed`."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        pending = [*self._inflight, *([self._carry] if self._carry else [])]
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        for item in pending:
            item.job.stop.set()
            if not item.future.done():
                item.future.set_exception(Closed(f"{self.model}: the server is shutting down"))
        self._inflight, self._carry, self._queued_images = [], None, 0
        self._depth.set(0)
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def full(self) -> bool:
        return self._queue.full()

    def retry_after_s(self) -> int:
        """Seconds until the queued images have likely run: batches to go x batch time."""
        batches = math.ceil(self._queued_images / self.max_batch) + 1
        return max(1, math.ceil(batches * self._batch_s))

    def enqueue(self, job: Job) -> asyncio.Future[Any]:
        """Queue a job; its future gets the response body. Cancel it to withdraw the job."""
        if self._closed:
            raise Closed(f"{self.model}: the server is shutting down")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            traced = tracing.now_ns() if job.trace is not None else 0
            self._queue.put_nowait(_Item(job, future, time.perf_counter(), traced))
        except asyncio.QueueFull:
            raise Overloaded(self.retry_after_s()) from None
        self._queued_images += job.size
        self._depth.set(self._queue.qsize())
        return future

    async def submit(self, job: Job) -> Any:
        return await self.enqueue(job)

    async def _next_batch(self) -> list[_Item]:
        first = self._carry or await self._queue.get()
        self._carry = None
        # collected into _inflight as they leave the queue: close() fails them if it
        # interrupts the collection (they are in neither the queue nor the carry)
        items, size = self._inflight, first.job.size
        items.append(first)
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
            if size + item.job.size > self.max_batch:
                self._carry = item  # starts the next batch
                break
            items.append(item)
            size += item.job.size
        return items

    def _live(self, items: list[_Item]) -> list[_Item]:
        # no await in here: under a flood of requests each loop iteration is long, and
        # anything that yields per job (a disconnect poll, say) would stretch every batch
        live, now = [], time.monotonic()
        for item in items:
            self._queued_images -= item.job.size
            job = item.job
            if item.future.done():  # cancelled by its caller
                continue
            if job.deadline is not None and now > job.deadline:
                self._expired.inc()
                item.future.set_exception(DeadlineExceeded("waited past X-Request-Timeout-Ms"))
                continue
            item.job.stage = "running"
            live.append(item)
        return live

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            items = self._live(batch)
            self._depth.set(self._queue.qsize())
            if items:
                now, now_ns = time.perf_counter(), tracing.now_ns()
                for item in items:
                    self._wait.observe(now - item.enqueued)
                    if item.job.trace is not None:
                        item.job.trace.child("queue wait", item.enqueued_ns, now_ns)
                start = time.perf_counter()
                try:
                    results = await loop.run_in_executor(
                        self._executor, self._run_batch, [i.job for i in items]
                    )
                except Exception as exc:  # a failed run fails its requests, not the worker
                    results = [_Failed(exc)] * len(items)
                elapsed = time.perf_counter() - start
                # moving average: Retry-After follows the recent batch time
                self._batch_s = 0.8 * self._batch_s + 0.2 * elapsed if self._batch_s else elapsed
                for item, result in zip(items, results, strict=True):
                    self._settle(item, result)
            self._inflight = []  # a new list: the settled one may still be referenced

    def _settle(self, item: _Item, result: Any) -> None:
        if item.future.done():
            return
        if isinstance(result, _Failed):
            item.future.set_exception(result.error)
        elif item.job.heavy:  # raw images: render in the shared pool, then answer
            loop = asyncio.get_running_loop()
            item.job.stage = "rendering"
            render = loop.run_in_executor(self.renders, item.job.render, result)
            self._renders.add(render)
            render.add_done_callback(lambda done: self._rendered(item, done))
        else:
            item.future.set_result(result)

    def _rendered(self, item: _Item, render: asyncio.Future[Any]) -> None:
        self._renders.discard(render)
        if item.future.done() or render.cancelled():
            return
        error = render.exception()
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(render.result())

    def _run_batch(self, jobs: list[Job]) -> list[Any]:
        """In the batch's thread: latents, inference in chunks of max_batch, light renders."""
        parts: list[np.ndarray | _Failed] = []
        for job in jobs:
            try:
                parts.append(job.latents())
            except Exception as exc:  # one job's bad latents fail that job alone
                parts.append(_Failed(exc))
        ok = [p for p in parts if isinstance(p, np.ndarray)]
        if not ok:
            return parts
        start = tracing.now_ns()
        generated = infer(self.run, np.concatenate(ok), self.max_batch, self.model, self.metrics)
        traces = [job.trace for job in jobs if job.trace is not None]
        if traces:  # the batch's span, linked to each traced request it served
            tracing.record_batch(traces, self.model, len(generated), start, tracing.now_ns())
        self._images.inc(len(generated))
        if self.convert is not None:
            generated = self.convert(generated)
        images = iter(np.split(generated, np.cumsum([len(p) for p in ok])[:-1]))
        results: list[Any] = []
        for job, part in zip(jobs, parts, strict=True):
            if isinstance(part, _Failed):
                results.append(part)
                continue
            out = next(images)
            if job.heavy:
                results.append(out)
                continue
            if job.stop.is_set():  # its request is gone: no encode for nobody
                results.append(_Failed(ClientDisconnected("the request is gone")))
                continue
            try:
                results.append(job.render(out))
            except Exception as exc:
                results.append(_Failed(exc))
        return results
