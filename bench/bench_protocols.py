"""The Open Inference Protocol (binary uint8 tensors) against the image API (PNGs) and raw
onnxruntime, on one model, side by side in one run.

Measures, for ``cartoon-faces`` (or ``--model``), batches of 1 and of 64 images per request,
alternating the contenders round by round (each started, warmed up, measured and stopped in
its turn; the HTTP loads' order rotates too):

1. ``POST /v2/models/NAME/infer``, output ``images`` as binary tensor data (the JSON header,
   then the raw uint8 [N, H, W, C] bytes: no image encoding at all), the seeds given
   - as JSON (``{"name": "seed", "datatype": "UINT64", "data": [...]}``), and
   - as binary tensor data (8 bytes a seed after the JSON header,
     ``Inference-Header-Content-Length``);
2. ``POST /generate?model=NAME``: ``{}`` (one PNG, a fresh random seed) and
   ``{"count": 64, "format": "json"}`` (64 base64 PNGs in JSON, fresh random seeds);
3. raw onnxruntime on the model's ONNX file, no HTTP, with the service's session options
   (``service.inference.registry.session_options``, CPU provider), at batch 1, 32 (the service's
   ``DCGAN_MAX_BATCH_SIZE``: single-image requests are merged up to it, and a 64-image
   request runs as two runs of 32) and 64; plus, in process, what the service does for a
   1-image and a 64-image request besides HTTP and ``session.run``, with its own functions:
   parsing the request, latents from seeds, floats to uint8 pixels, and each route's answer
   (``inference_response`` for /v2, ``render_images`` for /generate), so the report says
   where the time goes.

Like against like, all uncached: /v2 infer has no response cache (it never computes an ETag),
so its fixed seeds are real work on every request; ``/generate`` caches seeded responses, so
its bodies are unseeded and each request draws fresh seeds (no wrk Lua per-request bodies
needed, and wrk's own CPU stays the same for every route). The service's counter of images
generated is read before and after every load: "generated / served" near 1.0 shows no
request was short-circuited (more than 1.0: work done for requests that timed out or failed).

A 64-image ``/generate`` request is heavy (over 2^16 pixels): it holds one of
``DCGAN_RENDER_QUEUE_SIZE`` (8) places in the render pool, and at 64 connections the other 56
are answered 503 at once. So the service runs with ``DCGAN_RENDER_QUEUE_SIZE=64`` (the only
route that setting touches is that one; binary /v2 images and single PNGs are light), and one
more server at the defaults runs that load alone, to show what the 503s do.

HTTP loads: ``wrk -t2 -c64``, closed loop, 127.0.0.1 only, a Lua script per route written to
a temporary folder (POST, body, headers), 1 s of the same load to warm up before each measured
one; every phase is bounded in time (wrk ``-d``, subprocess timeouts, the server stopped in a
``finally``).

    .venv/bin/python bench/bench_protocols.py                   # ~5 minutes
    .venv/bin/python bench/bench_protocols.py --seconds 4 --rounds 2

What the numbers do not measure: wrk runs on the same 2 cores as the server (and takes a
share of them, more at high request rates); loopback only, so no network, and transfer is
free (a 64-image binary answer is 786 kB against ~880 kB of base64 PNGs, which a real network
would price); one server process (``DCGAN_WORKERS`` 1); a client's decoding of PNGs or
tensors; the per-connection cost of TLS or an API key; raw onnxruntime rows are
``session.run`` alone on random latents, without latents from seeds or uint8 conversion
(those are the breakdown's rows). Prints Markdown tables (median over rounds, min–max range)
and the ratios. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_service import (
    SERVICE_ENV,
    WARMUP_S,
    WRK_TIMEOUT,
    Load,
    busy_cpu_s,
    cell,
    cpu_model,
    fmt,
    latest_version,
    load_average,
    own_cpu_s,
    quantile_ms,
    run_rounds,
    run_times,
    settings_with,
    versions,
    wrk,
    wrk_version,
)
from bench.bench_service import Results as ServiceResults
from contract.imaging import to_uint8
from contract.latents import latents_for_seeds
from contract.manifest import Manifest
from service.api.generate import GenerateRequest
from service.api.inference_tensors import (
    BINARY_DATA_SIZE,
    HEADER_LENGTH,
    IMAGES,
    Inference,
    inference_response,
    parse_inference,
)
from service.inference.registry import CPU, session_options
from service.inference.rendering import ImageOptions, render_images
from testkit.servers import Running, running_server

REPO = Path(__file__).resolve().parents[1]
BIG = 64  # images per request in the batched loads
CONNECTIONS, THREADS = 64, 2
RAW_BATCHES = (1, 32, BIG)
ALL_ADMITTED = {"DCGAN_RENDER_QUEUE_SIZE": str(CONNECTIONS)}
SERVICE = "service"
DEFAULTS = "service, default render queue (8)"
RAW = "raw onnxruntime"
GENERATED = re.compile(r'^dcgan_images_generated_total\{model="([^"]+)"\} (\S+)$', re.M)

Sample = dict[str, float]  # one contender, one round: "v2-json-1/rate", ... -> value


@dataclass(frozen=True)
class Route:
    """One HTTP load: a POST with a fixed body, ``images`` images per request."""

    key: str
    label: str
    path: str  # with the query
    body: bytes
    headers: dict[str, str]
    images: int


def v2_json_seeds(seeds: list[int]) -> tuple[bytes, dict[str, str]]:
    """An infer request with the seeds as JSON numbers and binary uint8 images out."""
    request = {
        "inputs": [{"name": "seed", "shape": [len(seeds)], "datatype": "UINT64", "data": seeds}],
        "outputs": [{"name": IMAGES, "parameters": {"binary_data": True}}],
    }
    return json.dumps(request, separators=(",", ":")).encode(), {}


def v2_binary_seeds(seeds: list[int]) -> tuple[bytes, dict[str, str]]:
    """The same request with the seeds as binary tensor data (little-endian uint64)."""
    data = np.asarray(seeds, dtype="<u8").tobytes()
    request = {
        "inputs": [
            {
                "name": "seed",
                "shape": [len(seeds)],
                "datatype": "UINT64",
                "parameters": {BINARY_DATA_SIZE: len(data)},
            }
        ],
        "outputs": [{"name": IMAGES, "parameters": {"binary_data": True}}],
    }
    header = json.dumps(request, separators=(",", ":")).encode()
    return header + data, {"Inference-Header-Content-Length": str(len(header))}


def routes(model: str) -> list[Route]:
    """The six loads: /v2 with JSON seeds, /v2 with binary seeds, /generate; at 1 and 64."""
    infer, generate = f"/v2/models/{model}/infer", f"/generate?model={model}"
    found = []
    for n in (1, BIG):
        seeds = list(range(7, 7 + n))
        (json_body, json_headers), (bin_body, bin_headers) = (
            v2_json_seeds(seeds),
            v2_binary_seeds(seeds),
        )
        png_body = {} if n == 1 else {"count": n, "format": "json"}
        png_label = "`{}`, 1 PNG" if n == 1 else f'`{{"count": {n}, "format": "json"}}`'
        found += [
            Route(
                f"v2-json-{n}",
                "/v2 infer, JSON seeds → binary uint8",
                infer,
                json_body,
                json_headers,
                n,
            ),
            Route(
                f"v2-bin-{n}",
                "/v2 infer, binary seeds → binary uint8",
                infer,
                bin_body,
                bin_headers,
                n,
            ),
            Route(
                f"png-{n}", f"/generate {png_label}", generate, json.dumps(png_body).encode(), {}, n
            ),
        ]
    return found


def lua_string(data: bytes) -> str:
    """``data`` as a Lua string literal, every byte a decimal escape (binary-safe)."""
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def write_lua(folder: Path, route: Route) -> Path:
    kind = "application/octet-stream" if HEADER_LENGTH in map(str.lower, route.headers) else ""
    headers = {"Content-Type": kind or "application/json"} | route.headers
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(route.body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path = folder / f"{route.key}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def images_generated(url: str, model: str) -> float:
    """The service's counter of images its generator made for ``model`` (NaN if unread)."""
    with contextlib.suppress(httpx.HTTPError):
        return parse_generated(httpx.get(f"{url}/metrics", timeout=10).text, model)
    return math.nan


