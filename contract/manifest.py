"""The manifest written next to every exported generator, and validated when it is loaded.

This module is the contract between ``training.export.onnx_export`` (which writes it) and
``service.inference.registry`` (which reads it). It depends on pydantic only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MANIFEST_FILE = "manifest.json"
ONNX_FILE = "generator.onnx"
SAMPLES_FILE = "samples.png"  # seeds 0..63 of the exported generator
TRAINING_GIF = "training.gif"  # the run's sample grids, epoch after epoch
LOSS_PLOT = "losses.png"
# the pictures of a version folder that GET /models/{name}/files/{file} may serve (the model
# card), with their media types; nothing else in the folder is ever served
CARD_FILES = {SAMPLES_FILE: "image/png", TRAINING_GIF: "image/gif", LOSS_PLOT: "image/png"}
SCHEMA_VERSION: Literal[1] = 1
# Model names are path components under models/: keep them boring so they can never
# escape the folder (no dots, slashes or leading dashes).
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)


def sha256_file(path: Path) -> str:
    """The checksum recorded as ``onnx_sha256`` (hex), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_valid_model_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


class TrainingRecord(BaseModel):
    """How the weights were made: enough to reproduce them."""

    model_config = ConfigDict(extra="allow")

    command: str = Field(description="the `dcgan train` command line that produced the weights")
    dataset: str = Field(description="data set spec given to --data")
    dataset_size: int = Field(ge=0, description="images in the data set")
    epochs: float = Field(ge=0)
    steps: int = Field(ge=0)
    batch_size: int = Field(ge=1)
    wall_time_s: float = Field(ge=0, description="training wall time in seconds")
    device: str = Field(description="torch device, e.g. cpu or cuda:0")
    machine: str = Field(description="host description: CPU/GPU model, cores")
    seed: int | None = None
    final_losses: dict[str, float] = Field(default_factory=dict)
    ema: bool = False
    torch_version: str = ""


MAX_MANIFEST_BYTES = 1 << 20  # a real one is a few kB


class ManifestTooLarge(ValueError):
    """The manifest file is larger than MAX_MANIFEST_BYTES."""


class ParityRecord(BaseModel):
    latents: int = Field(ge=1)
    max_abs_diff: float = Field(ge=0)
    tolerance: float = Field(gt=0)


class TruncationRecord(BaseModel):
    """Where truncation ψ turns latents to (contract/latents.py) and how it was found."""

    model_config = ConfigDict(extra="forbid")

    center: list[float] = Field(description="unit vector, nz floats: the truncation center")
    method: str = Field(
        description="how the center was found (training/generators/truncation_center.py)"
    )

    @functools.cached_property
    def tag(self) -> str:
        """A short digest of the center: part of a truncated response's ETag."""
        return hashlib.sha256(json.dumps(self.center).encode()).hexdigest()[:16]

    @field_validator("center")
    @classmethod
    def _finite_nonzero(cls, value: list[float]) -> list[float]:
        if not all(math.isfinite(v) for v in value) or not any(value):
            raise ValueError("the truncation center must be finite numbers, not all 0")
        return value


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    preset: str
    config: dict[str, Any] = Field(description="training.nets.models.DCGANConfig as a dict")
    nz: int = Field(ge=1, le=4096, description="latent size: input `z` is [N, nz] float32")
    image_size: int = Field(ge=4, le=1024)
    channels: Literal[1, 3]
    value_range: tuple[float, float] = (-1.0, 1.0)
    input_name: str = "z"
    output_name: str = "images"
    dtype: Literal["float32", "float16"] = Field(
        "float32", description="weights' precision inside the ONNX graph (I/O is float32)"
    )
    onnx_file: str = ONNX_FILE
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    opset: int = Field(ge=7)
    parity: ParityRecord
    training: TrainingRecord
    created_at: str
    quality: dict[str, Any] | None = Field(
        default=None,
        description="`dcgan evaluate`'s scorecard: metrics beside their real-vs-real floors, "
        "the feature network, sample counts and the command",
    )
    truncation: TruncationRecord | None = Field(
        default=None,
        description="the truncation center; without one, requests with `truncation` get 422",
    )

    @field_validator("onnx_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if Path(value).name != value or value.startswith("."):
            raise ValueError("onnx_file must be a plain file name inside the version folder")
        return value

    @field_validator("value_range")
    @classmethod
    def _finite_increasing(cls, value: tuple[float, float]) -> tuple[float, float]:
        # [1, 1] made every request a ZeroDivisionError; NaN or inf ends served black images
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError("value_range must be two finite numbers, the first below the second")
        return value

    @model_validator(mode="after")
    def _center_fits_nz(self) -> Manifest:
        if self.truncation is not None and len(self.truncation.center) != self.nz:
            raise ValueError(
                f"truncation.center has {len(self.truncation.center)} numbers, nz is {self.nz}"
            )
        return self

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at ``path``; a file over MAX_MANIFEST_BYTES is refused unread (a 50 MB
        ``quality`` field would have made every GET /models 50 MB)."""
        with path.open("rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(f"{path.name} is larger than {MAX_MANIFEST_BYTES:,} bytes")
        return cls.model_validate_json(data.decode("utf-8"))

    def dump(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
