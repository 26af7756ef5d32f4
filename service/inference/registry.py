"""Discovers models/<name>/<version>/, validates them and opens onnxruntime sessions.

A bad version folder (missing, unreadable or invalid manifest, sha256 mismatch, corrupt ONNX,
shapes that disagree with the manifest, a file that is not a regular file, a symlink out of
the models folder) becomes an *unavailable* entry with its reason; the other models still
serve, and discovery never raises. Reasons are shown by the API: they name files as in their
version folder (``manifest.json``) and carry no host path.

A request can never resolve a path outside the models folder: it only names a model and a
version, looked up in the registry built here. Discovery looks only at model names matching
``contract.manifest.NAME_PATTERN`` and version folders named by canonical decimal integers
(``1``, ``10``; never ``01`` or ``²``), resolves every folder and file it uses (symlinks
followed) and refuses any that lands outside the resolved models folder. It opens regular
files only, so a FIFO or a device cannot block start-up.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import onnxruntime as ort

from contract.exports import CPU, CUDA, open_export
from contract.folders import (
    checksum_problem,
    existing_folder,
    folder_inside,
    read_manifest,
    regular_file_inside,
    sanitize,
    subfolders,
    version_number,
)
from contract.imaging import to_uint8
from contract.manifest import (
    CARD_FILES,
    Manifest,
    is_valid_model_name,
)
from service.core.settings import Settings
from service.inference.batching import MicroBatcher

log = logging.getLogger("service.registry")  # not __name__: the name log lines always had

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


class Runner(Protocol):
    """Runs a version elsewhere (the shared engine): latents -> uint8 pixels."""

    def run(self, latents: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


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
    # lifecycle, owned by service.runtime.lifecycle.ModelManager
    batcher: MicroBatcher | None = None
    leases: int = 0  # requests holding this version right now
    retired: bool = False  # replaced or removed by a reload: closed when leases reach 0
    files: tuple[str, ...] = ()  # the CARD_FILES present (checked at discovery)
    # set in a worker of the shared engine: the engine runs it and returns uint8 pixels
    remote: Runner | None = None
    handle: str = ""  # the engine's name for this loaded version

    def run(self, latents: np.ndarray) -> np.ndarray:
        if self.remote is not None:
            return self.remote.run(latents)
        assert self.session is not None and self.manifest is not None
        (images,) = self.session.run(
            [self.manifest.output_name], {self.manifest.input_name: latents}
        )
        return np.asarray(images)

    def pixels(self, images: np.ndarray) -> np.ndarray:
        """Generator output [N, C, H, W] -> [N, H, W, C] uint8 (the manifest's value range);
        the shared engine's output is uint8 pixels already."""
        if images.dtype == np.uint8:
            return images
        assert self.manifest is not None
        return to_uint8(images, self.manifest.value_range)

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
                "files": list(self.files),
            }
        return info


