"""Everything a GPU changes, measured side by side in one run (`make bench-gpu`).

On whatever device torch finds: a CUDA GPU at full size, else the CPU at tiny sizes (the same
code paths, so this script never rots; the report then says that no GPU was found).

1. **training**: images/s of `dcgan64` and `simpsons64` (full width, the seeds' batch size):
   the pytorch/examples loop (``bench_training.reference_loop``) against `dcgan train`'s step
   in fp32, with channels_last, AMP bf16 / fp16, ``--compile``, and with the data set in pinned
   host memory instead of on the GPU. Steady state: timed steps after warm-up steps.
2. **inference**: onnxruntime's CUDA provider, its CPU provider and torch eager for the bundled
   generators (models/) and a full-width `simpsons64` export, batch 1..256, fp32 and fp16
   weights. Each run includes moving the latents in and the images back to host memory, as a
   server needs them. Torch runs the same architecture with random weights (the models folder
   holds ONNX only): the same work per image.
3. **service**: ``python -m service`` on the bundled models (CUDA provider when onnxruntime
   offers it) under ``hey`` load (Debian package; a Python client where it is missing):
   ``POST /generate?model=cartoon-faces {}`` at 1 and 64 connections, batching on (defaults)
   and off (``DCGAN_MAX_BATCH_SIZE=1``), after a warm-up of the same load.
4. **workers**: the same load at 64 connections with 1, 2, 4 and 8 HTTP workers, each count
   twice: every worker with its own onnxruntime session (``DCGAN_ENGINE=inprocess``) and all of
   them feeding the one shared engine (``DCGAN_ENGINE=shared``, service.engine).

Writes bench-gpu.md and bench-gpu.json into --out and prints both paths. Measures; asserts
nothing. One failing cell is reported as an error and the rest still runs.

    make bench-gpu
    .venv/bin/python bench/bench_gpu.py --sections inference service --out /tmp/gpu
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_service import cpu_model
from bench.bench_training import make_folder, reference_loop
from bench.naive_torch_server import load_generator
from contract.folders import version_number
from service.core.settings import Settings
from service.inference.registry import CPU, CUDA, preload_cuda_libraries, session_options
from testkit.load import hey, python_load
from testkit.servers import running_server
from training.export.onnx_export import ExportOptions, to_fp16, torch_to_onnx
from training.loop.train import Trainer
from training.nets.config import TrainConfig
from training.nets.models import Generator, build_config

REPO = Path(__file__).resolve().parents[1]
Row = dict[str, Any]
SECTIONS = ("training", "inference", "service", "workers")
ENGINE_MODES = ("inprocess", "shared")
NO_GPU = "no GPU found: the CPU ran every section at tiny sizes"


@dataclass(frozen=True)
class Plan:
    """How big each section runs: full on a GPU, tiny on a CPU."""

    width: float  # model width multiplier (1 = the seed documents' architecture)
    train_batch: int | None  # None: the preset's own (128 for both presets)
    warmup_steps: int
    timed_steps: int  # per window; the rate is the median of `windows` windows
    windows: int
    folder_images: int  # JPEGs in the synthetic training folder
    infer_batches: tuple[int, ...]
    infer_seconds: float  # per inference cell, after warm-up
    load_seconds: float  # per service load, after the same length of warm-up
    connections: tuple[int, ...] = (1, 64)
    workers: tuple[int, ...] = (1, 2, 4, 8)


GPU_PLAN = Plan(1.0, None, 10, 100, 3, 2048, (1, 8, 64, 256), 1.0, 10.0)
TINY_PLAN = Plan(0.125, 8, 1, 2, 2, 32, (1, 4), 0.1, 1.0, workers=(1, 2))


@dataclass(frozen=True)
class Variant:
    """One way of running `dcgan train`'s step (its flags: --amp, --channels-last, --compile)."""

    label: str
    amp: str
    channels_last: bool
    compile: bool = False
    host_data: bool = False  # the data set in pinned host memory, copied per batch


