"""Checkpoint files: what they hold, how they are written (atomically) and read back.

``checkpoint.pt`` holds config + weights + optimizers + EMA + step + RNG + quality history,
so ``--resume`` continues bit-for-bit on CPU. ``best.pt`` (``--keep-best``) holds only what
``load_generator`` needs: the generator (EMA and raw) at the lowest FD so far. Both store
the model config, so a generator is rebuilt from the file alone.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.errors import UserError
from training.generators.run_state import Measurement, Progress
from training.nets.config import TrainConfig
from training.nets.models import DCGANConfig, Generator

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainingParts:
    """The live objects of a run that a checkpoint saves, and loads back in place."""

    model_config: DCGANConfig
    train_config: TrainConfig
    g: nn.Module
    d: nn.Module
    ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    noise: torch.Generator
    augment_rng: torch.Generator


def generator_state(parts: TrainingParts) -> dict[str, Any]:
    """What `load_generator` needs: configs, G and EMA weights."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": parts.model_config.to_dict(),
        "train_config": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in dataclasses.asdict(parts.train_config).items()
        },
        "generator": parts.g.state_dict(),
        "ema": parts.ema.state_dict() if parts.ema is not None else None,
    }


def checkpoint_state(
    parts: TrainingParts, progress: Progress, measurement: Measurement | None
) -> dict[str, Any]:
    """Everything `restore_checkpoint` needs to continue the run where it stopped."""
    return {
        **generator_state(parts),
        "discriminator": parts.d.state_dict(),
        "opt_g": parts.opt_g.state_dict(),
        "opt_d": parts.opt_d.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "step": progress.step,
        "wall_time_s": progress.wall_time,
        "history": progress.history,
        "quality": {
            "history": progress.quality_history,
            "best": progress.best,
            "features": measurement.features if measurement else None,
            "samples": measurement.samples if measurement else None,
        },
        "rng": {
            "noise": parts.noise.get_state(),
            "augment": parts.augment_rng.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
    }


def best_state(
    parts: TrainingParts, step: int, best: dict[str, Any] | None, measurement: Measurement | None
) -> dict[str, Any]:
    """best.pt: the evaluated generator (EMA when on; the raw G too) and its FD entry."""
    features = measurement.features if measurement is not None else None
    return {**generator_state(parts), "step": step, "best": {**(best or {}), "features": features}}


def save_atomic(state: dict[str, Any], path: Path) -> Path:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind
    return path


def restore_checkpoint(
    path: Path,
    parts: TrainingParts,
    device: torch.device,
    measurement: Measurement | None,
) -> Progress:
    """Load ``path``'s weights, optimizers and RNG into ``parts``; return its progress."""
    state = read_checkpoint(path, device)
    saved = DCGANConfig.from_dict(state["model_config"])
    if saved != parts.model_config:
        raise ValueError(
            f"{path} was trained with a different model config; use the same "
            "--preset/--width/--image-size to resume"
        )
    parts.g.load_state_dict(state["generator"])
    parts.d.load_state_dict(state["discriminator"])
    if parts.ema is not None and state["ema"] is not None:
        parts.ema.load_state_dict(state["ema"])
    parts.opt_g.load_state_dict(state["opt_g"])
    parts.opt_d.load_state_dict(state["opt_d"])
    parts.scaler.load_state_dict(state["scaler"])
    quality_history, best = restore_quality(
        state.get("quality") or {}, measurement, parts.train_config.keep_best
    )
    parts.noise.set_state(state["rng"]["noise"].cpu())
    # a checkpoint written without DiffAugment's stream (it had none then) keeps the fresh one
    if "augment" in state["rng"]:
        parts.augment_rng.set_state(state["rng"]["augment"].cpu())
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return Progress(
        step=int(state["step"]),
        wall_time=float(state["wall_time_s"]),
        history=[(int(s), float(d), float(g)) for s, d, g in state["history"]],
        quality_history=quality_history,
        best=best,
    )


def restore_quality(
    saved: dict[str, Any], measurement: Measurement | None, keep_best: bool
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The saved FD history and best entry, unless it was measured differently (then it
    restarts); the best entry only with ``keep_best``."""
    history = [dict(e) for e in saved.get("history") or []]
    best = saved.get("best")
    if history and measurement is not None:
        was = (saved.get("features"), saved.get("samples"))
        if was != (measurement.features, measurement.samples):
            log.warning(
                "quality history restarted: it was measured with %s on %s samples, now %s on %d",
                *was,
                measurement.features,
                measurement.samples,
            )
            history, best = [], None
    return history, dict(best) if best is not None and keep_best else None


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's contents; a file that is not one (a picture, a text, another tool's
    pickle) is a UserError naming it, not a traceback from deep inside torch.load."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except IsADirectoryError:
        raise UserError(f"{path} is a folder: give a run folder or a {CHECKPOINT_FILE}") from None
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except Exception:  # torch.load raises pickle, zip and runtime errors alike
        raise UserError(
            f"{path} is not a dcgan checkpoint: torch.load cannot read it (give a run folder "
            f"or its {CHECKPOINT_FILE})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise UserError(f"{path} is not a dcgan checkpoint (format {found})")
    return state


def load_generator(checkpoint: Path, *, ema: bool = True) -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator from a checkpoint file alone (EMA weights when present)."""
    state = read_checkpoint(checkpoint)
    generator = Generator(DCGANConfig.from_dict(state["model_config"]))
    weights = state["ema"] if ema and state.get("ema") is not None else state["generator"]
    generator.load_state_dict(weights)
    return generator.eval(), state
