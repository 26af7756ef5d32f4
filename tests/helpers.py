"""Tiny real models for tests: a few thousand parameters, exported through the real export
(training.export.onnx_export)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contract.manifest import TrainingRecord
from training.export.onnx_export import export_generator
from training.loop.run_outputs import RUN_FILE
from training.nets.config import TrainConfig
from training.nets.models import DCGANConfig, Generator

# `dcgan train` options for a 3-step run on fake data (the torchrun tests: one node and two)
TINY_DRY_RUN = [
    "--preset",
    "mnist28",
    "--width",
    "0.125",
    "--batch-size",
    "8",
    "--dry-run",
    "--max-steps",
    "3",
    "--no-progress",
]


def tiny_config(*, channels: int = 3, image_size: int = 16, nz: int = 8) -> DCGANConfig:
    return DCGANConfig(
        name="tiny",
        image_size=image_size,
        channels=channels,
        nz=nz,
        g_stem="dense",
        g_channels=(16, 8),
        d_channels=(8, 16),
        d_head="dense",
    )


def make_tiny_model(
    models_dir: Path,
    name: str = "tiny",
    version: int = 1,
    *,
    seed: int = 0,
    channels: int = 3,
    image_size: int = 16,
    nz: int = 8,
) -> Path:
    """Export a random tiny generator to models_dir/name/version; return that folder."""
    torch.manual_seed(seed)
    # PyTorch's default init, not DCGAN's N(0, 0.02): that one makes an untrained net draw
    # near-uniform grey, and tests comparing images would pass trivially
    generator = Generator(tiny_config(channels=channels, image_size=image_size, nz=nz))
    version_dir = models_dir / name / str(version)
    export_generator(
        generator,
        version_dir,
        name=name,
        version=version,
        preset="tiny",
        training=TrainingRecord(
            command="tests.helpers.make_tiny_model",
            dataset="none (random weights)",
            dataset_size=0,
            epochs=0,
            steps=0,
            batch_size=1,
            wall_time_s=0.0,
            device="cpu",
            machine="test",
            seed=seed,
        ),
    )
    return version_dir


def blobs(n: int, seed: int, channels: int = 3, size: int = 32) -> np.ndarray:
    """Smooth random colour fields, uint8 [N, C, size, size]: 4×4 random colours, each
    blown up to a block, so they look alike as a distribution and differ image to image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, channels, 4, 4))
    return np.repeat(np.repeat(small, size // 4, axis=2), size // 4, axis=3).astype(np.uint8)


def tiny_run(run_dir: Path, **overrides: object) -> TrainConfig:
    """A training run small enough for a test: mnist28 at 1/8 width, 3 steps of fake data
    (``dry_run``), no progress bar; ``overrides`` change any field."""
    fields: dict[str, object] = {
        "preset": "mnist28",
        "width": 0.125,
        "batch_size": 8,
        "dry_run": True,
        "run_dir": run_dir,
        "seed": 3,
        "progress": False,
        "log_every": 1,
    }
    fields.update(overrides)
    return TrainConfig(**fields)  # type: ignore[arg-type]


def run_record(run_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((run_dir / RUN_FILE).read_text())
    return record


def digits_run(run_dir: Path, **overrides: object) -> TrainConfig:
    """64 digits, batch 8: 8 steps an epoch; 16 generated vs 16 (+16) real images."""
    base: dict[str, object] = {"data": "digits", "limit": 64, "eval_samples": 16}
    base.update({"dry_run": False, **overrides})
    return tiny_run(run_dir, **base)
