"""Run-folder artefacts: sample grids, the training GIF and the loss (and FD) plot."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from contract.imaging import to_pil

GIF_FRAME_MS = 400
GRID_PADDING = 2  # contract.imaging.make_grid's default, used for the epoch grids
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


def write_loss_plot(
    history: Sequence[tuple[int, float, float]],
    png: Path,
    csv_path: Path,
    *,
    quality: Sequence[tuple[int, float]] = (),
    floor: float | None = None,
    quality_label: str = "",
) -> None:
    """Losses by step; with ``quality`` ((step, FD) pairs from training), a second panel
    below with the FD curve and its real-vs-real ``floor`` on the same step axis."""
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "loss_d", "loss_g"])
        writer.writerows(history)
    if not history and not quality:
        return
    import matplotlib

    matplotlib.use("Agg")  # no display on training hosts
    import matplotlib.pyplot as plt

    if quality:
        fig, (ax, ax_fd) = plt.subplots(2, 1, figsize=(7, 6), dpi=100, sharex=True)
    else:
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    if history:
        steps, loss_d, loss_g = zip(*history, strict=True)
        ax.plot(steps, loss_d, label="discriminator", linewidth=1)
        ax.plot(steps, loss_g, label="generator", linewidth=1)
        ax.legend()
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if quality:
        q_steps, fds = zip(*quality, strict=True)
        label = f"FD ({quality_label})" if quality_label else "FD"
        ax_fd.plot(q_steps, fds, marker="o", markersize=3, linewidth=1, color="C2", label=label)
        if floor is not None:
            ax_fd.axhline(floor, color="grey", linestyle="--", linewidth=1, label="real floor")
        ax_fd.set_ylabel("Fréchet distance")
        lowest = min(*fds, floor if floor is not None else min(fds))
        # FD falls by orders of magnitude early in training: a log axis keeps the tail visible
        ax_fd.set_yscale("log" if lowest > 0 and max(fds) / lowest > 20 else "linear")
        ax_fd.legend()
        ax_fd.grid(alpha=0.3)
        ax_fd.set_xlabel("step")
    else:
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
