"""Generator -> ONNX with a dynamic batch axis, a parity check, samples.png and a manifest.

The version folder is assembled in a temporary sibling and renamed into place at the end,
so a service watching ``models/`` never sees a half-written model.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
import torch

from contract.folders import version_number
from contract.imaging import make_grid, to_pil, to_uint8
from contract.latents import latents_for_seeds
from contract.manifest import (
    MANIFEST_FILE,
    ONNX_FILE,
    SAMPLES_FILE,
    Manifest,
    ParityRecord,
    TrainingRecord,
    is_valid_model_name,
    sha256_file,
)
from training.errors import UserError
from training.generators.sampling import GRID_COLUMNS, SAMPLE_SEEDS
from training.generators.truncation_center import find_center
from training.nets.models import Generator

log = logging.getLogger(__name__)

OPSET = 17
PARITY_TOLERANCE = {"float32": 1e-4, "float16": 2e-2}


class ExportError(UserError, RuntimeError):
    """The export failed a check (parity, onnx checker, bad name or folder)."""


@dataclass(frozen=True)
class ExportOptions:
    fp16: bool = False
    opset: int = OPSET
    parity_latents: int = 16
    parity_seed: int = 1234


def next_version(models_dir: Path, name: str) -> int:
    """One more than the highest version folder of ``name`` (1 for a new model); only the
    folder names the service reads as versions count."""
    numbers = (version_number(p.name) for p in (models_dir / name).glob("*") if p.is_dir())
    return max((n for n in numbers if n is not None), default=0) + 1


def torch_to_onnx(generator: Generator, path: Path, opset: int) -> None:
    z = torch.zeros(2, generator.config.nz)
    # The TorchScript exporter (dynamo=False) is ~25x faster than dynamo for these plain
    # conv stacks and gives the same graph; the batch axis stays dynamic.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        torch.onnx.export(
            generator,
            (z,),
            str(path),
            input_names=["z"],
            output_names=["images"],
            dynamic_axes={"z": {0: "batch"}, "images": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )


def to_fp16(path: Path) -> None:
    from onnxconverter_common import float16

    model = onnx.load(str(path))
    with warnings.catch_warnings():
        # weights under fp16's smallest normal number are clamped to it, one warning each
        warnings.filterwarnings("ignore", message="the float32 number", category=UserWarning)
        # keep_io_types: clients still send float32 z and get float32 images
        model = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save(model, str(path))


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def check_parity(generator: Generator, session: ort.InferenceSession, latents: np.ndarray) -> float:
    """max |torch - onnxruntime| over ``latents`` (the generator must be in eval mode)."""
    with torch.no_grad():
        expected = generator(torch.from_numpy(latents)).numpy()
    (actual,) = session.run(["images"], {"z": latents})
    return float(np.max(np.abs(expected - actual)))


def write_samples(session: ort.InferenceSession, nz: int, path: Path) -> None:
    """samples.png: the grid of SAMPLE_SEEDS, the faces GET /generate returns for them."""
    latents = latents_for_seeds(SAMPLE_SEEDS, nz)
    (images,) = session.run(["images"], {"z": latents})
    to_pil(make_grid(to_uint8(images), nrow=GRID_COLUMNS)).save(path)


def _convert_checked(
    generator: Generator, onnx_path: Path, options: ExportOptions
) -> tuple[ort.InferenceSession, ParityRecord]:
    """Write the ONNX file (fp16 if asked), check it, and hold it to the torch generator's
    outputs on fixed latents: a file that does not match is never exported."""
    torch_to_onnx(generator, onnx_path, options.opset)
    if options.fp16:
        to_fp16(onnx_path)
    onnx.checker.check_model(str(onnx_path))
    session = _session(onnx_path)
    dtype = "float16" if options.fp16 else "float32"
    rng = np.random.default_rng(options.parity_seed)
    latents = rng.standard_normal((options.parity_latents, generator.config.nz), dtype=np.float32)
    max_diff = check_parity(generator, session, latents)
    tolerance = PARITY_TOLERANCE[dtype]
    log.info("ONNX parity (%s, %d latents): max |diff| = %.3g", dtype, len(latents), max_diff)
    if not max_diff <= tolerance:
        raise ExportError(f"ONNX parity failed: max |diff| {max_diff:.3g} > {tolerance}")
    return session, ParityRecord(latents=len(latents), max_abs_diff=max_diff, tolerance=tolerance)


def export_generator(
    generator: Generator,
    version_dir: Path,
    *,
    name: str,
    version: int,
    preset: str,
    training: TrainingRecord,
    options: ExportOptions | None = None,
    extra_files: dict[str, Path] | None = None,
) -> Manifest:
    """Export ``generator`` to ``version_dir`` (models/<name>/<version>); return the manifest.

    ``extra_files`` maps file names to copy next to the model (training GIF, loss plot).
    """
    options = options or ExportOptions()
    if not is_valid_model_name(name):
        raise ExportError(
            f"invalid model name {name!r}: use lowercase letters, digits, '-' and '_'"
        )
    if version_dir.exists():
        raise ExportError(f"{version_dir} already exists; pick another --version")
    config = generator.config
    generator = generator.cpu().float().eval()
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version_dir.name}-", dir=version_dir.parent))
    try:
        onnx_path = staging / ONNX_FILE
        session, parity = _convert_checked(generator, onnx_path, options)
        dtype: Literal["float32", "float16"] = "float16" if options.fp16 else "float32"

        write_samples(session, config.nz, staging / SAMPLES_FILE)
        center = find_center(lambda z: session.run(["images"], {"z": z})[0], config.nz)
        for file_name, source in (extra_files or {}).items():
            if source.exists():
                shutil.copy2(source, staging / file_name)
        manifest = Manifest(
            name=name,
            version=version,
            preset=preset,
            config=config.to_dict(),
            nz=config.nz,
            image_size=config.image_size,
            channels=config.channels,  # type: ignore[arg-type]
            dtype=dtype,
            onnx_sha256=sha256_file(onnx_path),
            opset=options.opset,
            parity=parity,
            training=training,
            truncation=center,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        manifest.dump(staging / MANIFEST_FILE)
        staging.chmod(0o755)  # mkdtemp makes it 0700; a non-root server must read it
        staging.rename(version_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s v%d to %s", name, version, version_dir)
    return manifest
