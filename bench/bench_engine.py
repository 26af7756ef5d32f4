"""The shared engine against in-process sessions: throughput, latency and CPU per request.

Side by side in one run on one machine, alternating round by round, for each model:

1. raw onnxruntime on the model's ONNX file (``bench_service.measure_raw``): batch 1 and
   the best of batch 8/16/32/64; and onnxruntime's own compute per image on one thread
   (batch 32, no spinning), the number subtracted from the service's CPU per request;
2. the service in each configuration asked for (``--configs``; default: in-process and
   shared, with 1 and 2 workers), loaded by ``wrk`` with ``POST /generate?model=NAME``,
   body ``{}`` (one PNG, a random seed): 64 connections (req/s, p50, p99, errors, and CPU
   per request) and 1 connection (p50).

CPU per request: the CPU time (``/proc/PID/stat`` utime + stime) of every process of the
server's tree (parent, workers, engine) over the 64-connection load, divided by the
requests served; "outside onnxruntime" subtracts the one-thread compute per image. It is
what says how many requests a many-core GPU host can feed, where the model costs the CPU
nothing.

    .venv/bin/python bench/bench_engine.py --seconds 8 --rounds 2
    .venv/bin/python bench/bench_engine.py --models fashion --configs shared-2,shared-3

Measures; asserts nothing. Only 127.0.0.1 is loaded, every phase bounded in time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_service import (
    RAW,
    SERVICE_ENV,
    Load,
    Results,
    best_batch,
    busy_cpu_s,
    cpu_model,
    latest_version,
    measure_raw,
    own_cpu_s,
    parse_env,
    require_wrk,
    settings_with,
    write_lua,
    wrk,
)
from contract.manifest import Manifest
from service.inference.registry import CPU
from testkit.servers import running_server

REPO = Path(__file__).resolve().parents[1]
C64 = Load("c64", 2, 64, {}, 1)
C1 = Load("c1", 1, 1, {}, 1)
CONFIGS = {  # name -> the server's environment
    "inprocess-1": {"DCGAN_ENGINE": "inprocess", "DCGAN_WORKERS": "1"},
    "shared-1": {"DCGAN_ENGINE": "shared", "DCGAN_WORKERS": "1"},
    "inprocess-2": {"DCGAN_ENGINE": "inprocess", "DCGAN_WORKERS": "2"},
    "shared-2": {"DCGAN_ENGINE": "shared", "DCGAN_WORKERS": "2"},
    "shared-3": {"DCGAN_ENGINE": "shared", "DCGAN_WORKERS": "3"},
    "shared-4": {"DCGAN_ENGINE": "shared", "DCGAN_WORKERS": "4"},
}
DEFAULT_CONFIGS = "inprocess-1,shared-1,inprocess-2,shared-2"


def one_thread_ms_per_image(version_dir: Path, seconds: float = 2.0) -> float:
    """onnxruntime's own compute for one image: one thread, batch 32, no spinning."""
    manifest = Manifest.load(version_dir / "manifest.json")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(version_dir / manifest.onnx_file), options, providers=[CPU])
    z = np.random.default_rng(0).standard_normal((32, manifest.nz), dtype=np.float32)
    feed = {manifest.input_name: z}
    session.run(None, feed)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, feed)
        runs += 1
    return (time.perf_counter() - start) / (runs * 32) * 1000


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``'s tree, its live processes."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextmanager
def lua_scripts() -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield {load.key: write_lua(Path(tmp), load) for load in (C64, C1)}