def parse_generated(metrics: str, model: str) -> float:
    for name, value in GENERATED.findall(metrics):
        if name == model:
            return float(value)
    return math.nan


def settled_count(url: str, model: str, seconds: float = 10) -> float:
    """:func:`images_generated` once it has stopped moving (the batch under way when wrk
    left has run; queued jobs of closed connections are withdrawn), at most ``seconds``."""
    last, deadline = images_generated(url, model), time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = images_generated(url, model)
        if now == last:
            break
        last = now
    return last


@dataclass
class Results(ServiceResults):
    """bench_service's samples and error counts, and what this benchmark adds."""

    bytes_per_response: dict[str, int] = field(default_factory=dict)  # route key -> bytes
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # row -> MB


# ---- raw onnxruntime and the service's per-batch work, in process ---------------------------


def seconds_per_call(call: Callable[[], object], seconds: float) -> float:
    """Median seconds of ``call`` run back to back for ``seconds`` (after one warm-up)."""
    call()
    took: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(took) < 3:
        t0 = time.perf_counter()
        call()
        took.append(time.perf_counter() - t0)
    return statistics.median(took)


def measure_raw(version_dir: Path, seconds: float, results: Results) -> None:
    """session.run at each of RAW_BATCHES for seconds/3; then the service's other steps for
    a request of 1 image and of 64 (:func:`service_work`), 0.2 s of each."""
    manifest = Manifest.load(version_dir / "manifest.json")
    session = ort.InferenceSession(
        str(version_dir / manifest.onnx_file),
        session_options(settings_with(SERVICE_ENV)),
        providers=[CPU],
    )
    rng = np.random.default_rng(0)
    sample: Sample = {}
    for batch in RAW_BATCHES:
        z = rng.standard_normal((batch, manifest.nz), dtype=np.float32)
        took = run_times(session, {manifest.input_name: z}, seconds / len(RAW_BATCHES))
        sample[f"b{batch}/req"] = len(took) / sum(took)
        sample[f"b{batch}/rate"] = batch * len(took) / sum(took)
        sample[f"b{batch}/p50"] = quantile_ms(took, 0.5)
        sample[f"b{batch}/p99"] = quantile_ms(took, 0.99)
    loads = {r.key: r for r in routes(manifest.name)}
    for n in (1, BIG):
        for step, call in service_work(session, manifest, loads, n).items():
            sample[f"{step}-{n}/us"] = seconds_per_call(call, 0.2) * 1e6
    results.add(RAW, sample)


