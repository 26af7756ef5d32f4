import asyncio

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from service.core.metrics import build_metrics
from service.inference.batching import (
    Closed,
    DeadlineExceeded,
    Job,
    MicroBatcher,
    Overloaded,
)


class FakeModel:
    """Doubles its input; records each run's batch size."""

    def __init__(self, delay: float = 0.0) -> None:
        self.runs: list[int] = []
        self.delay = delay

    def __call__(self, latents: np.ndarray) -> np.ndarray:
        import time

        time.sleep(self.delay)
        self.runs.append(len(latents))
        return latents * 2


def batcher(model: FakeModel, **kw: float) -> MicroBatcher:
    return MicroBatcher(model, "m", build_metrics(CollectorRegistry()), **kw)  # type: ignore[arg-type]


def rows(n: int, start: float) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32).reshape(n, 1)


def job(latents: np.ndarray, **kw: object) -> Job:
    """A job whose response body is its images as they are."""
    return Job(lambda: latents, len(latents), lambda images, check: images, **kw)  # type: ignore[arg-type]


def test_concurrent_requests_share_runs_and_get_their_own_rows() -> None:
    async def scenario() -> tuple[FakeModel, list[np.ndarray]]:
        model = FakeModel()
        b = batcher(model, max_batch=8, max_wait_s=0.05)
        b.start()
        results = await asyncio.gather(*(b.submit(job(rows(2, 10 * i))) for i in range(8)))
        await b.close()
        return model, results

    model, results = asyncio.run(scenario())
    assert sum(model.runs) == 16 and len(model.runs) < 8 and max(model.runs) <= 8
    for i, out in enumerate(results):
        assert np.array_equal(out, rows(2, 10 * i) * 2)


def test_oversized_request_runs_alone_in_chunks() -> None:
    async def scenario() -> tuple[FakeModel, np.ndarray]:
        model = FakeModel()
        b = batcher(model, max_batch=4, max_wait_s=0.0)
        b.start()
        out = await b.submit(job(rows(10, 0)))
        await b.close()
        return model, out

    model, out = asyncio.run(scenario())
    assert model.runs == [4, 4, 2] and np.array_equal(out, rows(10, 0) * 2)


