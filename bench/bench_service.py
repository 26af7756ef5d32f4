"""Serving speed: this service against raw onnxruntime, the HTTP layer's own ceiling and a
hand-written torch server.

Measures, side by side in one run on one machine, alternating the contenders round by round
(each one started, warmed up, measured and stopped in its turn), for each model asked for:

1. raw onnxruntime on the model's ONNX file, no HTTP, with the session options the service
   uses (``service.inference.registry.session_options``), CPU provider: batch 1, and the best of
   batch 8/16/32/64;
2. this service (``python -m service``, as ``testkit.servers.running_server`` starts it), with
   any ``--env KEY=VALUE`` settings;
3. the framework limit (``bench/framework_limit.py``): a bare ASGI app on uvicorn answering
   fixed bytes of the size of one of the service's PNGs, so the report shows how close the
   service is to what the HTTP layer alone can do here;
4. ``bench/naive_torch_server.py``: FastAPI + one torch Generator of the same architecture
   (``--no-naive`` leaves it out).

The HTTP contenders are loaded with ``wrk`` (Debian package ``wrk``), closed loop,
``POST /generate?model=NAME``: body ``{}`` (one PNG, random seed) at 1 connection
(``-t1 -c1``) and 64 connections (``-t2 -c64``), ``{"count": 16, "grid": true}`` at 64
connections, and ``{"seed": 7}`` at 64 connections (after the first, every request is a
response-cache hit); 1 s of the same load warms up before each measured one. wrk runs on
the same cores as the server. Only 127.0.0.1 is targeted; every phase is bounded in time.

    .venv/bin/python bench/bench_service.py --seconds 8 --rounds 2
    .venv/bin/python bench/bench_service.py --models fashion --env DCGAN_INTRA_OP_THREADS=1

Prints one Markdown table per model (each cell: the median over rounds, with the min–max
range) and every goal ratio. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract.folders import version_number
from contract.manifest import Manifest
from service.core.settings import Settings
from service.inference.registry import CPU, session_options
from testkit.servers import free_port, running_server, stop

REPO = Path(__file__).resolve().parents[1]
NAIVE_SERVER = REPO / "bench" / "naive_torch_server.py"
SERVICE_ENV = {"DCGAN_LOG_LEVEL": "warning"}  # no access log lines: the naive server has none
BATCHES = (8, 16, 32, 64)
WARMUP_S = 1
WRK_TIMEOUT = "30s"  # wrk's default (2 s) would count slow grid requests as errors
RAW = "raw onnxruntime"
RAW_B1, RAW_BEST = "raw onnxruntime, batch 1", "raw onnxruntime, best batch"
NAIVE = "naive torch server"
FRAMEWORK = "framework limit (bare ASGI, fixed bytes)"
FRAMEWORK_SERVER = REPO / "bench" / "framework_limit.py"
# the throughput goal of each bundled model against raw onnxruntime's best batch (one that
# is not listed gets the faces goal); the tiny fashion model shows the request path's weight
THROUGHPUT_GOALS = {"cartoon-faces": 0.9, "fashion": 0.3}

Sample = dict[str, float]  # one contender, one round: "c1/rate", "c64/p99", ... -> value


@dataclass(frozen=True)
class Load:
    key: str
    threads: int
    connections: int
    body: dict[str, Any]
    images: int  # per request


LOADS = (
    Load("c1", 1, 1, {}, 1),  # wrk -t1 -c1
    Load("c64", 2, 64, {}, 1),  # wrk -t2 -c64
    Load("grid", 2, 64, {"count": 16, "grid": True}, 16),
    Load("hit", 2, 64, {"seed": 7}, 1),  # the response cache answers all but the first
)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def ok_per_s(self) -> float:
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0


@dataclass
class Results:
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)  # row -> "c64 non-2xx" -> n

    def add(self, row: str, sample: Sample) -> None:
        self.samples.setdefault(row, []).append(sample)

    def count_errors(self, row: str, load: Load, result: WrkResult) -> None:
        counts = self.errors.setdefault(row, {})
        kinds = {"non-2xx": result.non_2xx} | {
            f"socket {k}": n for k, n in result.socket_errors.items()
        }
        for kind, n in kinds.items():
            if n:
                counts[f"{load.key} {kind}"] = counts.get(f"{load.key} {kind}", 0) + n

    def values(self, row: str, key: str) -> list[float]:
        return [s[key] for s in self.samples.get(row, []) if key in s and not math.isnan(s[key])]

    def median(self, row: str, key: str) -> float:
        values = self.values(row, key)
        return statistics.median(values) if values else math.nan


# ---- raw onnxruntime ------------------------------------------------------------------------


def run_times(
    session: ort.InferenceSession, feed: dict[str, np.ndarray], seconds: float
) -> list[float]:
    """Seconds per run, back to back for ``seconds`` (after 3 warm-up runs)."""
    for _ in range(3):
        session.run(None, feed)
    took: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        session.run(None, feed)
        took.append(time.perf_counter() - t0)
    return took


def quantile_ms(took: list[float], q: float) -> float:
    ordered = sorted(took)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def measure_raw(version_dir: Path, settings: Settings, seconds: int, results: Results) -> None:
    """Batch 1 for seconds/2, then each of BATCHES for seconds/4: img/s and ms per run."""
    manifest = Manifest.load(version_dir / "manifest.json")
    session = ort.InferenceSession(
        str(version_dir / manifest.onnx_file), session_options(settings), providers=[CPU]
    )
    rng = np.random.default_rng(0)
    sample: Sample = {}
    for batch in (1, *BATCHES):
        z = rng.standard_normal((batch, manifest.nz), dtype=np.float32)
        took = run_times(session, {manifest.input_name: z}, seconds / (2 if batch == 1 else 4))
        sample[f"b{batch}/rate"] = batch * len(took) / sum(took)
        sample[f"b{batch}/p50"] = quantile_ms(took, 0.5)
        sample[f"b{batch}/p99"] = quantile_ms(took, 0.99)
    results.add(RAW, sample)


def best_batch(results: Results) -> int:
    """The batch with the highest median img/s over rounds."""
    return max(BATCHES, key=lambda b: results.median(RAW, f"b{b}/rate"))


def add_raw_rows(results: Results) -> None:
    """Batch 1 in the 1-connection cells; the best batch in the 64-connection cells."""
    best = best_batch(results)
    for sample in results.samples.get(RAW, []):
        results.add(RAW_B1, {"c1/rate": sample["b1/rate"], "c1/p50": sample["b1/p50"]})
        results.add(
            RAW_BEST,
            {
                "c64/rate": sample[f"b{best}/rate"],
                "c64/p50": sample[f"b{best}/p50"],
                "c64/p99": sample[f"b{best}/p99"],
                "grid/rate": sample["b16/rate"],
            },
        )


# ---- HTTP load with wrk ---------------------------------------------------------------------


def write_lua(folder: Path, load: Load) -> Path:
    path = folder / f"{load.key}.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{json.dumps(load.body)}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def to_ms(text: str) -> float:
    """wrk's durations: 812.00us, 3.21ms, 1.02s, 1.50m."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        return math.nan
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[match[2]]
    return float(match[1]) * scale