def service_work(
    session: ort.InferenceSession, manifest: Manifest, loads: dict[str, Route], n: int
) -> dict[str, Callable[[], object]]:
    """What the service does for an ``n``-image request besides session.run (the batcher's,
    the routes' and the renderers' own functions), each as a call."""
    seeds = list(range(7, 7 + n))
    (floats,) = session.run(None, {manifest.input_name: latents_for_seeds(seeds, manifest.nz)})
    pixels = to_uint8(floats, manifest.value_range)  # an NHWC view of NCHW uint8
    inference = Inference(None, seeds, None, None, [(IMAGES, True)])
    v2_json, v2_bin = loads[f"v2-json-{n}"], loads[f"v2-bin-{n}"]
    png_options = ImageOptions() if n == 1 else ImageOptions(format="json")
    return {
        "parse-v2-json": functools.partial(parse_inference, v2_json.body, None, manifest.nz, BIG),
        "parse-v2-bin": functools.partial(
            parse_inference,
            v2_bin.body,
            v2_bin.headers["Inference-Header-Content-Length"],
            manifest.nz,
            BIG,
        ),
        "parse-png": functools.partial(GenerateRequest.model_validate_json, loads[f"png-{n}"].body),
        "latents": functools.partial(latents_for_seeds, seeds, manifest.nz),
        "uint8": functools.partial(to_uint8, floats, manifest.value_range),
        "nhwc": functools.partial(np.ascontiguousarray, pixels),
        "v2-body": functools.partial(
            inference_response, pixels, inference, manifest.name, manifest.version, lambda: None
        ),
        "png-body": functools.partial(
            render_images, pixels, png_options, list(seeds), manifest.name, manifest.version
        ),
    }


