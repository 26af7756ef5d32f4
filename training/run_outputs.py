"""What a run leaves in its folder besides checkpoints: a sample grid per epoch from fixed
latents (``samples/epoch_0001.png``), ``training.gif`` made of those grids, ``losses.png``
and ``losses.csv`` (with the FD history), and ``run.json``, the training record that
``dcgan export`` copies into the manifest.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from training.distributed import machine_description
from training.provenance import dataset_provenance, portable_spec

if TYPE_CHECKING:
    from training.train import Trainer

RUN_FILE = "run.json"
SAMPLE_SEEDS = list(range(64))  # the latents of every epoch's sample grid


@contextlib.contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode (BatchNorm running statistics) for the block, then as it was."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


@torch.no_grad()
def sample_grid(net: nn.Module, z: torch.Tensor) -> np.ndarray:
    """An 8-wide grid (uint8 HWC) of the images ``net`` makes from the latents ``z``."""
    from contract.imaging import make_grid, to_uint8

    with eval_mode(net):
        images = net(z).float().cpu().numpy()
    return make_grid(to_uint8(images), nrow=8)


def write_epoch_outputs(trainer: Trainer, epoch: int) -> None:
    """The epoch's sample grid, the GIF of all grids so far, the loss (and FD) plot."""
    from training.report import write_loss_plot, write_sample_grid, write_training_gif

    run_dir, probe = trainer.run_dir, trainer.probe
    samples = run_dir / "samples"
    write_sample_grid(trainer.sample_grid(), samples / f"epoch_{epoch:04d}.png")
    write_training_gif(sorted(samples.glob("epoch_*.png")), run_dir / "training.gif")
    write_loss_plot(
        trainer.history,
        run_dir / "losses.png",
        run_dir / "losses.csv",
        quality=[(e["step"], e["fd"]) for e in trainer.quality_history],
        floor=probe.floor if probe is not None else None,
        quality_label=probe.features if probe is not None else "",
    )


def quality_record(trainer: Trainer) -> dict[str, Any]:
    """run.json's quality fields: empty when quality tracking is off."""
    probe = trainer.probe
    if probe is None:
        return {}
    record: dict[str, Any] = {
        "quality_features": probe.features,
        "quality_samples": probe.samples,
        "quality_floor": probe.floor,
        "quality_history": trainer.quality_history,
    }
    if trainer.cfg.keep_best and trainer.best is not None:
        record["best"] = trainer.best
    return record


def run_record(trainer: Trainer, final_losses: dict[str, float]) -> dict[str, Any]:
    """The training record (run.json): command, data, scale, machine, recipe, quality."""
    t, cfg, recipe = trainer, trainer.cfg, trainer.recipe
    return {
        "command": cfg.to_command(),
        "dataset": portable_spec(t.data.spec),
        "dataset_description": t.data.description,
        **({"dataset_build": build} if (build := dataset_provenance(cfg.data)) else {}),
        "dataset_size": len(t.data),
        "epochs": round(t.step / t.steps_per_epoch, 4),
        "steps": t.step,
        "batch_size": t.batch * t.dist.world,
        "wall_time_s": round(t.wall_time, 2),
        "device": str(t.device) + (f" x{t.dist.world}" if t.dist.world > 1 else ""),
        "machine": machine_description(t.device),
        "seed": cfg.seed,
        "final_losses": final_losses,
        "ema": t.ema is not None,
        "torch_version": torch.__version__,
        "preset": cfg.preset,
        "width": cfg.width,
        "optimizer": recipe.optimizer,
        "lr": recipe.lr,
        **({"lr_d": recipe.lr_d} if recipe.lr_d != recipe.lr else {}),
        "loss": recipe.loss,
        **({"spectral_norm": True} if cfg.spectral_norm else {}),
        **({"r1_gamma": cfg.r1_gamma, "r1_every": cfg.r1_every} if cfg.r1_gamma else {}),
        "amp": str(t.amp).replace("torch.", "") if t.amp else "off",
        **quality_record(trainer),
    }


def write_run_record(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2) + "\n")
