"""HTTP load for benchmarks and deploy tests: hey (a Debian package) when it is installed,
else a closed loop from Python threads; both report 200s per second, p50/p99 and failures."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass

import httpx
import numpy as np


@dataclass
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_200: int
    client: str


def parse_hey(out: str) -> LoadResult:
    """hey's summary. Its ``Requests/sec`` counts failed requests too, so the rate here is
    200 responses over ``Total:``; percentiles are ``  50%% in 0.0012 secs`` lines."""
    total = re.search(r"Total:\s+([\d.]+) secs", out)
    pct = {p: re.search(rf"^\s+{p}%+ in ([\d.]+) secs", out, re.M) for p in ("50", "99")}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    # "Error distribution:" lines: "  [12]\tPost "http://...": dial tcp ..."
    errors = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+(?:Get|Post)", out, re.M))
    seconds = float(total[1]) if total else 0.0
    return LoadResult(
        codes.get(200, 0) / seconds if seconds else 0.0,
        float(pct["50"][1]) * 1e3 if pct["50"] else float("nan"),
        float(pct["99"][1]) * 1e3 if pct["99"] else float("nan"),
        sum(n for c, n in codes.items() if c != 200) + errors,
        "hey",
    )


def hey(url: str, connections: int, seconds: float) -> LoadResult:
    command = ["hey", "-z", f"{seconds:g}s", "-c", str(connections), "-m", "POST"]
    command += ["-T", "application/json", "-d", "{}", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    return parse_hey(done.stdout)


def python_load(url: str, connections: int, seconds: float) -> LoadResult:
    """Closed loop from threads (httpx), where hey is missing; its own overhead is counted.

    Every thread opens its client before the clock starts (64 clients take longer than a
    tiny plan's whole window on a slow machine), and a request that raises counts as failed
    instead of ending its thread."""
    took: list[float] = []
    failed = [0]
    lock = threading.Lock()
    window = {"start": 0.0, "deadline": 0.0}

    def open_window() -> None:  # run once, by the last thread to arrive, before any starts
        window["start"] = time.perf_counter()
        window["deadline"] = window["start"] + seconds

    ready = threading.Barrier(connections + 1, action=open_window)

    def loop() -> None:
        with httpx.Client(timeout=30) as client:
            ready.wait()
            while time.perf_counter() < window["deadline"]:
                t = time.perf_counter()
                try:
                    ok = client.post(url, json={}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    took.append(time.perf_counter() - t)
                    failed[0] += not ok

    threads = [threading.Thread(target=loop) for _ in range(connections)]
    for t in threads:
        t.start()
    ready.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - window["start"]
    q = np.quantile(took, [0.5, 0.99]) * 1e3 if took else [float("nan")] * 2
    ok_count = len(took) - failed[0]
    return LoadResult(ok_count / elapsed, float(q[0]), float(q[1]), failed[0], "python threads")
