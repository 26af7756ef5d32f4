"""Discovers models/<name>/<version>/, validates them and opens onnxruntime sessions.

A bad version folder (missing, unreadable or invalid manifest, sha256 mismatch, corrupt ONNX,
shapes that disagree with the manifest, a file that is not a regular file, a symlink out of
the models folder) becomes an *unavailable* entry with its reason; the other models still
serve, and discovery never raises. Reasons are shown by the API: they name files as in their
version folder (``manifest.json``) and carry no host path.

A request can never resolve a path outside the models folder: it only names a model and a
version, looked up in the registry built here. Discovery looks only at model names matching
``service.manifest.NAME_PATTERN`` and version folders named by canonical decimal integers
(``1``, ``10``; never ``01`` or ``²``), resolves every folder and file it uses (symlinks
followed) and refuses any that lands outside the resolved models folder. It opens regular
files only, so a FIFO or a device cannot block start-up.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnxruntime as ort
from pydantic import ValidationError

from service.batching import MicroBatcher
from service.imaging import to_uint8
from service.manifest import (
    CARD_FILES,
    MANIFEST_FILE,
    Manifest,
    ManifestTooLarge,
    is_valid_model_name,
    sha256_file,
)
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
    # lifecycle, owned by service.lifecycle.ModelManager
    batcher: MicroBatcher | None = None
    leases: int = 0  # requests holding this version right now
    retired: bool = False  # replaced or removed by a reload: closed when leases reach 0
    files: tuple[str, ...] = ()  # the CARD_FILES present (checked at discovery)

    def run(self, latents: np.ndarray) -> np.ndarray:
        assert self.session is not None and self.manifest is not None
        (images,) = self.session.run(
            [self.manifest.output_name], {self.manifest.input_name: latents}
        )
        return np.asarray(images)

    def pixels(self, images: np.ndarray) -> np.ndarray:
        """Generator output [N, C, H, W] -> [N, H, W, C] uint8 (the manifest's value range)."""
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

    ``root`` is the models folder (default: two levels above ``folder``). Nothing that
    resolves outside it is opened, and nothing that is not a regular file. The folder's name
    must be a canonical version number (discover only passes those).
    """
    version = _version_number(folder.name)
    if version is None:
        raise ValueError(f"not a version folder name: {folder.name!r}")
    real_root = Path(os.path.realpath(folder.parent.parent if root is None else root))
    problem = _folder_inside(real_root, folder, "the version folder")
    if problem:
        return ModelVersion(name, version, folder, "unavailable", problem)
    manifest = _read_manifest(real_root, folder)
    if isinstance(manifest, str):
        return ModelVersion(name, version, folder, "unavailable", manifest)
    entry = ModelVersion(name, version, folder, "unavailable", manifest=manifest)
    if manifest.name != name or manifest.version != version:
        entry.reason = (
            f"manifest says {manifest.name} v{manifest.version}, folder is {name}/{version}"
        )
        return entry
    onnx_path = folder / manifest.onnx_file
    entry.reason = _regular_file_inside(real_root, onnx_path) or _checksum_problem(
        onnx_path, manifest
    )
    if entry.reason:
        return entry
    try:
        session = ort.InferenceSession(
            str(onnx_path), session_options(settings), providers=providers
        )
    except Exception as exc:  # onnxruntime raises several private types for bad files
        detail = _sanitize(str(exc), folder, real_root)
        entry.reason = f"onnxruntime cannot load {manifest.onnx_file}: {detail}"
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
        detail = _sanitize(str(exc), folder, real_root)
        entry.session, entry.reason = None, f"warm-up failed: {detail}"
        return entry
    entry.status, entry.files = "ready", card_files(real_root, folder)
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


def unchanged(previous: ModelVersion | None, folder: Path, *, root: Path | None = None) -> bool:
    """Same manifest and same ONNX bytes as an already loaded, ready version.

    The same rules as load_version (``root`` likewise), and it never raises: in any doubt
    the answer is False, and load_version then says what is wrong.
    """
    if previous is None or previous.status != "ready" or previous.manifest is None:
        return False
    try:
        real_root = Path(os.path.realpath(folder.parent.parent if root is None else root))
        if _folder_inside(real_root, folder, "the version folder"):
            return False
        manifest = _read_manifest(real_root, folder)
        if isinstance(manifest, str) or manifest != previous.manifest:
            return False
        onnx_path = folder / manifest.onnx_file
        return not (
            _regular_file_inside(real_root, onnx_path) or _checksum_problem(onnx_path, manifest)
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
    real_root = _existing_folder(root)
    if real_root is None:
        log.warning(
            "models folder %s does not exist or cannot be read: serving no models",
            os.path.abspath(root),
        )
        return registry
    for model_dir in _subfolders(root, "the models folder"):
        name = model_dir.name
        if not is_valid_model_name(name):
            if not name.startswith("."):
                log.warning("ignoring %r in the models folder: not a valid model name", name)
            continue
        problem = _folder_inside(real_root, model_dir, "its folder")
        if problem:
            log.warning("ignoring model %s: %s", name, problem)
            continue
        for folder in _subfolders(model_dir, f"the folder of model {name}"):
            version = _version_number(folder.name)
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
    return tuple(f for f in CARD_FILES if not _regular_file_inside(root, folder / f))


def open_card_file(root: Path, folder: Path, file: str) -> BinaryIO | None:
    """A CARD_FILES picture of a version folder, open for reading (blocking I/O: call it in a
    thread), or None when it is missing or is not a regular file inside the models folder
    ``root``."""
    if file not in CARD_FILES:
        raise ValueError(f"not a model card file: {file!r}")
    path = folder / file
    if _regular_file_inside(Path(os.path.realpath(root)), path):
        return None
    try:
        return path.open("rb")
    except OSError:
        return None


# ---- discovery helpers: every check of a path under the models folder is made here ----

# ASCII digits only, no leading zero, at least 1: str.isdigit() also takes "²" (int() then
# fails) and Arabic-Indic digits (int() reads them), and "01" would silently merge with "1"
_VERSION_RE = re.compile(r"[1-9][0-9]{0,8}")
_MAX_ERRORS = 3  # of a manifest's validation errors, in its reason
_MAX_DETAIL = 200  # characters of an exception's text, in a reason
# an absolute path in an exception's text: "/" after a space, quote, colon, ... or at the start
_ABSOLUTE_PATH_RE = re.compile(r"(?<![\w.~/-])/[^\s'\"`<>]*")


def _version_number(name: str) -> int | None:
    """The version a folder name stands for, or None when it is not a canonical number."""
    return int(name) if _VERSION_RE.fullmatch(name) else None


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
        detail = _sanitize(str(exc), folder, root)
        reason = f"unexpected error: {type(exc).__name__}: {detail}"
        return ModelVersion(name, version, folder, "unavailable", reason)


def _existing_folder(path: Path) -> Path | None:
    """``path`` resolved when it is a folder, else None."""
    try:
        real = path.resolve(strict=True)
        return real if stat.S_ISDIR(os.stat(real).st_mode) else None
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return None


def _subfolders(folder: Path, label: str) -> list[Path]:
    """Folders and symlinks in ``folder``, sorted; files are left out quietly.

    Symlinks are kept whatever they point to so that the checks of a loop or an escape
    report them. A folder that cannot be listed is logged and counts as empty.
    """
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                        found.append(folder / entry.name)
                except OSError:  # cannot tell what it is: let the checks say why
                    found.append(folder / entry.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", label, _os_problem(exc))
    return sorted(found)


def _resolve_inside(root: Path, path: Path, label: str) -> tuple[Path, str]:
    """``path`` with its symlinks resolved, and "" when it stays inside ``root`` (resolved);
    else the problem. The problem never names a symlink's target (it may be a host path).
    """
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        broken = os.path.islink(path)
        return path, f"{label} is a broken symlink" if broken else f"{label} is missing"
    except RuntimeError:  # before Python 3.13, with the path in its message
        return path, f"cannot read {label}: symlink loop"
    except OSError as exc:
        return path, f"cannot read {label}: {_os_problem(exc)}"
    if not real.is_relative_to(root):
        return path, f"{label} points outside the models folder"
    return real, ""


def _inside_as(
    root: Path, path: Path, label: str, is_kind: Callable[[int], bool], noun: str
) -> str:
    """Why ``path`` is not ``noun`` inside ``root`` (symlinks followed); "" when it is."""
    real, problem = _resolve_inside(root, path, label)
    if problem:
        return problem
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        return f"cannot read {label}: {_os_problem(exc)}"
    return "" if is_kind(mode) else f"{label} is not {noun} ({_kind(mode)})"


def _folder_inside(root: Path, folder: Path, label: str) -> str:
    return _inside_as(root, folder, label, stat.S_ISDIR, "a folder")


def _regular_file_inside(root: Path, path: Path) -> str:
    """Why ``path`` is not a regular file inside ``root`` (symlinks followed); "" when it is.

    Only then may it be opened: opening a FIFO blocks until a writer comes, forever at
    start-up, and a device file has no end. Files are named as in their version folder.
    (Checked by path just before opening: whoever could swap a file in between can write
    to the models folder anyway.)
    """
    return _inside_as(root, path, path.name, stat.S_ISREG, "a regular file")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _read_manifest(root: Path, folder: Path) -> Manifest | str:
    """The version's manifest, or what is wrong with it."""
    path = folder / MANIFEST_FILE
    problem = _regular_file_inside(root, path)
    if problem:
        return problem
    try:
        return Manifest.load(path)
    except ValidationError as exc:
        return f"invalid manifest: {_validation_problem(exc)}"
    except UnicodeDecodeError as exc:
        return f"invalid manifest: not UTF-8 text (byte {exc.start})"
    except ManifestTooLarge as exc:
        return f"invalid manifest: {exc}"
    except OSError as exc:
        return f"cannot read {MANIFEST_FILE}: {_os_problem(exc)}"


def _checksum_problem(onnx_path: Path, manifest: Manifest) -> str:
    """Why the (checked, regular) ONNX file does not match the manifest's sha256, or ""."""
    try:
        matches = sha256_file(onnx_path) == manifest.onnx_sha256
    except OSError as exc:
        return f"cannot read {manifest.onnx_file}: {_os_problem(exc)}"
    return "" if matches else f"sha256 of {manifest.onnx_file} does not match the manifest"


def _validation_problem(exc: ValidationError) -> str:
    """The fields at fault and what is wrong, e.g. "nz: Input should be greater than ..."."""
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        detail = errors[0]["msg"].removeprefix("Invalid JSON: ")
        return _one_line(f"not valid JSON ({detail})")
    parts = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        if error["loc"]
        else error["msg"]
        for error in errors[:_MAX_ERRORS]
    ]
    if len(errors) > _MAX_ERRORS:
        parts.append(f"and {len(errors) - _MAX_ERRORS} more")
    # field names can come from the file (extra keys): the text gets the same cleaning
    return _one_line("; ".join(parts))


def _os_problem(exc: OSError) -> str:
    """The error without its file names, which are host paths: "permission denied"."""
    return (exc.strerror or type(exc).__name__).lower()


def _sanitize(text: str, folder: Path, root: Path) -> str:
    """An exception's text fit for a reason: files named relative to the version folder,
    no other host path, one line.
    """
    places = {str(p) for base in (folder, root) for p in (base, os.path.realpath(base))}
    for place in sorted(places, key=len, reverse=True):  # the version folder before its root
        text = text.replace(place + os.sep, "")
    return _one_line(text)


def _one_line(text: str) -> str:
    """The first line of ``text``, short, with any absolute path replaced by <path>."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = _ABSOLUTE_PATH_RE.sub("<path>", line)
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 3] + "..."
