"""HTTP serving throughput and latency, batching on vs off, against raw onnxruntime.

Starts `python -m service` on a loopback port (once with batching, once without) and drives
it with locust (headless, as a library) at 1, 8 and 64 concurrent users for a fixed time
each; then times the same model in onnxruntime directly (no HTTP) at batch 1 and batch 32.
Only 127.0.0.1 is targeted; every run is bounded in time.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_service.py --model fashion --seconds 10

Prints a Markdown table. Measures; asserts nothing.
"""

from __future__ import annotations

import gevent.monkey

gevent.monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from locust import FastHttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

MODEL = "fashion"


class Client(FastHttpUser):
    wait_time = constant(0)  # closed loop: each user sends its next request at once

    @task
    def generate(self) -> None:
        self.client.post(f"/generate?model={MODEL}", json={"count": 1}, name="/generate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(models_dir: Path, batching: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = os.environ | {"DCGAN_BATCHING": str(batching).lower(), "DCGAN_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port), "--models-dir", str(models_dir)],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready")


def load(url: str, users: int, seconds: float) -> tuple[float, float, float, int]:
    env = Environment(user_classes=[Client], host=url)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(1.0)  # spawn and warm up, then measure a clean window
    env.stats.reset_all()
    gevent.sleep(seconds)
    total = env.stats.total
    result = (
        total.total_rps,
        total.get_response_time_percentile(0.5),
        total.get_response_time_percentile(0.99),
        total.num_failures,
    )
    runner.quit()
    return result


def raw_onnxruntime(models_dir: Path, seconds: float) -> dict[int, float]:
    code = f"""
import json, time, numpy as np, onnxruntime as ort
from service.manifest import Manifest
from pathlib import Path
d = sorted(Path({str(models_dir / MODEL)!r}).iterdir(), key=lambda p: int(p.name))[-1]
m = Manifest.load(d / "manifest.json")
s = ort.InferenceSession(str(d / m.onnx_file), providers=["CPUExecutionProvider"])
out = {{}}
for b in (1, 32):
    z = np.random.default_rng(0).standard_normal((b, m.nz), dtype=np.float32)
    s.run(None, {{"z": z}})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < {seconds}:
        s.run(None, {{"z": z}}); n += b
    out[b] = n / (time.perf_counter() - t0)
print(json.dumps(out))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {int(k): v for k, v in json.loads(res.stdout).items()}


def main() -> None:
    global MODEL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args()
    MODEL = args.model
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; model {MODEL} "
        f"({args.models_dir / MODEL}); {args.seconds:g} s per cell; load: locust, closed loop, "
        "POST /generate count=1 png, random seeds\n"
    )
    rows: dict[tuple[bool, int], tuple[float, float, float, int]] = {}
    for batching in (True, False):
        proc, url = start_server(args.models_dir, batching)
        try:
            for users in args.users:
                rows[(batching, users)] = load(url, users, args.seconds)
        finally:
            proc.terminate()
            proc.wait(10)
    print(
        "| users | batching on: img/s | p50 ms | p99 ms "
        "| batching off: img/s | p50 ms | p99 ms | on/off |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for users in args.users:
        on, off = rows[(True, users)], rows[(False, users)]
        print(
            f"| {users} | {on[0]:.0f} | {on[1]:.0f} | {on[2]:.0f} | {off[0]:.0f} | "
            f"{off[1]:.0f} | {off[2]:.0f} | {on[0] / off[0]:.2f} |"
        )
    failures = sum(r[3] for r in rows.values())
    raw = raw_onnxruntime(args.models_dir, min(args.seconds, 5.0))
    best = max(rows[(True, u)][0] for u in args.users)
    print(f"\nfailed requests: {failures}")
    print(
        f"raw onnxruntime, no HTTP: batch 1 {raw[1]:.0f} img/s, batch 32 {raw[32]:.0f} img/s; "
        f"best HTTP (batching on) / raw batch 32 = {best / raw[32]:.3f}"
    )


if __name__ == "__main__":
    main()