# ---- the service under wrk -------------------------------------------------------------------


def preflight(url: str, route: Route) -> int:
    """POST the route's body once: its response size, or an error naming what came back."""
    response = httpx.post(url + route.path, content=route.body, headers=route.headers, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"{route.key}: {response.status_code} {response.text[:300]}")
    length = response.headers.get(HEADER_LENGTH)
    if length is not None:  # the binary images must be all there
        header = json.loads(response.content[: int(length)])
        (output,) = header["outputs"]
        if len(response.content) - int(length) != math.prod(output["shape"]):
            raise RuntimeError(f"{route.key}: the binary images are not {output['shape']}")
    return len(response.content)


def measure_service(
    srv: Running,
    row: str,
    model: str,
    loads: list[Route],
    scripts: dict[str, Path],
    seconds: int,
    results: Results,
) -> None:
    """Each load: warm up, then ``seconds`` measured, the images generated counted around it."""
    sample: Sample = {}
    for route in loads:
        results.bytes_per_response[route.key] = preflight(srv.url, route)
        load = Load(route.key, THREADS, CONNECTIONS, {}, route.images)
        url = srv.url + route.path
        wrk(url, load, scripts[route.key], WARMUP_S)
        before = settled_count(srv.url, model)
        result = wrk(url, load, scripts[route.key], seconds)
        generated = settled_count(srv.url, model) - before
        served = (result.requests - result.non_2xx) * route.images
        sample[f"{route.key}/req"] = result.ok_per_s
        sample[f"{route.key}/rate"] = result.ok_per_s * route.images
        sample[f"{route.key}/p50"] = result.p50_ms
        sample[f"{route.key}/p99"] = result.p99_ms
        # Little's law, a closed loop's mean latency: the same in steady state, and still
        # right where wrk's percentiles see only the requests that finished in the window
        answered = result.requests / result.seconds if result.seconds else 0.0
        sample[f"{route.key}/mean"] = CONNECTIONS / answered * 1000 if answered else math.nan
        sample[f"{route.key}/gen"] = generated / served if served else math.nan
        sample[f"{route.key}/refused"] = result.non_2xx / result.seconds if result.seconds else 0
        results.count_errors(row, load, result)
    rss = srv.peak_rss_kb() / 1024
    results.peak_rss_mb[row] = max(results.peak_rss_mb.get(row, 0.0), rss)
    results.add(row, sample)


# ---- report ---------------------------------------------------------------------------------


def ratio_cell(results: Results, row: str, key: str, raw_key: str) -> str:
    raw = results.median(RAW, raw_key)
    value = results.median(row, key)
    return f"{value / raw:.2f}" if raw and not math.isnan(value) else "–"


def errors_cell(results: Results, row: str, key: str) -> str:
    counts = {
        k.split(" ", 1)[1]: n
        for k, n in results.errors.get(row, {}).items()
        if k.split(" ", 1)[0] == key
    }
    return ", ".join(f"{kind} {n:,}" for kind, n in counts.items()) or "0"