VARIANTS = (
    Variant("fp32", "off", False),
    Variant("fp32, channels_last", "off", True),
    Variant("bf16, channels_last (default)", "bf16", True),
    Variant("fp16, channels_last", "fp16", True),
    Variant("bf16, compile (NCHW: inductor picks layouts)", "bf16", False, compile=True),
    Variant("bf16, channels_last, data in host memory", "bf16", True, host_data=True),
)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def guarded(row: Row, measure: Callable[[], Row]) -> Row:
    """Run one cell; an exception becomes the row's ``error`` (the rest of the run goes on)."""
    try:
        row.update(measure())
    except Exception as exc:  # a benchmark reports what broke, it does not stop at it
        row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
    release_memory()
    return row


# ---- 1. training ----------------------------------------------------------------------------


def train_variant(
    folder: Path, root: Path, preset: str, plan: Plan, batch: int, variant: Variant
) -> Row:
    cfg = TrainConfig(
        preset=preset,
        data=str(folder),
        width=plan.width,
        batch_size=batch,
        max_steps=plan.warmup_steps + plan.timed_steps * plan.windows,
        run_dir=root / f"run-{preset}",
        cache_dir=root / "cache",
        amp=variant.amp,  # type: ignore[arg-type]
        channels_last=variant.channels_last,
        compile=variant.compile,
        progress=False,
    )
    trainer = Trainer(cfg)
    if variant.host_data and trainer.device.type == "cuda":
        trainer.data.images = trainer.data.images.cpu().pin_memory()
    batches = trainer._batches()
    start = time.perf_counter()
    for _ in range(plan.warmup_steps):  # cuDNN autotuning and compilation stay out
        trainer.train_step(next(batches)[1])
        trainer.step += 1
    synchronize(trainer.device)
    warmup_s = time.perf_counter() - start
    rates = []
    for _ in range(plan.windows):
        t0 = time.perf_counter()
        for _ in range(plan.timed_steps):
            trainer.train_step(next(batches)[1])
            trainer.step += 1
        synchronize(trainer.device)
        rates.append(plan.timed_steps * batch / (time.perf_counter() - t0))
    images = trainer.data.images
    place = "pinned host" if images.is_pinned() else images.device.type
    amp = str(trainer.amp).removeprefix("torch.") if trainer.amp else "fp32"
    ran_as = f"{amp}, {'channels_last' if trainer.channels_last else 'NCHW'}, data on {place}"
    ran_as += ", compiled" if variant.compile else ""
    spread = f"{min(rates):,.0f}–{max(rates):,.0f}"
    return {
        "images_per_s": statistics.median(rates),
        "spread": spread,
        "ran_as": ran_as,
        "warmup_s": warmup_s,
    }