def test_full_queue_refuses_at_once() -> None:
    async def scenario() -> None:
        b = batcher(FakeModel(), max_batch=1, queue_size=2)  # worker not started: nothing drains
        waiting = [asyncio.ensure_future(b.submit(job(rows(1, i)))) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await b.submit(job(rows(1, 9)))
        for w in waiting:
            w.cancel()

    asyncio.run(scenario())


def test_withdrawn_jobs_are_dropped_before_running() -> None:
    """A cancelled future (its client hung up, or its task was cancelled) never runs."""

    async def scenario() -> FakeModel:
        model = FakeModel()
        b = batcher(model, max_batch=8, max_wait_s=0.05)
        cancelled = asyncio.ensure_future(b.submit(job(rows(3, 0))))
        withdrawn = b.enqueue(job(rows(2, 0)))
        kept = asyncio.ensure_future(b.submit(job(rows(1, 0))))
        await asyncio.sleep(0)
        cancelled.cancel()
        withdrawn.cancel()
        b.start()
        await kept
        await b.close()
        return model

    assert asyncio.run(scenario()).runs == [1]


def test_a_failing_run_fails_its_requests_not_the_worker() -> None:
    class Flaky(FakeModel):
        def __call__(self, latents: np.ndarray) -> np.ndarray:
            if not self.runs:
                self.runs.append(0)
                raise RuntimeError("boom")
            return super().__call__(latents)

    async def scenario() -> None:
        b = batcher(Flaky(), max_wait_s=0.0)
        b.start()
        with pytest.raises(RuntimeError, match="boom"):
            await b.submit(job(rows(1, 0)))
        assert np.array_equal(await b.submit(job(rows(1, 5))), rows(1, 5) * 2)
        await b.close()

    asyncio.run(scenario())


def test_close_fails_every_waiting_job_even_mid_collection() -> None:
    """A job taken from the queue while the batch fills must not be lost by close()."""

    async def scenario() -> list[BaseException | None]:
        b = batcher(FakeModel(), max_batch=8, max_wait_s=5.0, queue_size=4)
        b.start()
        first = asyncio.ensure_future(b.submit(job(rows(1, 0))))
        await asyncio.sleep(0.05)  # the worker holds it, waiting 5 s for company
        second = asyncio.ensure_future(b.submit(job(rows(1, 1))))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(b.close(), 2)
        done, _ = await asyncio.wait([first, second], timeout=2)
        assert len(done) == 2, "a job was lost by close()"
        with pytest.raises(Closed):
            await b.submit(job(rows(1, 2)))
        return [f.exception() for f in (first, second)]

    assert all(isinstance(e, Closed) for e in asyncio.run(scenario()))


def test_a_job_past_its_deadline_is_dropped_before_running() -> None:
    import time

    async def scenario() -> FakeModel:
        model = FakeModel()
        b = batcher(model, max_batch=8, max_wait_s=0.1)
        b.start()
        late = asyncio.ensure_future(b.submit(job(rows(1, 0), deadline=time.monotonic() + 0.01)))
        kept = asyncio.ensure_future(b.submit(job(rows(2, 0), deadline=time.monotonic() + 10)))
        await kept
        with pytest.raises(DeadlineExceeded):
            await late
        await b.close()
        return model

    assert asyncio.run(scenario()).runs == [2]


def test_retry_after_grows_with_the_queue_and_the_batch_time() -> None:
    b = batcher(FakeModel(), max_batch=4)
    assert b.retry_after_s() == 1  # nothing measured yet: the floor
    b._batch_s, b._queued_images = 0.5, 40  # 10 batches to go, then ours
    assert b.retry_after_s() == 6


def test_heavy_jobs_render_outside_the_batch_thread() -> None:
    import threading

    seen: dict[str, str] = {}

    def finish(name: str):  # type: ignore[no-untyped-def]
        def record(images: np.ndarray, check: object) -> np.ndarray:
            seen[name] = threading.current_thread().name
            return images

        return record

    async def scenario() -> None:
        b = batcher(FakeModel(), max_batch=8, max_wait_s=0.05)
        b.start()
        light = Job(lambda: rows(1, 0), 1, finish("light"))
        heavy = Job(lambda: rows(1, 0), 1, finish("heavy"), heavy=True)
        await asyncio.gather(b.submit(light), b.submit(heavy))
        await b.close()

    asyncio.run(scenario())
    assert seen["light"].startswith("batch-m") and not seen["heavy"].startswith("batch-m")


class GatedModel(FakeModel):
    """Doubles its input, but each run waits for a permit from the test (``allow``)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.permits = threading.Semaphore(0)
        self.started = threading.Event()

    def allow(self, runs: int = 1) -> None:
        for _ in range(runs):
            self.permits.release()

    def __call__(self, latents: np.ndarray) -> np.ndarray:
        self.started.set()
        self.permits.acquire(timeout=5)
        return super().__call__(latents)


def test_a_job_carried_over_to_the_next_batch_is_failed_by_close() -> None:
    """The job that did not fit the batch being collected waits in the carry slot: close()
    must fail it too, or its request would hang."""

    async def scenario() -> list[object]:
        model = GatedModel()
        b = batcher(model, max_batch=2)
        b.start()
        first = asyncio.ensure_future(b.submit(job(rows(2, 0))))  # fills a batch; runs, gated
        while not model.started.is_set():
            await asyncio.sleep(0.01)
        small = asyncio.ensure_future(b.submit(job(rows(1, 10))))
        big = asyncio.ensure_future(b.submit(job(rows(2, 20))))  # 1 + 2 > 2: carried over
        await asyncio.sleep(0.05)
        model.allow()  # the first batch ends; the next, [small], starts and waits; big is carried
        await first
        await asyncio.sleep(0.05)
        await b.close()
        try:
            return await asyncio.wait_for(asyncio.gather(small, big, return_exceptions=True), 2)
        finally:
            model.allow(2)  # let the batch thread finish

    small, big = asyncio.run(scenario())
    assert isinstance(small, Closed) and isinstance(big, Closed)


@pytest.mark.parametrize(("sizes", "runs"), [((2, 2), [4]), ((3, 2), [3, 2]), ((1, 3), [4])])
def test_a_batch_fills_up_to_max_batch_exactly(sizes: tuple[int, int], runs: list[int]) -> None:
    """max_batch=4: 2 + 2 and 1 + 3 share one run (exactly the bound), 3 + 2 do not."""

    async def scenario() -> FakeModel:
        model = GatedModel()
        b = batcher(model, max_batch=4)
        b.start()
        blocker = asyncio.ensure_future(b.submit(job(rows(4, 100))))
        while not model.started.is_set():
            await asyncio.sleep(0.01)
        queued = [
            asyncio.ensure_future(b.submit(job(rows(n, 10 * i)))) for i, n in enumerate(sizes)
        ]
        await asyncio.sleep(0.05)
        model.allow(3)
        await asyncio.gather(blocker, *queued)
        await b.close()
        return model

    assert asyncio.run(scenario()).runs[1:] == runs


def test_jobs_of_different_sizes_in_one_batch_get_their_own_rows() -> None:
    async def scenario() -> tuple[FakeModel, list[np.ndarray]]:
        model = GatedModel()
        b = batcher(model, max_batch=16)
        b.start()
        blocker = asyncio.ensure_future(b.submit(job(rows(1, 100))))
        while not model.started.is_set():
            await asyncio.sleep(0.01)
        sizes = (1, 3, 2, 5)
        queued = [
            asyncio.ensure_future(b.submit(job(rows(n, 10 * i)))) for i, n in enumerate(sizes)
        ]
        await asyncio.sleep(0.05)
        model.allow(2)
        await blocker
        out = await asyncio.gather(*queued)
        await b.close()
        return model, out

    model, out = asyncio.run(scenario())
    assert model.runs[1:] == [11]  # one run for all four
    for i, (n, got) in enumerate(zip((1, 3, 2, 5), out, strict=True)):
        assert np.array_equal(got, rows(n, 10 * i) * 2)
