"""The GAN losses: what the discriminator and the generator minimise, per ``--loss``.

``bce`` (the DCGAN paper's) works on logits: sigmoid + binary cross-entropy fused, which is
stable and safe under AMP. ``hinge`` is the SNGAN/BigGAN hinge loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_fn(
    kind: str, real: torch.Tensor, fake: torch.Tensor, real_label: float, fake_label: float
) -> torch.Tensor:
    """The discriminator's loss from its logits on real and on (detached) fake images."""
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    # The seeds' sigmoid + BCE, fused for stability (and AMP safety).
    return F.binary_cross_entropy_with_logits(
        real, torch.full_like(real, real_label)
    ) + F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, fake_label))


def g_loss_fn(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from the discriminator's logits on its images."""
    if kind == "hinge":
        return -fake.mean()
    # Non-saturating generator loss: maximise log D(G(z)).
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
