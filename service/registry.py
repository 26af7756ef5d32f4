"""Discovers models/<name>/<version>/, validates them and opens onnxruntime sessions.

A bad version folder (missing or invalid manifest, sha256 mismatch, corrupt ONNX, shapes
that disagree with the manifest) becomes an *unavailable* entry with its reason; the other
models still serve. Only names matching ``service.manifest.NAME_PATTERN`` are looked at,
so a request can never resolve a path outside the models folder.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from service.manifest import MANIFEST_FILE, Manifest, is_valid_model_name, sha256_file
from service.settings import Settings

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
WARMUP_BATCHES = (1, 8)
NOT_ON_CUDA = "DCGAN_REQUIRE_CUDA is set but the CUDA provider could not be used"


class ProviderError(RuntimeError):
    """The requested execution provider is not available (require_cuda)."""


@dataclass
class ModelVersion:
    name: str
    version: int
    path: Path
    status: str  # "ready" | "unavailable"
    reason: str = ""
    manifest: Manifest | None = None
    session: ort.InferenceSession | None = None
    provider: str = ""
    batcher: Any = None  # service.batching.MicroBatcher, started by the app's lifespan

    def run(self, latents: np.ndarray) -> np.ndarray:
        assert self.session is not None and self.manifest is not None
        (images,) = self.session.run(
            [self.manifest.output_name], {self.manifest.input_name: latents}
        )
        return np.asarray(images)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"version": self.version, "status": self.status}
        if self.reason:
            info["reason"] = self.reason
        if self.manifest is not None and self.status == "ready":
            m = self.manifest
            info |= {
                "provider": self.provider,
                "input": {"name": m.input_name, "shape": ["N", m.nz], "dtype": "float32"},
                "output": {
                    "name": m.output_name,
                    "shape": ["N", m.channels, m.image_size, m.image_size],
                    "dtype": "float32",
                    "range": list(m.value_range),
                },
                "manifest": m.model_dump(mode="json"),
            }
        return info


@dataclass
class Registry:
    models: dict[str, dict[int, ModelVersion]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.models)

    def ready_names(self) -> list[str]:
        return sorted(
            n for n, vs in self.models.items() if any(v.status == "ready" for v in vs.values())
        )

    def default_version(self, name: str) -> ModelVersion | None:
        """The highest *ready* version, else the highest one (to report why it fails)."""
        versions = self.models.get(name, {})
        ready = [v for v in versions.values() if v.status == "ready"]
        pool = ready or list(versions.values())
        return max(pool, key=lambda v: v.version) if pool else None

    @property
    def ready(self) -> bool:
        return bool(self.ready_names())


def choose_providers(settings: Settings, available: list[str]) -> list[str]:
    wanted = settings.providers or [CUDA, CPU]
    chosen = [p for p in wanted if p in available]
    if settings.require_cuda and CUDA not in available:
        raise ProviderError(
            f"DCGAN_REQUIRE_CUDA is set but onnxruntime offers no CUDA provider "
            f"(available: {', '.join(available)}); install the gpu extra with its CUDA libraries"
        )
    return chosen or [CPU]


def preload_cuda_libraries(providers: list[str]) -> None:
    """Load the CUDA/cuDNN libraries of the nvidia-* pip wheels (the `gpu` extra) once.

    Without this, the CUDA provider finds them only through LD_LIBRARY_PATH; onnxruntime's
    own preload_dlls() knows where the wheels put them. A failure is logged, and the CUDA
    provider's own load error (then the CPU fallback) follows.
    """
    if CUDA in providers and hasattr(ort, "preload_dlls"):
        _preload_once()


@functools.cache
def _preload_once() -> None:
    try:
        ort.preload_dlls()
    except Exception as exc:  # a missing library is reported, not fatal: CPU still serves
        log.warning("could not preload CUDA libraries from the nvidia pip wheels: %s", exc)


def session_options(settings: Settings) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = _OPT_LEVELS[settings.graph_optimization_level]
    options.enable_cpu_mem_arena = settings.enable_cpu_mem_arena
    if settings.intra_op_threads:
        options.intra_op_num_threads = settings.intra_op_threads
    return options


def load_version(name: str, folder: Path, settings: Settings, providers: list[str]) -> ModelVersion:
    version = int(folder.name)
    try:
        manifest = Manifest.load(folder / MANIFEST_FILE)
    except FileNotFoundError:
        return ModelVersion(name, version, folder, "unavailable", f"{MANIFEST_FILE} is missing")
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        return ModelVersion(name, version, folder, "unavailable", f"invalid manifest: {first}")
    entry = ModelVersion(name, version, folder, "unavailable", manifest=manifest)
    if manifest.name != name or manifest.version != version:
        entry.reason = (
            f"manifest says {manifest.name} v{manifest.version}, folder is {name}/{version}"
        )
        return entry
    onnx_path = folder / manifest.onnx_file
    if not onnx_path.is_file():
        entry.reason = f"{manifest.onnx_file} is missing"
        return entry
    if sha256_file(onnx_path) != manifest.onnx_sha256:
        entry.reason = f"sha256 of {manifest.onnx_file} does not match the manifest"
        return entry
    try:
        session = ort.InferenceSession(
            str(onnx_path), session_options(settings), providers=providers
        )
    except Exception as exc:  # onnxruntime raises several private types for bad files
        entry.reason = f"onnxruntime cannot load {manifest.onnx_file}: {str(exc).splitlines()[0]}"
        return entry
    problem = check_signature(session, manifest)
    if problem:
        entry.reason = problem
        return entry
    entry.session, entry.provider = session, session.get_providers()[0]
    if settings.require_cuda and entry.provider != CUDA:
        # onnxruntime-gpu falls back to the CPU when the GPU or its libraries are missing
        entry.session, entry.reason = None, f"{NOT_ON_CUDA} (it fell back to {entry.provider})"
        return entry
    try:
        for batch in WARMUP_BATCHES:  # first runs allocate and tune: pay that before serving
            entry.run(np.zeros((batch, manifest.nz), np.float32))
    except Exception as exc:
        entry.session, entry.reason = None, f"warm-up failed: {str(exc).splitlines()[0]}"
        return entry
    entry.status = "ready"
    fallback = "" if entry.provider == providers[0] else f" ({providers[0]} requested, not usable)"
    log.info("model %s v%d runs on %s%s", name, version, entry.provider, fallback)
    return entry


def check_signature(session: ort.InferenceSession, manifest: Manifest) -> str:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != [manifest.input_name] or manifest.output_name not in [
        o.name for o in outputs
    ]:
        return f"ONNX inputs/outputs are not {manifest.input_name} -> {manifest.output_name}"
    if list(inputs[0].shape)[1:] != [manifest.nz]:
        return f"ONNX input shape {inputs[0].shape} does not match nz={manifest.nz}"
    out_shape = next(o.shape for o in outputs if o.name == manifest.output_name)
    expected = [manifest.channels, manifest.image_size, manifest.image_size]
    if list(out_shape)[1:] != expected:
        return f"ONNX output shape {out_shape} does not match manifest [N, {expected}]"
    return ""


def unchanged(previous: ModelVersion | None, folder: Path) -> bool:
    """Same manifest and same ONNX bytes as an already loaded, ready version."""
    if previous is None or previous.status != "ready" or previous.manifest is None:
        return False
    try:
        manifest = Manifest.load(folder / MANIFEST_FILE)
        return manifest == previous.manifest and (
            sha256_file(folder / manifest.onnx_file) == manifest.onnx_sha256
        )
    except (OSError, ValueError):
        return False


def check_required_cuda(settings: Settings, registry: Registry) -> None:
    """At start-up, DCGAN_REQUIRE_CUDA turns a CPU fallback into an error, not a CPU service."""
    if not settings.require_cuda:
        return
    for versions in registry.models.values():
        for entry in versions.values():
            if entry.reason.startswith(NOT_ON_CUDA):
                raise ProviderError(
                    f"model {entry.name} v{entry.version}: {entry.reason}; is the GPU visible "
                    "to this process, and are the gpu extra's CUDA libraries installed?"
                )


def discover(settings: Settings, previous: Registry | None = None) -> Registry:
    providers = choose_providers(settings, ort.get_available_providers())
    log.info("onnxruntime %s, providers in order: %s", ort.__version__, ", ".join(providers))
    preload_cuda_libraries(providers)
    registry = Registry()
    root = settings.models_dir
    if not root.is_dir():
        log.warning("models folder %s does not exist: serving no models", root.resolve())
        return registry
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if not is_valid_model_name(model_dir.name):
            if not model_dir.name.startswith("."):
                log.warning("ignoring %s: not a valid model name", model_dir)
            continue
        for folder in sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()):
            old = (
                previous.models.get(model_dir.name, {}).get(int(folder.name)) if previous else None
            )
            if unchanged(old, folder):
                assert old is not None
                registry.models.setdefault(model_dir.name, {})[old.version] = old
                continue
            entry = load_version(model_dir.name, folder, settings, providers)
            if entry.status != "ready":
                log.warning("model %s v%s unavailable: %s", entry.name, entry.version, entry.reason)
            registry.models.setdefault(model_dir.name, {})[entry.version] = entry
    return registry