def measure_service(
    args: argparse.Namespace,
    model: str,
    name: str,
    env: dict[str, str],
    scripts: dict[str, Path],
    results: Results,
) -> None:
    url = f"/generate?model={model}"
    with running_server(args.models_dir, env) as srv:
        time.sleep(1.0)  # every worker up (the first one answers /readyz)
        target = srv.url + url
        wrk(target, C64, scripts["c64"], 1)
        cpu0 = tree_cpu_s(srv.proc.pid)
        result = wrk(target, C64, scripts["c64"], args.seconds)
        cpu = tree_cpu_s(srv.proc.pid) - cpu0
        served = result.requests - result.non_2xx
        sample = {
            "c64/rate": result.ok_per_s,
            "c64/p50": result.p50_ms,
            "c64/p99": result.p99_ms,
            "c64/errors": float(result.non_2xx + sum(result.socket_errors.values())),
            "cpu_us": cpu / served * 1e6 if served else float("nan"),
        }
        wrk(target, C1, scripts["c1"], 1)
        one = wrk(target, C1, scripts["c1"], max(2, args.seconds // 2))
        sample |= {"c1/rate": one.ok_per_s, "c1/p50": one.p50_ms}
    results.add(name, sample)


def median(results: Results, row: str, key: str) -> float:
    values = results.values(row, key)
    return statistics.median(values) if values else float("nan")


def spread(results: Results, row: str, key: str, digits: int) -> str:
    values = results.values(row, key)
    if not values:
        return "–"
    mid = f"{statistics.median(values):,.{digits}f}"
    if len(values) == 1:
        return mid
    return f"{mid} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def report(model: str, results: Results, names: list[str], compute_ms: list[float]) -> None:
    best = best_batch(results)
    raw_best = median(results, RAW, f"b{best}/rate")
    raw_b1_ms = median(results, RAW, "b1/p50")
    compute_us = statistics.median(compute_ms) * 1000
    print(f"\n### {model}\n")
    print(
        f"raw onnxruntime: best batch {best}: {raw_best:,.0f} img/s; batch 1: "
        f"{raw_b1_ms:.2f} ms a run (p50); one-thread compute {compute_us:.0f} µs an image\n"
    )
    print(
        "| configuration | 64 conn: req/s | ÷ raw best | p50 ms | p99 ms | p99 ÷ p50 | errors "
        "| CPU µs/req | outside onnxruntime | 1 conn: p50 ms | minus raw batch-1 run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        rate, p50 = median(results, name, "c64/rate"), median(results, name, "c64/p50")
        p99, cpu = median(results, name, "c64/p99"), median(results, name, "cpu_us")
        c1 = median(results, name, "c1/p50")
        errors = sum(results.values(name, "c64/errors"))
        print(
            f"| {name} | {spread(results, name, 'c64/rate', 0)} | {rate / raw_best:.2f}× "
            f"| {p50:.2f} | {p99:.2f} | {p99 / p50:.1f} | {errors:.0f} "
            f"| {spread(results, name, 'cpu_us', 0)} | {cpu - compute_us:.0f} "
            f"| {spread(results, name, 'c1/p50', 2)} | +{c1 - raw_b1_ms:.2f} ms |"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fashion,cartoon-faces")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help=", ".join(CONFIGS))
    parser.add_argument("--seconds", type=int, default=8, help="per measured load")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE, every config")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    require_wrk()
    names = [c for c in args.configs.split(",") if c]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown:
        print(f"error: unknown --configs {unknown}; known: {', '.join(CONFIGS)}", file=sys.stderr)
        sys.exit(2)
    extra = SERVICE_ENV | parse_env(args.env)
    started, busy0, own0 = time.monotonic(), busy_cpu_s(), own_cpu_s()
    print(f"{cpu_model()}, {os.cpu_count()} cores; extra env: {extra}; {args.rounds} rounds")
    with lua_scripts() as scripts:
        for model in [m for m in args.models.split(",") if m]:
            version_dir = latest_version(args.models_dir, model)
            results, compute_ms = Results(), []
            for round_ in range(args.rounds):
                measure_raw(version_dir, settings_with(extra), args.seconds, results)
                compute_ms.append(one_thread_ms_per_image(version_dir))
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for name in order:
                    env = extra | CONFIGS[name]
                    measure_service(args, model, name, env, scripts, results)
                    print(f"round {round_ + 1}: {model} {name} done", file=sys.stderr)
            print(f"\n{model}: {version_dir.relative_to(args.models_dir)}")
            report(model, results, names, compute_ms)
    wall = time.monotonic() - started
    others = (busy_cpu_s() - busy0) - (own_cpu_s() - own0)
    print(
        f"\nrun took {wall:.0f} s; other processes used {others:.0f} CPU-s meanwhile "
        f"({others / wall:.2f} cores on average; the servers and wrk are not counted)"
    )


if __name__ == "__main__":
    main()
