"""The shared pool for heavy renders: bounded, admission-controlled, cancellable.

Heavy responses (large grids, upscales, animations) are rendered off the batch thread so they
never hold up the next batch. They used to go to the event loop's default thread pool:
unbounded, shared with admin reloads and model-card files (which then queued behind them),
never cancelled, and waited for at exit. Here:

- at most ``capacity`` requests hold heavy work at once; they are admitted when the request
  arrives, before its inference, and a full pool answers 503 with Retry-After, as a full
  batch queue does; ``threads`` renders run at once;
- a render checks its job's stop event between steps (before each encode, between frames,
  between upscaled images) and stops with :class:`service.inference.rendering.Abandoned` once the
  request is gone: its client left, or it was cut off at shutdown;
- ``close`` stops every render at its next step and does not wait for them.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

from service.inference.batching import Overloaded


class RenderPool:
    def __init__(self, threads: int, capacity: int) -> None:
        self.threads, self.capacity = threads, capacity
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="render")
        self._held = 0
        self._stops: set[threading.Event] = set()

    @property
    def held(self) -> int:
        return self._held

    def admit(self, stop: threading.Event) -> None:
        """Hold a place for one request's heavy work (on the event loop); 503 when full."""
        if self._held >= self.capacity:
            raise Overloaded(max(1, math.ceil(self._held / self.threads)))
        self._held += 1
        self._stops.add(stop)

    def release(self, stop: threading.Event) -> None:
        """The request is over (answered, failed or gone): its render stops if still running."""
        stop.set()
        if stop in self._stops:
            self._stops.discard(stop)
            self._held -= 1

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor

    def close(self) -> None:
        """Stop every render at its next step; queued ones never start. Does not wait."""
        for stop in list(self._stops):
            stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
