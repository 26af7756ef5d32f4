"""A bounded soak against a real server: mixed traffic, bad input and reloads for 30 s.

Slow (`make test-slow`). It records what happened (requests, answers by status, RSS before
and after) and asserts only what must hold whatever the machine's speed: every request is
answered, none with a server error, and memory does not keep growing.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from testkit.servers import running_server

SECONDS = 30
CLIENTS = 8
REQUESTS: list[tuple[str, str, dict[str, object] | None]] = [
    ("POST", "/generate?model=tiny", {"seed": 1}),
    ("POST", "/generate?model=tiny", None),
    ("POST", "/generate?model=tiny", {"seeds": [1, 2, 3, 4], "grid": True, "format": "webp"}),
    ("POST", "/generate?model=gray", {"count": 8, "format": "json", "upscale": 2}),
    ("GET", "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=8&format=gif", None),
    ("POST", "/generate?model=nope", None),  # 404
    ("POST", "/generate?model=tiny", {"seed": -1}),  # 422
    ("POST", "/generate?model=tiny", {"count": 2}),  # 422: several images need a grid
    ("POST", "/generate?model=corrupt", None),  # 503: unavailable model
    ("GET", "/models", None),
    ("GET", "/readyz", None),
]


@pytest.mark.slow
def test_mixed_traffic_with_reloads_for_30_seconds(models_dir: Path, tmp_path: Path) -> None:
    statuses: Counter[str] = Counter()
    stop = threading.Event()

    def client(url: str, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=20) as http:
            while not stop.is_set():
                method, path, body = rng.choice(REQUESTS)
                try:
                    r = http.request(method, f"{url}{path}", json=body)
                    statuses[str(r.status_code)] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

    env = {"DCGAN_QUEUE_SIZE": "16", "DCGAN_MAX_WAIT_MS": "5"}
    with running_server(models_dir, env) as srv, httpx.Client(timeout=30) as admin:
        for method, path, body in REQUESTS * 20:  # warm up: arenas, buffers, encoders
            admin.request(method, f"{srv.url}{path}", json=body)
        rss_before = srv.rss_kb()
        threads = [threading.Thread(target=client, args=(srv.url, i)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        deadline, reloads = time.monotonic() + SECONDS, 0
        v2, parked = models_dir / "tiny" / "2", tmp_path / "parked"
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if v2.exists():
                shutil.move(v2, parked)
            else:
                shutil.move(parked, v2)
            assert admin.post(f"{srv.url}/admin/reload").status_code == 200
            reloads += 1
        stop.set()
        for t in threads:
            t.join(30)
        hung = [t for t in threads if t.is_alive()]
        rss_after = srv.rss_kb()
    total = sum(statuses.values())
    print(
        f"\n{total} requests in {SECONDS} s with {reloads} reloads: {dict(statuses)}; "
        f"RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MB"
    )
    assert not hung
    assert set(statuses) <= {"200", "404", "422", "503"}, statuses
    assert statuses["200"] > 100
    assert (rss_after - rss_before) / 1024 < 50
