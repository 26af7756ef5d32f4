"""What a run leaves in its folder besides checkpoints: a sample grid per epoch from fixed
latents (``samples/epoch_0001.png``), ``training.gif`` made of those grids, ``losses.png``
and ``losses.csv`` (with the FD history), and ``run.json``, the training record that
``dcgan export`` copies into the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contract.manifest import LOSS_PLOT, TRAINING_GIF
from training.data.provenance import dataset_provenance, portable_spec
from training.distributed import Dist, machine_description
from training.generators.run_state import Measurement, Progress
from training.loop.recipe import Recipe
from training.loop.train_data import TrainData
from training.nets.config import TrainConfig

RUN_FILE = "run.json"
SAMPLES_DIR = "samples"
GIF_FILE = TRAINING_GIF  # the same names in the run folder as in the version folder
LOSS_CSV = "losses.csv"


def epoch_frames(run_dir: Path) -> list[Path]:
    """The run's epoch sample grids, in epoch order."""
    return sorted((run_dir / SAMPLES_DIR).glob("epoch_*.png"))


def write_epoch_outputs(
    run_dir: Path, epoch: int, grid: np.ndarray, progress: Progress, measurement: Measurement | None
) -> None:
    """The epoch's sample grid, the GIF of all grids so far, the loss (and FD) plot."""
    from training.loop.report import write_loss_plot, write_sample_grid, write_training_gif

    write_sample_grid(grid, run_dir / SAMPLES_DIR / f"epoch_{epoch:04d}.png")
    write_training_gif(epoch_frames(run_dir), run_dir / GIF_FILE)
    write_loss_plot(
        progress.history,
        run_dir / LOSS_PLOT,
        run_dir / LOSS_CSV,
        quality=[(e["step"], e["fd"]) for e in progress.quality_history],
        floor=measurement.floor if measurement is not None else None,
        quality_label=measurement.features if measurement is not None else "",
    )


def run_quality_fields(
    progress: Progress, measurement: Measurement | None, keep_best: bool
) -> dict[str, Any]:
    """run.json's quality fields: empty when quality tracking is off."""
    if measurement is None:
        return {}
    record: dict[str, Any] = {
        "quality_features": measurement.features,
        "quality_samples": measurement.samples,
        "quality_floor": measurement.floor,
        "quality_history": progress.quality_history,
    }
    if keep_best and progress.best is not None:
        record["best"] = progress.best
    return record


def run_record(
    cfg: TrainConfig,
    recipe: Recipe,
    data: TrainData,
    progress: Progress,
    measurement: Measurement | None,
    *,
    steps_per_epoch: int,
    batch: int,
    device: torch.device,
    dist: Dist,
    ema: bool,
    amp: torch.dtype | None,
    final_losses: dict[str, float],
) -> dict[str, Any]:
    """The training record (run.json): command, data, scale, machine, recipe, quality.

    ``batch`` is per process; ``ema``: whether an EMA generator was kept.
    """
    return {
        "command": cfg.to_command(),
        "dataset": portable_spec(data.spec),
        "dataset_description": data.description,
        **({"dataset_build": build} if (build := dataset_provenance(cfg.data)) else {}),
        "dataset_size": len(data),
        "epochs": round(progress.step / steps_per_epoch, 4),
        "steps": progress.step,
        "batch_size": batch * dist.world,
        "wall_time_s": round(progress.wall_time, 2),
        "device": str(device) + (f" x{dist.world}" if dist.world > 1 else ""),
        "machine": machine_description(device),
        "seed": cfg.seed,
        "final_losses": final_losses,
        "ema": ema,
        "torch_version": torch.__version__,
        "preset": cfg.preset,
        "width": cfg.width,
        "optimizer": recipe.optimizer,
        "lr": recipe.lr,
        **({"lr_d": recipe.lr_d} if recipe.lr_d != recipe.lr else {}),
        "loss": recipe.loss,
        **({"spectral_norm": True} if cfg.spectral_norm else {}),
        **({"r1_gamma": cfg.r1_gamma, "r1_every": cfg.r1_every} if cfg.r1_gamma else {}),
        "amp": str(amp).replace("torch.", "") if amp else "off",
        **run_quality_fields(progress, measurement, cfg.keep_best),
    }


def write_run_record(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2) + "\n")
