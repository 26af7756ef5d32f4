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

from contract.imaging import make_grid, to_pil, to_uint8, upscale
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
        manifest = opened.manifest
        center = None
        if truncation is not None:
            if manifest.truncation is None:
                raise UserError(
                    f"{source} has no truncation center: add one with "
                    f"`dcgan truncation-center {source}`"
                )
            center = manifest.truncation.center
        z = latents_for_seeds(seed_list, manifest.nz, truncation, center)
        return opened.run(z), manifest.image_size, manifest.channels
    import torch

    from training.generators.checkpoints import CHECKPOINT_FILE, load_generator
    from training.generators.truncation_center import find_center

    checkpoint = source / CHECKPOINT_FILE if source.is_dir() else source
    generator, _ = load_generator(checkpoint)

    def render(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return generator(torch.from_numpy(z)).numpy()

    nz = generator.config.nz
    center = None
    if truncation is not None:
        # a checkpoint has no manifest: its center is found here, as `dcgan export` would,
        # once per checkpoint state (a ψ sweep would otherwise render 2,000 images per ψ)
        info = checkpoint.stat()
        key = (str(checkpoint.resolve()), info.st_mtime_ns, info.st_size)
        if key not in _CHECKPOINT_CENTERS:
            _CHECKPOINT_CENTERS[key] = find_center(render, nz).center
        center = _CHECKPOINT_CENTERS[key]
    images = render(latents_for_seeds(seed_list, nz, truncation, center))
    return images, generator.config.image_size, generator.config.channels


# truncation centers found for checkpoints, by (path, mtime, size): a new save finds its own
_CHECKPOINT_CENTERS: dict[tuple[str, int, int], list[float]] = {}

LABEL_HEIGHT = 12  # px of the strip under each image that names its seed


def write_seed_grid(
    source: Path,
    seed_list: list[int],
    out: Path,
    nrow: int,
    *,
    truncation: float | None = None,
    upscale_by: int = 1,
    labels: bool = False,
) -> int:
    """A PNG grid of ``source``'s images for the seeds (``nrow`` wide), truncated and
    enlarged as the service would (``upscale_by``, nearest neighbour), each with its seed
    written under it when ``labels``; how many it shows."""
    images, _, _ = generate_images(source, seed_list, truncation)
    pixels = upscale(to_uint8(images), upscale_by, "nearest")
    if labels:
        pixels = np.stack(
            [_labelled(image, seed) for image, seed in zip(pixels, seed_list, strict=True)]
        )
    to_pil(make_grid(pixels, nrow=nrow)).save(out)
    return len(images)


def _labelled(image: np.ndarray, seed: int) -> np.ndarray:
    """``image`` [H, W, C] with a white strip below it that reads the seed."""
    from PIL import Image, ImageDraw

    height, width, channels = image.shape
    mode = "L" if channels == 1 else "RGB"
    canvas = Image.new(mode, (width, height + LABEL_HEIGHT), 255 if mode == "L" else (255,) * 3)
    canvas.paste(Image.fromarray(image.squeeze(-1) if channels == 1 else image), (0, 0))
    ImageDraw.Draw(canvas).text((1, height), str(seed), fill=0 if mode == "L" else (0, 0, 0))
    labelled = np.asarray(canvas)
    return labelled[..., None] if channels == 1 else labelled
