"""The feature network: a small CNN whose penultimate layer is the embedding the quality
metrics use, with one classification head per labelled attribute."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

EMBEDDING = 128  # the embedding's width: what the quality metrics compare


class FeatureNet(nn.Module):
    """Five 3×3 conv blocks (three of them stride 2), global average pool, a 128-d embedding,
    and one linear head per attribute."""

    def __init__(
        self, channels: int, head_sizes: list[int], width: int = 32, embed: int = EMBEDDING
    ):
        super().__init__()

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        w = width
        self.body = nn.Sequential(
            *block(channels, w, 1),
            *block(w, w, 2),
            *block(w, 2 * w, 1),
            *block(2 * w, 2 * w, 2),
            *block(2 * w, 4 * w, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * w, embed),
            nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleList(nn.Linear(embed, k) for k in head_sizes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        embedding = self.body(x)
        return (embedding, *(head(embedding) for head in self.heads))


def to_input(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 images -> the network's float input in [-1, 1] (training and the ONNX export)."""
    # torch.tensor copies: the images may be a read-only memmap (the decode cache)
    return torch.tensor(images_u8, dtype=torch.float32).div_(127.5).sub_(1.0)
