"""Does the server stay responsive while heavy requests run? Are huge bodies refused cheaply?

Starts `python -m service` on a loopback port with the bundled models and measures, side by
side in one run:

1. `/healthz` and a 1-image `POST /generate` (latency percentiles), first on an idle server,
   then while N clients loop on the heaviest request the default limits allow
   (`count` 64, `upscale` 8, lanczos, JSON: 64 PNGs of 512×512 each);
2. a request declaring a 50 MB body: time to the 413, and the server's RSS before/after;
3. overload: `hey` (Debian package) with 200 connections on `POST /generate {}`, once with a
   small queue (`DCGAN_QUEUE_SIZE=8`: most requests get 503) and once with the default;
   useful throughput is the 200s per second.

    .venv/bin/python bench/bench_reliability.py --model cartoon-faces --seconds 15

Only 127.0.0.1 is targeted; every phase is bounded in time. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testkit.servers import Running, running_server

HEAVY = {"count": 64, "upscale": 8, "upscale_filter": "lanczos", "format": "json"}


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "n/a"
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    return f"p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"


def probe(url: str, model: str, seconds: float) -> tuple[list[float], list[float]]:
    """Alternate /healthz and a 1-image generate for ``seconds``; their latencies."""
    health, single = [], []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            http.get(f"{url}/healthz").raise_for_status()
            health.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            http.post(f"{url}/generate?model={model}", json={}).raise_for_status()
            single.append(time.perf_counter() - t0)
            time.sleep(0.02)
    return health, single


def heavy_load(url: str, model: str, clients: int, stop: threading.Event) -> list[float]:
    took: list[float] = []

    def loop() -> None:
        with httpx.Client(timeout=120) as http:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    http.post(f"{url}/generate?model={model}", json=HEAVY).raise_for_status()
                except httpx.HTTPError:
                    return  # the server stops while the last ones are in flight
                took.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    return took


def huge_body(srv: Running, model: str) -> tuple[float, float, bytes]:
    host, port = srv.url.removeprefix("http://").split(":")
    before = srv.rss_kb()
    t0 = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /generate?model={model} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n".encode()
            + b'{"seeds": ['
            + b"1," * 50_000
        )
        try:
            answer = sock.recv(4096)
        except TimeoutError:  # a server that waits for the whole 50 MB
            answer = b"no answer within 10 s"
    took = time.perf_counter() - t0
    return took, (srv.rss_kb() - before) / 1024, answer.split(b"\r\n", 1)[0]


def overload(models_dir: Path, model: str, seconds: float) -> None:
    if shutil.which("hey") is None:
        print("overload: skipped (hey is not installed: apt-get install hey)")
        return
    print("\n| DCGAN_QUEUE_SIZE | 200 responses/s (useful) | 503 responses/s | p50 | p99 |")
    print("|---|---|---|---|---|")
    for queue in ("8", "256"):
        with running_server(models_dir, {"DCGAN_QUEUE_SIZE": queue}) as srv:
            hey = ["hey", "-m", "POST", "-T", "application/json", "-d", "{}", "-c", "200"]
            out = subprocess.run(
                [*hey, "-z", f"{seconds:g}s", f"{srv.url}/generate?model={model}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
        p50, p99 = (
            float(m[1]) * 1000 if (m := re.search(rf"{p}% in (\S+) secs", out)) else 0.0
            for p in ("50", "99")
        )
        print(
            f"| {queue} | {codes.get(200, 0) / seconds:.0f} | {codes.get(503, 0) / seconds:.0f} "
            f"| {p50:.0f} ms | {p99:.0f} ms |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="cartoon-faces")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--heavy-clients", type=int, default=4)
    args = parser.parse_args()
    with running_server(args.models_dir) as srv:
        idle_health, idle_single = probe(srv.url, args.model, args.seconds / 3)
        stop = threading.Event()
        heavy = heavy_load(srv.url, args.model, args.heavy_clients, stop)
        time.sleep(1.0)  # let the heavy requests get going
        busy_health, busy_single = probe(srv.url, args.model, args.seconds)
        stop.set()
        time.sleep(0.5)
        took, grown_mb, status = huge_body(srv, args.model)
        rss_mb = srv.rss_kb() / 1024
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"model: {args.model}; {args.heavy_clients} clients looping on {HEAVY}\n")
    print("| probe | idle server | while the heavy requests run |")
    print("|---|---|---|")
    print(f"| GET /healthz | {percentiles(idle_health)} | {percentiles(busy_health)} |")
    print(f"| POST /generate, 1 image | {percentiles(idle_single)} | {percentiles(busy_single)} |")
    print(f"\nheavy requests completed: {len(heavy)}, {percentiles(heavy)}")
    print(
        f"50 MB body: {status.decode()} after {took * 1000:.1f} ms; "
        f"RSS {grown_mb:+.1f} MB (now {rss_mb:.0f} MB)"
    )
    overload(args.models_dir, args.model, args.seconds)


if __name__ == "__main__":
    main()
