"""A run's recipe: TrainConfig with the preset's defaults filled in (model, optimizer,
learning rates, batch size, loss, labels)."""

from __future__ import annotations

from dataclasses import dataclass

from training.nets.config import TrainConfig
from training.nets.models import DCGANConfig, build_config


@dataclass(frozen=True)
class Recipe:
    """TrainConfig with the preset defaults filled in."""

    model: DCGANConfig
    optimizer: str
    lr: float
    lr_d: float
    betas: tuple[float, float]
    batch_size: int
    loss: str
    real_label: float
    fake_label: float


def resolve_recipe(cfg: TrainConfig) -> Recipe:
    model = build_config(
        cfg.preset, width=cfg.width, image_size=cfg.image_size, spectral_norm=cfg.spectral_norm
    )
    d = model.train
    lr = cfg.lr or d.lr
    return Recipe(
        model=model,
        optimizer=cfg.optimizer or d.optimizer,
        lr=lr,
        lr_d=cfg.lr_d or lr,
        betas=(
            cfg.beta1 if cfg.beta1 is not None else d.betas[0],
            cfg.beta2 if cfg.beta2 is not None else d.betas[1],
        ),
        batch_size=cfg.batch_size or d.batch_size,
        loss=cfg.loss or d.loss,
        real_label=d.real_label - cfg.label_smoothing,
        fake_label=d.fake_label,
    )
