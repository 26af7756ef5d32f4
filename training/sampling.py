"""Images from a generator for fixed seeds: sample grids and ``dcgan sample``.

A seed's latent comes from ``contract.latents``, as the service draws it, so a grid here shows
the faces GET /generate returns for the same seeds. torch is imported only where a torch
generator runs: sampling an exported version needs onnxruntime alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contract.imaging import make_grid, to_pil, to_uint8
from contract.latents import latents_for_seeds
from contract.manifest import MANIFEST_FILE
from training.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import nn

# the seeds of every sample grid: each epoch's in a run folder, samples.png in an export
SAMPLE_SEEDS = list(range(64))
GRID_COLUMNS = 8


@contextlib.contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode (BatchNorm running statistics) for the block, then as it was."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


def sample_grid(net: nn.Module, z: torch.Tensor) -> np.ndarray:
    """An 8-wide grid (uint8 HWC) of the images ``net`` makes from the latents ``z``."""
    import torch

    with torch.no_grad(), eval_mode(net):
        images = net(z).float().cpu().numpy()
    return make_grid(to_uint8(images), nrow=GRID_COLUMNS)


def generate_images(
    source: Path, seed_list: list[int], truncation: float | None = None
) -> tuple[np.ndarray, int, int]:
    """Images [N, C, H, W] in [-1, 1] for seeds, from an exported version folder or a checkpoint.

    Returns (images, image_size, channels).
    """
    if source.name == MANIFEST_FILE and source.is_file():
        source = source.parent  # the manifest names its version folder
    if (source / MANIFEST_FILE).exists():
        # the contract's checked path, as the service opens it: schema, sha256, signature
        from contract.exports import CPU, open_export

        opened = open_export(source.resolve(), [CPU])
        if opened.session is None or opened.manifest is None:
            raise UserError(f"{source} cannot be loaded: {opened.reason}")
        z = latents_for_seeds(seed_list, opened.manifest.nz, truncation)
        return opened.run(z), opened.manifest.image_size, opened.manifest.channels
    import torch

    from training.checkpoints import CHECKPOINT_FILE, load_generator

    generator, _ = load_generator(source / CHECKPOINT_FILE if source.is_dir() else source)
    with torch.no_grad():
        latents = latents_for_seeds(seed_list, generator.config.nz, truncation)
        images = generator(torch.from_numpy(latents)).numpy()
    return images, generator.config.image_size, generator.config.channels


def write_seed_grid(source: Path, seed_list: list[int], out: Path, nrow: int) -> int:
    """A PNG grid of ``source``'s images for the seeds (``nrow`` wide); how many it shows."""
    images, _, _ = generate_images(source, seed_list)
    to_pil(make_grid(to_uint8(images), nrow=nrow)).save(out)
    return len(images)