def print_tables(results: Results, loads: list[Route]) -> None:
    raw32 = fmt(results.median(RAW, "b32/rate"), "rate")
    print(
        "| batch | route | img/s | req/s | p50 ms | p99 ms | mean ms (64 ÷ responses/s) "
        "| ÷ raw, same batch | ÷ raw batch 32 | generated / served | bytes / response | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in (1, BIG):
        print(
            f"| {n} | raw onnxruntime, batch {n} (ms per session.run) "
            f"| {cell(results, RAW, f'b{n}/rate')} | {cell(results, RAW, f'b{n}/req')} "
            f"| {cell(results, RAW, f'b{n}/p50')} | {cell(results, RAW, f'b{n}/p99')} "
            "| | 1.00 | | | | |"
        )
        for route in (r for r in loads if r.images == n):
            rows = [SERVICE] + ([DEFAULTS] if route.key == f"png-{BIG}" else [])
            for row in rows:
                if row not in results.samples:
                    continue
                label = route.label + (", default render queue (8)" if row == DEFAULTS else "")
                k = route.key
                cells = [
                    cell(results, row, f"{k}/rate"),
                    *(cell(results, row, f"{k}/{x}") for x in ("req", "p50", "p99", "mean")),
                    ratio_cell(results, row, f"{k}/rate", f"b{n}/rate"),
                    ratio_cell(results, row, f"{k}/rate", "b32/rate"),
                    f"{results.median(row, f'{k}/gen'):.2f}",
                    f"{results.bytes_per_response.get(k, 0):,}",
                    errors_cell(results, row, k),
                ]
                print(f"| {n} | {label} | {' | '.join(cells)} |")
    print(
        "\nraw onnxruntime rows: img/s and runs/s of session.run on random latents, ms per "
        "run. HTTP rows: successful (2xx) requests/s and their images/s; wrk's latency "
        "percentiles, of the requests that finished within the window; the mean latency a "
        "closed loop of 64 connections implies (Little's law); generated / served: the "
        "service's images_generated counter over the images in 2xx answers (1.00: nothing "
        "short-circuited, no work lost); errors: non-2xx responses and wrk socket errors, "
        f"summed over rounds. ÷ raw batch 32: against {raw32} img/s, the service's own "
        "batch size (single-image requests are merged up to 32; a "
        "64-image request runs as 2 × 32)."
    )
    if DEFAULTS in results.samples:
        refused = results.median(DEFAULTS, f"png-{BIG}/refused")
        print(f"default render queue: {fmt(refused, 'rate')} responses/s were 503 (median).")


BREAKDOWN = (
    ("parse-v2-json", "/v2: parse the request, JSON seeds (`parse_inference`)"),
    ("parse-v2-bin", "/v2: parse the request, binary seeds"),
    ("parse-png", "/generate: parse the body (`GenerateRequest`)"),
    ("latents", "latents from seeds (`latents_for_seeds`)"),
    ("run", "session.run (raw onnxruntime above; 64 images run as 2 × 32 in the service)"),
    ("uint8", "floats → uint8 pixels (`to_uint8`: an NHWC view of NCHW bytes)"),
    ("v2-body", "/v2: the answer, JSON header + raw bytes (`inference_response`)"),
    ("nhwc", "… of which the NHWC copy of the pixels (`np.ascontiguousarray`)"),
    ("png-body", "/generate: the answer, PNG (1) or PNGs + base64 + JSON (64) (`render_images`)"),
)


def print_breakdown(results: Results) -> None:
    print("\nthe service's steps besides HTTP, in process (median):\n")
    print(f"| step | 1 image: µs a request | {BIG} images: µs an image |")
    print("|---|---|---|")
    for key, label in BREAKDOWN:
        if key == "run":
            one, big = (1e6 / results.median(RAW, f"b{n}/rate") for n in (1, BIG))
        else:
            one = results.median(RAW, f"{key}-1/us")
            big = results.median(RAW, f"{key}-{BIG}/us") / BIG
        print(f"| {label} | {fmt(one, 'n')} | {fmt(big, 'n')} |")


def print_ratios(results: Results, loads: list[Route]) -> None:
    print("\nratios (medians over rounds):\n")
    for n in (1, BIG):
        raw = results.median(RAW, f"b{n}/rate")
        for route in (r for r in loads if r.images == n):
            value = results.median(SERVICE, f"{route.key}/rate")
            line = f"- {route.label}, batch {n}: service / raw batch {n} = {value / raw:.2f}"
            if n == 1:
                line += f"; / raw batch 32 = {value / results.median(RAW, 'b32/rate'):.2f}"
            print(line)
        v2 = results.median(SERVICE, f"v2-json-{n}/rate")
        png = results.median(SERVICE, f"png-{n}/rate")
        print(f"- batch {n}: /v2 binary (JSON seeds) / /generate PNG = {v2 / png:.2f}")


# ---- main -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cartoon-faces")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--seconds", type=int, default=8, help="per measured HTTP load")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-defaults", action="store_true", help="leave out the default-render-queue server"
    )
    args = parser.parse_args()
    if args.seconds < 1 or args.rounds < 1:
        parser.error("--seconds and --rounds must be at least 1")
    return args


