"""Differentiable augmentation (DiffAugment, Zhao et al., NeurIPS 2020) for small data sets.

The discriminator sees every image, real and generated, through the same random colour,
translation and cutout transforms; because the transforms are differentiable, the generator
is trained through them, so it learns the data and not the augmentations. The three policies
follow the paper's reference code (``DiffAugment_pytorch.py``):

* ``color``: brightness (± 0.5), saturation (× 0–2) and contrast (× 0.5–1.5), per image;
* ``translation``: shift by up to 1/8 of the side, zero padding, per image;
* ``cutout``: zero a square of half the side at a random place, per image.

Images are NCHW in [-1, 1]. Randomness comes from the given ``torch.Generator`` so a run stays
reproducible (and resumable) from its seed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def _rand(x: torch.Tensor, gen: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, dtype=x.dtype, generator=gen)


def brightness(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    return x + (_rand(x, gen, 1, 1, 1) - 0.5)


def saturation(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x, gen, 1, 1, 1) * 2) + mean


def contrast(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x, gen, 1, 1, 1) + 0.5) + mean


def translation(x: torch.Tensor, gen: torch.Generator | None, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = (_rand(x, gen, 1, 1) * (2 * sh + 1)).long().clamp(max=2 * sh) - sh  # [-sh, sh]
    dx = (_rand(x, gen, 1, 1) * (2 * sw + 1)).long().clamp(max=2 * sw) - sw
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy  # source row of each pixel
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    padded = F.pad(x, [1, 1, 1, 1])  # out-of-range sources read this zero border
    rows = (rows + 1).clamp(0, h + 1).expand(n, h, w)
    cols = (cols + 1).clamp(0, w + 1).expand(n, h, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, gen: torch.Generator | None, ratio: float = 0.5) -> torch.Tensor:
    h, w = x.shape[2:]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (_rand(x, gen, 1, 1) * (h + (1 - ch % 2))).long()  # the square's centre
    cx = (_rand(x, gen, 1, 1) * (w + (1 - cw % 2))).long()
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (
        (rows >= cy - ch // 2)
        & (rows < cy - ch // 2 + ch)
        & (cols >= cx - cw // 2)
        & (cols < cx - cw // 2 + cw)
    )
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, list[Transform]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}


def parse_policy(text: str) -> list[str]:
    """``color,translation,cutout`` -> its names; '' or 'none' -> no augmentation."""
    names = [p.strip() for p in text.split(",") if p.strip() and p.strip() != "none"]
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(
            f"--augment must be a comma list of {', '.join(POLICIES)} (or none), got {text!r}"
        )
    return names


def diff_augment(
    x: torch.Tensor, policy: list[str], gen: torch.Generator | None = None
) -> torch.Tensor:
    """Apply every transform of ``policy`` to the batch ``x`` (fresh randomness per image)."""
    for name in policy:
        for transform in POLICIES[name]:
            x = transform(x, gen)
    return x
