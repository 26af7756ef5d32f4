"""Tiny real models for tests: a few thousand parameters, exported through training.export."""

from __future__ import annotations

from pathlib import Path

import torch

from contract.manifest import TrainingRecord
from training.export import export_generator
from training.models import DCGANConfig, Generator

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