@dataclass
class Registry:
    models: dict[str, dict[int, ModelVersion]] = field(default_factory=dict)
    _defaults: dict[str, ModelVersion | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def names(self) -> list[str]:
        return sorted(self.models)

    def ready_names(self) -> list[str]:
        return sorted(
            n for n, vs in self.models.items() if any(v.status == "ready" for v in vs.values())
        )

    def default_version(self, name: str) -> ModelVersion | None:
        """The highest *ready* version, else the highest one (to report why it fails).

        Remembered per name: a registry is complete once published (a reload builds a new
        one), and this runs for every request that names no version."""
        if name in self._defaults:
            return self._defaults[name]
        versions = self.models.get(name, {})
        ready = [v for v in versions.values() if v.status == "ready"]
        pool = ready or list(versions.values())
        found = max(pool, key=lambda v: v.version) if pool else None
        if versions:  # an unknown name is not remembered: names come from clients
            self._defaults[name] = found
        return found

    @property
    def ready(self) -> bool:
        return bool(self.ready_names())


def ready_versions(registry: Registry) -> list[ModelVersion]:
    return [v for vs in registry.models.values() for v in vs.values() if v.status == "ready"]


def registry_diff(old: Registry, new: Registry) -> dict[str, Any]:
    """What a reload changed: added, removed, reloaded (new weights) and failed versions."""

    def keys(reg: Registry) -> dict[tuple[str, int], ModelVersion]:
        return {(n, v): e for n, vs in reg.models.items() for v, e in vs.items()}

    before, after = keys(old), keys(new)
    return {
        "added": sorted(f"{n}/{v}" for (n, v) in after.keys() - before.keys()),
        "removed": sorted(f"{n}/{v}" for (n, v) in before.keys() - after.keys()),
        "reloaded": sorted(
            f"{n}/{v}"
            for (n, v), e in after.items()
            if (n, v) in before and before[(n, v)] is not e and e.status == "ready"
        ),
        "failed": [
            {"model": e.name, "version": e.version, "reason": e.reason}
            for e in after.values()
            if e.status != "ready"
        ],
    }


class LookupProblem(LookupError):
    """What a request asked for is not servable (the API layer says so over HTTP)."""


class UnknownModel(LookupProblem):
    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(f"unknown model {name!r}")
        self.name, self.available = name, available


class UnknownVersion(LookupProblem):
    def __init__(self, name: str, version: int, versions: list[int]) -> None:
        super().__init__(f"model {name!r} has no version {version}")
        self.name, self.version, self.versions = name, version, versions


class VersionUnavailable(LookupProblem):
    def __init__(self, entry: ModelVersion) -> None:
        super().__init__(f"{entry.name} v{entry.version} is unavailable: {entry.reason}")
        self.entry = entry


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
    if not settings.intra_op_spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def load_version(
    name: str,
    folder: Path,
    settings: Settings,
    providers: list[str],
    *,
    root: Path | None = None,
) -> ModelVersion:
    """Load ``folder`` (models/<name>/<version>/), or an unavailable entry saying why not.

    The checks are the contract's (``contract.exports.open_export``: paths inside ``root``,
    regular files, manifest, sha256, signature); then the provider and a warm-up.
    """
    version = version_number(folder.name)
    if version is None:
        raise ValueError(f"not a version folder name: {folder.name!r}")
    real_root = Path(os.path.realpath(folder.parent.parent if root is None else root))
    opened = open_export(folder, providers, session_options(settings), name=name, root=real_root)
    entry = ModelVersion(name, version, folder, "unavailable", opened.reason, opened.manifest)
    if opened.session is None or opened.manifest is None:
        return entry
    session, manifest = opened.session, opened.manifest
    entry.session, entry.provider = session, session.get_providers()[0]
    if settings.require_cuda and entry.provider != CUDA:
        # onnxruntime-gpu falls back to the CPU when the GPU or its libraries are missing
        entry.session, entry.reason = None, f"{NOT_ON_CUDA} (it fell back to {entry.provider})"
        return entry
    try:
        for batch in WARMUP_BATCHES:  # first runs allocate and tune: pay that before serving
            entry.run(np.zeros((batch, manifest.nz), np.float32))
    except Exception as exc:
        detail = sanitize(str(exc), folder, real_root)
        entry.session, entry.reason = None, f"warm-up failed: {detail}"
        return entry
    entry.status, entry.files = "ready", card_files(real_root, folder)
    fallback = "" if entry.provider == providers[0] else f" ({providers[0]} requested, not usable)"
    log.info("model %s v%d runs on %s%s", name, version, entry.provider, fallback)
    return entry


def unchanged(previous: ModelVersion | None, folder: Path, *, root: Path | None = None) -> bool:
    """Same manifest and same ONNX bytes as an already loaded, ready version.

    The same rules as load_version (``root`` likewise), and it never raises: in any doubt
    the answer is False, and load_version then says what is wrong.
    """
    if previous is None or previous.status != "ready" or previous.manifest is None:
        return False
    try:
        real_root = Path(os.path.realpath(folder.parent.parent if root is None else root))
        if folder_inside(real_root, folder, "the version folder"):
            return False
        manifest = read_manifest(real_root, folder)
        if isinstance(manifest, str) or manifest != previous.manifest:
            return False
        onnx_path = folder / manifest.onnx_file
        return not (
            regular_file_inside(real_root, onnx_path) or checksum_problem(onnx_path, manifest)
        )
    except Exception:
        log.debug("cannot compare %s with the loaded version", folder, exc_info=True)
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
    """Every models/<name>/<version>/ as a ready or unavailable entry; never raises.

    ``previous`` entries whose files are unchanged are kept as they are (no reload).
    """
    providers = choose_providers(settings, ort.get_available_providers())
    log.info("onnxruntime %s, providers in order: %s", ort.__version__, ", ".join(providers))
    preload_cuda_libraries(providers)
    registry = Registry()
    root = settings.models_dir
    real_root = existing_folder(root)
    if real_root is None:
        log.warning(
            "models folder %s does not exist or cannot be read: serving no models",
            os.path.abspath(root),
        )
        return registry
    for model_dir in subfolders(root, "the models folder"):
        name = model_dir.name
        if not is_valid_model_name(name):
            if not name.startswith("."):
                log.warning("ignoring %r in the models folder: not a valid model name", name)
            continue
        problem = folder_inside(real_root, model_dir, "its folder")
        if problem:
            log.warning("ignoring model %s: %s", name, problem)
            continue
        for folder in subfolders(model_dir, f"the folder of model {name}"):
            version = version_number(folder.name)
            if version is None:
                if not folder.name.startswith("."):  # exports are staged in hidden folders
                    log.warning(
                        "ignoring %r in the folder of model %s: version folders are canonical "
                        "decimal integers (1, 2, ...)",
                        folder.name,
                        name,
                    )
                continue
            old = previous.models.get(name, {}).get(version) if previous else None
            entry = _discover_version(name, version, folder, real_root, settings, providers, old)
            if entry.status != "ready":
                log.warning("model %s v%s unavailable: %s", entry.name, entry.version, entry.reason)
            registry.models.setdefault(name, {})[version] = entry
    return registry


def card_files(root: Path, folder: Path) -> tuple[str, ...]:
    """The CARD_FILES of a version folder that are regular files inside ``root``."""
    return tuple(f for f in CARD_FILES if not regular_file_inside(root, folder / f))


def open_card_file(root: Path, folder: Path, file: str) -> BinaryIO | None:
    """A CARD_FILES picture of a version folder, open for reading (blocking I/O: call it in a
    thread), or None when it is missing or is not a regular file inside the models folder
    ``root``."""
    if file not in CARD_FILES:
        raise ValueError(f"not a model card file: {file!r}")
    path = folder / file
    if regular_file_inside(Path(os.path.realpath(root)), path):
        return None
    try:
        return path.open("rb")
    except OSError:
        return None


def _discover_version(
    name: str,
    version: int,
    folder: Path,
    root: Path,
    settings: Settings,
    providers: list[str],
    old: ModelVersion | None,
) -> ModelVersion:
    """``old`` if its files are unchanged, else a fresh load; never raises."""
    try:
        if old is not None and unchanged(old, folder, root=root):
            old.files = card_files(root, folder)  # pictures can change while the weights do not
            return old
        return load_version(name, folder, settings, providers, root=root)
    except Exception as exc:  # a bug or an odd file must not abort the scan of the others
        log.exception("model %s v%d: unexpected error", name, version)
        detail = sanitize(str(exc), folder, root)
        reason = f"unexpected error: {type(exc).__name__}: {detail}"
        return ModelVersion(name, version, folder, "unavailable", reason)
