"""The training images in memory and the order in which the ranks draw them.

Determinism: data order for epoch e is a permutation drawn from ``seed`` and ``e``
(``epoch_order``), so a resumed run and another run with the same seed draw the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.nets.config import TrainConfig
from training.nets.models import DCGANConfig


@dataclass
class TrainData:
    images: torch.Tensor  # uint8 [N, C, H, W], on CPU (pinned) or on the GPU
    spec: str
    description: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_train_data(
    cfg: TrainConfig, model: DCGANConfig, device: torch.device, batch: int
) -> TrainData:
    if cfg.dry_run:
        gen = torch.Generator().manual_seed(cfg.seed)
        n = batch * 4
        shape = (n, model.channels, model.image_size, model.image_size)
        images = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        return TrainData(images, "fake", f"fake data ({n} random images, --dry-run)")
    from training.data.images import load_images

    data = load_images(
        cfg.data,
        model.image_size,
        model.channels,
        cache_dir=cfg.cache_dir,
        limit=cfg.limit,
        progress=cfg.progress,
    )
    # The decode cache is a memmap; one copy into RAM (uint8, 4x smaller than float) makes
    # batch gathering a cheap index_select instead of page faults.
    images = torch.from_numpy(np.array(data.images))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # the whole data set goes on the GPU when it fits easily, else pinned host memory
        fits = images.numel() < free // 4
        images = images.to(device) if fits else images.pin_memory()
    return TrainData(images, data.spec, data.description)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled index order of one epoch: a pure function of (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def to_model_input(batch: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] on the device (channels_last when asked)."""
    x = batch.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