def parse_wrk(out: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    requests, seconds = (int(done[1]), to_ms(done[2] + done[3]) / 1000) if done else (0, 0.0)
    p50, p99 = (
        to_ms(m[1]) if (m := re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)) else math.nan
        for p in ("50", "99")
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: (.*)", out)
    socket_errors = (
        {kind: int(n) for kind, n in re.findall(r"(\w+) (\d+)", sockets[1])} if sockets else {}
    )
    return WrkResult(requests, seconds, p50, p99, int(non_2xx[1]) if non_2xx else 0, socket_errors)


def wrk(url: str, load: Load, script: Path, seconds: int) -> WrkResult:
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{seconds}s",
        "--timeout",
        WRK_TIMEOUT,
        "--latency",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        print(f"wrk exited {done.returncode}: {done.stderr.strip()}", file=sys.stderr)
    return parse_wrk(done.stdout)


def measure_http(
    url: str,
    row: str,
    scripts: dict[str, Path],
    seconds: int,
    results: Results,
    loads: tuple[Load, ...] = LOADS,
) -> None:
    """Each load: 1 s of it to warm up, then ``seconds`` measured."""
    sample: Sample = {}
    for load in loads:
        wrk(url, load, scripts[load.key], WARMUP_S)
        result = wrk(url, load, scripts[load.key], seconds)
        sample[f"{load.key}/rate"] = result.ok_per_s * load.images
        sample[f"{load.key}/p50"] = result.p50_ms
        sample[f"{load.key}/p99"] = result.p99_ms
        results.count_errors(row, load, result)
    results.add(row, sample)


# ---- the HTTP contenders --------------------------------------------------------------------


@contextlib.contextmanager
def naive_server(version_dir: Path) -> Iterator[str]:
    """Start bench/naive_torch_server.py; yield its URL once a generate answers 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        str(NAIVE_SERVER),
        "--port",
        str(port),
        "--model-dir",
        str(version_dir),
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not generates(url, proc, 60):
                log.seek(0)
                raise RuntimeError(f"naive torch server did not start:\n{log.read().decode()}")
            yield url
        finally:
            stop(proc)


def generates(url: str, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Whether ``POST url/generate {}`` answers 200 within ``seconds`` (False if proc exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(f"{url}/generate", json={}, timeout=5).status_code == 200:
                return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def framework_server(size: int) -> Iterator[str]:
    """Start bench/framework_limit.py answering ``size`` bytes; yield its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(FRAMEWORK_SERVER), "--port", str(port), "--size", str(size)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        if not generates(url, proc, 30):
            raise RuntimeError("the framework-limit server did not start")
        yield url
    finally:
        stop(proc)


def png_size(version_dir: Path) -> int:
    """Bytes of one of the service's PNGs for this model (seed 0): the framework limit's body."""
    from contract.imaging import encode_png, to_uint8
    from contract.latents import latents_for_seeds

    manifest = Manifest.load(version_dir / "manifest.json")
    session = ort.InferenceSession(str(version_dir / manifest.onnx_file), providers=[CPU])
    (out,) = session.run(None, {manifest.input_name: latents_for_seeds([0], manifest.nz)})
    return len(encode_png(to_uint8(out, manifest.value_range)[0]))


# ---- report ---------------------------------------------------------------------------------


def fmt(value: float, kind: str) -> str:
    if math.isnan(value):
        return "–"
    if kind == "rate":
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def cell(results: Results, row: str, key: str) -> str:
    values = results.values(row, key)
    if not values:
        return ""
    kind = "rate" if key.endswith("/rate") else "ms"
    text = fmt(statistics.median(values), kind)
    low, high = min(values), max(values)
    if len(values) > 1 and fmt(low, kind) != fmt(high, kind):
        text += f" ({fmt(low, kind)}–{fmt(high, kind)})"
    return text


def errors_cell(results: Results, row: str) -> str:
    if row in (RAW_B1, RAW_BEST):
        return ""
    counts = results.errors.get(row, {})
    return ", ".join(f"{kind}: {n}" for kind, n in counts.items()) or "0"


def print_table(results: Results, service: str) -> None:
    keys = ("c1/rate", "c1/p50", "c64/rate", "c64/p50", "c64/p99", "grid/rate", "hit/rate")
    print(
        "| | 1 conn: req/s | p50 ms | 64 conn: req/s | p50 ms | p99 ms "
        "| 16-image, 64 conn: img/s | cache hits, 64 conn: req/s | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    by_batch = ", ".join(
        f"{b}: {fmt(results.median(RAW, f'b{b}/rate'), 'rate')}" for b in (1, *BATCHES)
    )
    for row in (RAW_B1, RAW_BEST, service, FRAMEWORK, NAIVE):
        if row not in results.samples:
            continue
        cells = " | ".join(cell(results, row, key) for key in keys)
        print(f"| {row} | {cells} | {errors_cell(results, row)} |")
    print(
        "\nraw onnxruntime rows: img/s, and ms per session.run (p50, p99) instead of request "
        f"latency; best batch: {best_batch(results)} (img/s by batch: {by_batch}); its 16-image "
        "column is batch 16. HTTP rows: successful (2xx) requests/s, wrk's latency "
        "percentiles; errors: non-2xx responses and wrk socket errors, summed over rounds. "
        "The framework limit answers fixed bytes the size of one of the service's PNGs."
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def print_ratios(results: Results, service: str, model: str) -> None:
    def m(row: str, key: str) -> float:
        return results.median(row, key)

    goal = THROUGHPUT_GOALS.get(model, THROUGHPUT_GOALS["cartoon-faces"])
    errors = sum(results.errors.get(service, {}).values())
    lines = [
        (
            "1/2. service @64 / raw best batch (img/s)",
            f"≥ {goal}",
            f"{ratio(m(service, 'c64/rate'), m(RAW_BEST, 'c64/rate')):.2f}",
        ),
        (
            "3. service p50 @1 - raw batch-1 run (ms)",
            "≤ 0.3 ms",
            f"{m(service, 'c1/p50') - m(RAW_B1, 'c1/p50'):.2f}",
        ),
        (
            "4. service p99 / p50 @64",
            "≤ 2",
            f"{ratio(m(service, 'c64/p99'), m(service, 'c64/p50')):.2f}",
        ),
        ("4. service errors (all loads, all rounds)", "0", f"{errors}"),
        ("5. cache hits @64 (req/s)", "≥ 10,000", f"{m(service, 'hit/rate'):,.0f}"),
        (
            "service @64 / framework limit @64 (req/s)",
            "(how much the request path weighs)",
            f"{ratio(m(service, 'c64/rate'), m(FRAMEWORK, 'c64/rate')):.2f}",
        ),
    ]
    if NAIVE in results.samples:
        lines.append(
            (
                "service / naive torch @64 (req/s)",
                "≥ 3",
                f"{ratio(m(service, 'c64/rate'), m(NAIVE, 'c64/rate')):.2f}",
            )
        )
    print(f"\nratios, {model} (medians over rounds):\n")
    for name, target, value in lines:
        print(f"- {name}: {value} (goal {target})")


# ---- main -----------------------------------------------------------------------------------


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def latest_version(models_dir: Path, model: str) -> Path:
    folders = [
        p
        for p in (models_dir / model).iterdir()
        if version_number(p.name) is not None and p.is_dir()
    ]
    if not folders:
        raise SystemExit(f"error: no version folder under {models_dir / model}")
    return max(folders, key=lambda p: int(p.name))


def settings_with(env: dict[str, str]) -> Settings:
    """The service's settings as the server process will read them (its environment)."""
    with mock.patch.dict(os.environ, env):
        return Settings()


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children (wrk, the servers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def versions() -> str:
    names = ("onnxruntime", "torch", "uvicorn", "fastapi")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return f"Python {sys.version.split()[0]}, " + ", ".join(found)


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return " ".join(out.split()[:2]) if out else "wrk (version unknown)"


def print_header(args: argparse.Namespace, models: list[str], env: dict[str, str]) -> None:
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {load_average()}")
    print(f"versions: {versions()}, {wrk_version()}")
    for model in models:
        version_dir = latest_version(args.models_dir, model)
        manifest = Manifest.load(version_dir / "manifest.json")
        print(
            f"model: {model} v{manifest.version} ({version_dir}), {manifest.image_size}×"
            f"{manifest.image_size}×{manifest.channels}, preset {manifest.preset}"
        )
    print(f"service env: {' '.join(f'{k}={v}' for k, v in env.items())}")
    print(
        f"rounds: {args.rounds}, contenders alternated; {args.seconds} s per HTTP load after "
        f"{WARMUP_S} s of warm-up; wrk --timeout {WRK_TIMEOUT}\n"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default="cartoon-faces,fashion",
        help="comma-separated; fashion is the tiny one (default: both bundled models)",
    )
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--seconds", type=int, default=8, help="per measured HTTP load")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="for the service"
    )
    parser.add_argument("--service-label", default="this service")
    parser.add_argument("--no-naive", action="store_true", help="leave the torch server out")
    return parser.parse_args()


def contenders(
    args: argparse.Namespace,
    model: str,
    env: dict[str, str],
    scripts: dict[str, Path],
    results: Results,
) -> list[tuple[str, Callable[[], None]]]:
    """Each contender as (name, start-measure-stop)."""
    version_dir = latest_version(args.models_dir, model)
    settings = settings_with(env)
    path = f"/generate?model={model}"
    size = png_size(version_dir)

    def raw() -> None:
        measure_raw(version_dir, settings, args.seconds, results)

    def service() -> None:
        with running_server(args.models_dir, env) as srv:
            measure_http(srv.url + path, args.service_label, scripts, args.seconds, results)

    def framework() -> None:
        with framework_server(size) as url:
            measure_http(url + path, FRAMEWORK, scripts, args.seconds, results, LOADS[:2])

    def naive() -> None:
        with naive_server(version_dir) as url:
            measure_http(url + path, NAIVE, scripts, args.seconds, results)

    found = [(RAW, raw), (args.service_label, service), (FRAMEWORK, framework)]
    return found if args.no_naive else [*found, (NAIVE, naive)]


def require_wrk() -> None:
    """Exit 2 with the install line when wrk is missing."""
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    args = parse_args()
    require_wrk()
    models = [m for m in args.models.split(",") if m]
    started, busy0, own0 = time.monotonic(), busy_cpu_s(), own_cpu_s()
    env = SERVICE_ENV | parse_env(args.env)
    print_header(args, models, env)
    by_model = {model: Results() for model in models}
    with tempfile.TemporaryDirectory() as tmp:
        scripts = {load.key: write_lua(Path(tmp), load) for load in LOADS}
        for model in models:
            run_rounds(contenders(args, model, env, scripts, by_model[model]), args.rounds)
    for model, results in by_model.items():
        print(f"\n### {model}\n")
        add_raw_rows(results)
        print_table(results, args.service_label)
        print_ratios(results, args.service_label, model)
    wall = time.monotonic() - started
    others = (busy_cpu_s() - busy0) - (own_cpu_s() - own0)
    print(
        f"\nrun took {wall:.0f} s; other processes used {others:.0f} CPU-s meanwhile "
        f"({others / (wall * (os.cpu_count() or 1)):.0%} of the machine; more than a few % "
        "means the numbers were disturbed)"
    )


def run_rounds(measures: list[tuple[str, Callable[[], None]]], rounds: int) -> None:
    """Every contender once per round, the order rotated each round."""
    for round_ in range(rounds):
        shift = round_ % len(measures)
        for name, measure in measures[shift:] + measures[:shift]:
            t0 = time.monotonic()
            measure()
            print(f"round {round_ + 1}: {name} took {time.monotonic() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
