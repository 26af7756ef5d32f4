"""Run-folder artefacts: sample grids, the training GIF and the loss plot."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from service.imaging import to_pil

GIF_FRAME_MS = 400
GRID_PADDING = 2  # service.imaging.make_grid's default, used for the epoch grids
PREVIEW_SIDE_PX = 300  # a shipped preview GIF shows as many faces as fit in this


def write_sample_grid(grid: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pil(grid).save(path)


def write_training_gif(
    frames: Sequence[Path],
    path: Path,
    frame_ms: int = GIF_FRAME_MS,
    crop: tuple[int, int, int, int] | None = None,
) -> None:
    """One frame per epoch grid, looping, the last frame held longer (as in seeds 002/004)."""
    if not frames:
        return
    images = [Image.open(f).convert("RGB") for f in frames]
    if crop is not None:
        images = [image.crop(crop) for image in images]
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 5]
    tmp = path.with_suffix(".tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0)
    tmp.replace(path)


def preview_crop(image_size: int) -> tuple[int, int, int, int]:
    """Box of the top-left k×k cells of an 8×8 epoch grid, k chosen to fit PREVIEW_SIDE_PX.

    A full 8×8 grid of 64×64 faces makes a GIF of ~300 KB a frame; the shipped preview keeps
    the first seeds of each row (the same faces as samples.png) at full resolution.
    """
    cell = image_size + GRID_PADDING
    k = max(2, min(8, PREVIEW_SIDE_PX // cell))
    side = GRID_PADDING + k * cell
    return (0, 0, side, side)


def write_loss_plot(history: Sequence[tuple[int, float, float]], png: Path, csv_path: Path) -> None:
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "loss_d", "loss_g"])
        writer.writerows(history)
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")  # no display on training hosts
    import matplotlib.pyplot as plt

    steps, loss_d, loss_g = zip(*history, strict=True)
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(steps, loss_d, label="discriminator", linewidth=1)
    ax.plot(steps, loss_g, label="generator", linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
