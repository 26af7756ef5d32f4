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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from training.models import DCGANConfig, Generator

if TYPE_CHECKING:
    from training.train import Trainer

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
CHECKPOINT_FORMAT = 1


def generator_state(trainer: Trainer) -> dict[str, Any]:
    """What `load_generator` needs: configs, G and EMA weights."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": trainer.recipe.model.to_dict(),
        "train_config": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in dataclasses.asdict(trainer.cfg).items()
        },
        "generator": trainer.g.state_dict(),
        "ema": trainer.ema.state_dict() if trainer.ema is not None else None,
    }


def checkpoint_state(trainer: Trainer) -> dict[str, Any]:
    """Everything `restore_checkpoint` needs to continue the run where it stopped."""
    t, probe = trainer, trainer.probe
    return {
        **generator_state(t),
        "discriminator": t.d.state_dict(),
        "opt_g": t.opt_g.state_dict(),
        "opt_d": t.opt_d.state_dict(),
        "scaler": t.scaler.state_dict(),
        "step": t.step,
        "wall_time_s": t.wall_time,
        "history": t.history,
        "quality": {
            "history": t.quality_history,
            "best": t.best,
            "features": probe.features if probe else None,
            "samples": probe.samples if probe else None,
        },
        "rng": {
            "noise": t.noise.get_state(),
            "augment": t.augment_rng.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
    }


def best_state(trainer: Trainer) -> dict[str, Any]:
    """best.pt: the evaluated generator (EMA when on; the raw G too) and its FD entry."""
    features = trainer.probe.features if trainer.probe is not None else None
    best = {**(trainer.best or {}), "features": features}
    return {**generator_state(trainer), "step": trainer.step, "best": best}


def save_atomic(state: dict[str, Any], path: Path) -> Path:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind
    return path


def restore_checkpoint(trainer: Trainer, path: Path) -> None:
    """Load ``path`` into the trainer: weights, optimizers, step, histories and RNG."""
    t = trainer
    state = torch.load(path, map_location=t.device, weights_only=False)
    saved = DCGANConfig.from_dict(state["model_config"])
    if saved != t.recipe.model:
        raise ValueError(
            f"{path} was trained with a different model config; use the same "
            "--preset/--width/--image-size to resume"
        )
    t.g.load_state_dict(state["generator"])
    t.d.load_state_dict(state["discriminator"])
    if t.ema is not None and state["ema"] is not None:
        t.ema.load_state_dict(state["ema"])
    t.opt_g.load_state_dict(state["opt_g"])
    t.opt_d.load_state_dict(state["opt_d"])
    t.scaler.load_state_dict(state["scaler"])
    t.step = int(state["step"])
    t.wall_time = float(state["wall_time_s"])
    t.history = [(int(s), float(d), float(g)) for s, d, g in state["history"]]
    restore_quality(t, state.get("quality") or {})
    t.noise.set_state(state["rng"]["noise"].cpu())
    if "augment" in state["rng"]:  # checkpoints from before --augment existed have none
        t.augment_rng.set_state(state["rng"]["augment"].cpu())
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])


def restore_quality(trainer: Trainer, saved: dict[str, Any]) -> None:
    """The saved FD history, unless it was measured differently (then it restarts)."""
    history = [dict(e) for e in saved.get("history") or []]
    best = saved.get("best")
    probe = trainer.probe
    if history and probe is not None:
        was = (saved.get("features"), saved.get("samples"))
        if was != (probe.features, probe.samples):
            log.warning(
                "quality history restarted: it was measured with %s on %s samples, now %s on %d",
                *was,
                probe.features,
                probe.samples,
            )
            history, best = [], None
    trainer.quality_history = history
    trainer.best = dict(best) if best is not None and trainer.cfg.keep_best else None


def load_generator(checkpoint: Path, *, ema: bool = True) -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator from a checkpoint file alone (EMA weights when present)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint} is not a dcgan checkpoint (format {state.get('format')})")
    generator = Generator(DCGANConfig.from_dict(state["model_config"]))
    weights = state["ema"] if ema and state.get("ema") is not None else state["generator"]
    generator.load_state_dict(weights)
    return generator.eval(), state
