"""The exponential moving average (EMA) of the generator's weights, the one exported."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_at(step: int, decay: float) -> float:
    """Warm-up: early on the average follows the weights closely, else it would sit near
    the random init for ~1/(1-decay) steps (TensorFlow's num_updates rule)."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    # BatchNorm statistics are copied: averaging them lags behind the averaged weights.
    for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(b)
