import threading

import pytest

from service.inference.batching import Overloaded
from service.inference.render_pool import RenderPool


def test_admission_stops_at_capacity_and_release_makes_room() -> None:
    pool = RenderPool(threads=2, capacity=3)
    stops = [threading.Event() for _ in range(4)]
    for stop in stops[:3]:
        pool.admit(stop)
    with pytest.raises(Overloaded) as refused:
        pool.admit(stops[3])
    assert refused.value.retry_after_s == 2  # 3 held / 2 threads, rounded up
    pool.release(stops[0])
    assert stops[0].is_set() and pool.held == 2
    pool.release(stops[0])  # twice: counted once
    assert pool.held == 2
    pool.admit(stops[3])
    assert pool.held == 3
    pool.close()


def test_close_stops_every_admitted_render() -> None:
    pool = RenderPool(threads=1, capacity=4)
    stops = [threading.Event() for _ in range(2)]
    for stop in stops:
        pool.admit(stop)
    pool.close()
    assert all(stop.is_set() for stop in stops)