def contenders(
    args: argparse.Namespace, loads: list[Route], scripts: dict[str, Path], results: Results
) -> list[tuple[str, Callable[[], None]]]:
    """Each contender as (name, start-measure-stop); the service's loads rotate per round."""
    version_dir = latest_version(args.models_dir, args.model)
    turn = iter(range(1_000_000))

    def raw() -> None:
        measure_raw(version_dir, args.seconds * 1.5, results)

    def service() -> None:
        shift = next(turn) % len(loads)
        with running_server(args.models_dir, SERVICE_ENV | ALL_ADMITTED) as srv:
            measure_service(
                srv,
                SERVICE,
                args.model,
                loads[shift:] + loads[:shift],
                scripts,
                args.seconds,
                results,
            )

    def defaults() -> None:
        big = [r for r in loads if r.key == f"png-{BIG}"]
        with running_server(args.models_dir, SERVICE_ENV) as srv:
            measure_service(srv, DEFAULTS, args.model, big, scripts, args.seconds, results)

    found = [(RAW, raw), (SERVICE, service)]
    return found if args.no_defaults else [*found, (DEFAULTS, defaults)]


@contextlib.contextmanager
def lua_scripts(loads: list[Route]) -> Iterator[dict[str, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield {route.key: write_lua(Path(tmp), route) for route in loads}


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("error: this benchmark needs wrk (Debian/Ubuntu: apt-get install wrk)")
    version_dir = latest_version(args.models_dir, args.model)
    manifest = Manifest.load(version_dir / "manifest.json")
    started, busy0, own0 = time.monotonic(), busy_cpu_s(), own_cpu_s()
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {load_average()}")
    print(f"versions: {versions()}, {wrk_version()}")
    print(
        f"model: {args.model} v{manifest.version}, {manifest.image_size}×{manifest.image_size}"
        f"×{manifest.channels}, nz {manifest.nz}"
    )
    print(
        f"rounds: {args.rounds}, contenders alternated; {args.seconds} s per HTTP load after "
        f"{WARMUP_S} s of warm-up; wrk -t{THREADS} -c{CONNECTIONS} --timeout {WRK_TIMEOUT}; "
        f"service env {' '.join(f'{k}={v}' for k, v in (SERVICE_ENV | ALL_ADMITTED).items())}\n"
    )
    loads = routes(args.model)
    results = Results()
    with lua_scripts(loads) as scripts:
        run_rounds(contenders(args, loads, scripts, results), args.rounds)
    print_tables(results, loads)
    print_breakdown(results)
    print_ratios(results, loads)
    print(
        "\npeak server memory (VmHWM): "
        + ", ".join(f"{row} {mb:,.0f} MB" for row, mb in results.peak_rss_mb.items())
    )
    wall = time.monotonic() - started
    others = (busy_cpu_s() - busy0) - (own_cpu_s() - own0)
    cores = os.cpu_count() or 1
    print(
        f"run took {wall:.0f} s; other processes used {others:.0f} CPU-s meanwhile "
        f"({others / (wall * cores):.0%} of the machine); load average now {load_average()}"
    )


if __name__ == "__main__":
    main()