def training_section(plan: Plan, device: torch.device, presets: list[str]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_folder(root, plan.folder_images)
        for preset in presets:
            batch = plan.train_batch or build_config(preset).train.batch_size
            base = {"preset": preset, "width": plan.width, "batch": batch}
            ref = {**base, "loop": "pytorch/examples (fp32, DataLoader, 2 workers)"}
            rows.append(
                guarded(
                    ref,
                    lambda p=preset, b=batch: {
                        "images_per_s": reference_loop(
                            folder,
                            p,
                            plan.width,
                            b,
                            plan.timed_steps * plan.windows,
                            device=device,
                            warmup=plan.warmup_steps,
                        ),
                        "ran_as": f"fp32, NCHW, JPEGs decoded per epoch, {device.type}",
                    },
                )
            )
            print_row("training", rows[-1])
            for variant in VARIANTS:
                row = {**base, "loop": f"dcgan train: {variant.label}"}
                rows.append(
                    guarded(
                        row,
                        lambda p=preset, b=batch, v=variant: train_variant(
                            folder, root, p, plan, b, v
                        ),
                    )
                )
                print_row("training", rows[-1])
            reference = rows[-len(VARIANTS) - 1].get("images_per_s")
            for row in rows[-len(VARIANTS) - 1 :]:
                if reference and "images_per_s" in row:
                    row["vs_reference"] = row["images_per_s"] / reference
    return rows


# ---- 2. inference ---------------------------------------------------------------------------


@dataclass
class InferenceModel:
    name: str
    onnx: dict[str, Path]  # precision -> ONNX file
    generator: Generator  # the same architecture in torch (random weights)


def bundled_models(models_dir: Path) -> list[tuple[str, Path]]:
    """(name, newest version folder) of every model under ``models_dir``."""
    found = []
    for folder in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        versions = [
            v
            for v in folder.iterdir()
            if version_number(v.name) is not None and (v / "manifest.json").exists()
        ]
        if versions:
            found.append((folder.name, max(versions, key=lambda v: int(v.name))))
    return found


def both_precisions(
    name: str, onnx: Path, dtype: str, generator: Generator, root: Path
) -> InferenceModel:
    """The file as it is, plus the other precision (fp16: converted; fp32: exported from torch)."""
    other = root / f"{name}-other.onnx"
    if dtype == "float16":
        torch_to_onnx(generator, other, ExportOptions().opset)
        return InferenceModel(name, {"fp32": other, "fp16": onnx}, generator)
    shutil.copy(onnx, other)
    to_fp16(other)
    return InferenceModel(name, {"fp32": onnx, "fp16": other}, generator)


def inference_models(models_dir: Path, plan: Plan, root: Path) -> list[InferenceModel]:
    models = []
    for name, version in bundled_models(models_dir):
        dtype = json.loads((version / "manifest.json").read_text()).get("dtype", "float32")
        generator = load_generator(version)
        models.append(both_precisions(name, version / "generator.onnx", dtype, generator, root))
    simpsons = Generator(build_config("simpsons64", width=plan.width)).eval()
    onnx_path = root / "simpsons64.onnx"
    torch_to_onnx(simpsons, onnx_path, ExportOptions().opset)
    label = "simpsons64 (random weights)" if plan.width == 1 else f"simpsons64 ×{plan.width:g}"
    models.append(both_precisions(label, onnx_path, "float32", simpsons, root))
    return models


def time_runs(run: Callable[[], object], seconds: float, min_runs: int = 3) -> float:
    """Median seconds per run, after two warm-up runs (CUDA picks its kernels on the first)."""
    for _ in range(2):
        run()
    took: list[float] = []
    start = time.perf_counter()
    while len(took) < min_runs or (time.perf_counter() - start < seconds and len(took) < 500):
        t = time.perf_counter()
        run()
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def ort_runner(path: Path, provider: str, batch: int, nz: int) -> Callable[[], object]:
    providers = [provider] if provider == CPU else [provider, CPU]
    session = ort.InferenceSession(str(path), session_options(Settings()), providers=providers)
    if (used := session.get_providers()[0]) != provider:
        raise RuntimeError(f"{provider} was asked for but the session fell back to {used}")
    z = np.random.default_rng(0).standard_normal((batch, nz), dtype=np.float32)
    return lambda: session.run(None, {"z": z})


def torch_runner(
    generator: Generator, precision: str, device: torch.device, batch: int
) -> Callable[[], object]:
    dtype = torch.float16 if precision == "fp16" else torch.float32
    net = generator.to(device=device, dtype=dtype)
    z = torch.randn(batch, generator.config.nz)

    @torch.inference_mode()
    def run() -> object:
        out = net(z.to(device=device, dtype=dtype)).cpu()  # .cpu() waits for the device
        return out

    return run


def inference_section(plan: Plan, device: torch.device, models_dir: Path) -> list[Row]:
    rows: list[Row] = []
    providers = [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]
    preload_cuda_libraries(providers)
    with tempfile.TemporaryDirectory() as tmp:
        for model in inference_models(models_dir, plan, Path(tmp)):
            nz = model.generator.config.nz
            for precision, path in model.onnx.items():
                for batch in plan.infer_batches:
                    runners = [
                        (
                            f"onnxruntime {p.removesuffix('ExecutionProvider')}",
                            functools.partial(ort_runner, path, p, batch, nz),
                        )
                        for p in providers
                    ]
                    runners.append(
                        (
                            f"torch eager {device.type}",
                            functools.partial(
                                torch_runner, model.generator, precision, device, batch
                            ),
                        )
                    )
                    for label, make in runners:
                        row = {"model": model.name, "precision": precision, "batch": batch}
                        row["runtime"] = label
                        measure = functools.partial(measure_inference, make, batch, plan)
                        rows.append(guarded(row, measure))
                        print_row("inference", rows[-1])
            model.generator.to(device="cpu", dtype=torch.float32)
    return rows


def measure_inference(make: Callable[[], Callable[[], object]], batch: int, plan: Plan) -> Row:
    run = make()
    seconds = time_runs(run, plan.infer_seconds)
    return {"ms_per_batch": seconds * 1e3, "images_per_s": batch / seconds}


# ---- 3. the service under load ------------------------------------------------------------


def service_section(plan: Plan, models_dir: Path, model: str) -> list[Row]:
    load = hey if shutil.which("hey") else python_load
    rows: list[Row] = []
    for batching, env in (("on", {}), ("off", {"DCGAN_MAX_BATCH_SIZE": "1"})):
        with running_server(models_dir, {"DCGAN_LOG_LEVEL": "warning", **env}) as srv:
            described = httpx.get(f"{srv.url}/models/{model}", timeout=10).json()
            provider = ",".join(sorted(set(re.findall(r"'provider': '(\w+)'", str(described)))))
            url = f"{srv.url}/generate?model={model}"
            for connections in plan.connections:
                row: Row = {
                    "model": model,
                    "provider": provider.removesuffix("ExecutionProvider"),
                    "batching": batching,
                    "connections": connections,
                }

                def measure(u: str = url, c: int = connections) -> Row:
                    load(u, c, plan.load_seconds)  # warm-up
                    return dataclasses.asdict(load(u, c, plan.load_seconds))

                rows.append(guarded(row, measure))
                print_row("service", rows[-1])
    return rows


def workers_section(plan: Plan, models_dir: Path, model: str) -> list[Row]:
    """Single-image requests at the most connections, by worker count and engine mode."""
    load = hey if shutil.which("hey") else python_load
    connections = max(plan.connections)
    rows: list[Row] = []
    for workers in plan.workers:
        for engine in ENGINE_MODES:
            env = {
                "DCGAN_LOG_LEVEL": "warning",
                "DCGAN_WORKERS": str(workers),
                "DCGAN_ENGINE": engine,
            }
            row: Row = {"model": model, "workers": workers, "engine": engine}

            def measure(e: dict[str, str] = env) -> Row:
                with running_server(models_dir, e) as srv:
                    url = f"{srv.url}/generate?model={model}"
                    load(url, connections, plan.load_seconds)  # warm-up (every worker)
                    measured = dataclasses.asdict(load(url, connections, plan.load_seconds))
                    # the engine's own gauges: proof that the mode asked for is the one that ran
                    text = httpx.get(f"{srv.url}/metrics", timeout=10).text
                    seen = re.search(r"^dcgan_engine_generation\S* [1-9]", text, re.M) is not None
                return {"connections": connections, "engine_seen": seen, **measured}

            rows.append(guarded(row, measure))
            print_row("workers", rows[-1])
    return rows


# ---- environment and report -----------------------------------------------------------------


def command_output(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        if done.returncode == 0:
            return done.stdout.strip()
    return ""


def environment(device: torch.device) -> dict[str, str]:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else NO_GPU
    smi = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
    return {
        "device": gpu,
        "driver": command_output(smi) or "–",
        "torch": f"{torch.__version__} (CUDA {torch.version.cuda or '–'}, "
        f"cuDNN {torch.backends.cudnn.version() or '–'})",
        "onnxruntime": f"{ort.__version__} ({Path(ort.__file__).parent}), providers "
        f"{', '.join(ort.get_available_providers())}",
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load generator": "hey" if shutil.which("hey") else "python threads (hey not installed)",
        "commit": command_output(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
        or "–",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


LOAD_COLUMNS = ["connections", "client", "requests_per_s", "p50_ms", "p99_ms", "non_200"]
COLUMNS = {
    "training": [
        "preset",
        "width",
        "batch",
        "loop",
        "ran_as",
        "images_per_s",
        "spread",
        "vs_reference",
        "warmup_s",
    ],
    "inference": ["model", "precision", "batch", "runtime", "ms_per_batch", "images_per_s"],
    "service": ["model", "provider", "batching", *LOAD_COLUMNS],
    "workers": ["model", "workers", "engine", "engine_seen", *LOAD_COLUMNS],
}


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def table(section: str, rows: list[Row]) -> str:
    columns = [*COLUMNS[section], "error"] if any("error" in r for r in rows) else COLUMNS[section]
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def print_row(section: str, row: Row) -> None:
    cells = ", ".join(f"{c}={fmt(row[c])}" for c in [*COLUMNS[section], "error"] if c in row)
    print(f"[{section}] {cells}", flush=True)


def report(env: dict[str, str], plan: Plan, results: dict[str, list[Row]]) -> str:
    lines = ["# bench/bench_gpu.py", ""]
    if env["device"] == NO_GPU:
        lines += [f"**{NO_GPU}.** These numbers say nothing about a GPU.", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += [f"- plan: {dataclasses.asdict(plan)}", ""]
    for section, rows in results.items():
        lines += [f"## {section}", "", table(section, rows), ""]
    return "\n".join(lines)


@contextlib.contextmanager
def timed(section: str) -> Iterator[None]:
    start = time.perf_counter()
    print(f"== {section}", flush=True)
    yield
    print(f"== {section}: {time.perf_counter() - start:.0f} s", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--presets", nargs="+", default=["dcgan64", "simpsons64"])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--service-model", default="cartoon-faces")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes even on a GPU")
    parser.add_argument("--train-batch", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for bench-gpu.md/.json (default: bench/results/gpu-<UTC time>)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    plan = TINY_PLAN if args.tiny or device.type == "cpu" else GPU_PLAN
    if args.train_batch:
        plan = dataclasses.replace(plan, train_batch=args.train_batch)
    env = environment(device)
    if device.type == "cpu":
        print(f"{NO_GPU}.", flush=True)
    print("\n".join(f"{k}: {v}" for k, v in env.items()), flush=True)
    results: dict[str, list[Row]] = {}
    for section in args.sections:
        with timed(section):
            if section == "training":
                results[section] = training_section(plan, device, args.presets)
            elif section == "inference":
                results[section] = inference_section(plan, device, args.models_dir)
            elif section == "service":
                results[section] = service_section(plan, args.models_dir, args.service_model)
            else:
                results[section] = workers_section(plan, args.models_dir, args.service_model)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or REPO / "bench" / "results" / f"gpu-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    markdown = report(env, plan, results)
    (out / "bench-gpu.md").write_text(markdown)
    payload = {"environment": env, "plan": dataclasses.asdict(plan), **results}
    (out / "bench-gpu.json").write_text(json.dumps(payload, indent=1))
    print("\n" + markdown)
    print(f"wrote {out / 'bench-gpu.md'} and {out / 'bench-gpu.json'}")


if __name__ == "__main__":
    main()
