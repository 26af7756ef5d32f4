"""The pictures `dcgan evaluate` writes beside its numbers, for what a person judges by eye.

* ``real-vs-generated.png``: real images of the ``--data`` set beside the generator's seeds
  0..31, at the same size, so style, colour and sharpness can be compared at a glance.
* ``nearest-real.png``: the generated images most like one particular real image, each with
  its nearest real images (pixel distance at full resolution): copies show as twins. "Most
  like one" is the nearest distance over the median distance to all real images, so a plain
  dark image, near to every dark real one, does not crowd out a true copy.
  The nearest-real ratio of the pixel checks (``training/quality/pixel_checks.py``) is the number.
* ``truncation.png`` (with ``--truncation``): precision, recall and FD against ψ, ψ 1 being
  the untruncated scorecard, so the trade of diversity for fidelity is a picture.

Images are uint8 [N, C, H, W], as ``training/generators/evaluation.py`` holds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from contract.imaging import make_grid, to_pil, upscale

GRID_IMAGES = 32  # per side of real-vs-generated
GRID_COLUMNS = 8
NEAREST_ROWS = 8  # generated images on the nearest-real sheet
NEAREST_NEIGHBOURS = 4  # real images beside each
MIN_SHOWN_SIDE = 64  # small images (28 px) are enlarged to at least this, nearest neighbour
TEXT_HEIGHT = 14  # px of a caption line (Pillow's built-in bitmap font)
GAP = 12  # px between the panels of a sheet
WHITE = 255
REAL_VS_GENERATED = "real-vs-generated.png"
NEAREST_REAL = "nearest-real.png"
TRUNCATION_PLOT = "truncation.png"


@dataclass(frozen=True)
class Nearest:
    """For each shown generated image (by index), its nearest real images and distances."""

    fake_index: list[int]
    real_index: list[list[int]]
    distance: list[list[float]]


def display_scale(side: int) -> int:
    return max(1, math.ceil(MIN_SHOWN_SIDE / side))


def _hwc(images: np.ndarray) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W, C] at display scale."""
    hwc = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return upscale(hwc, display_scale(hwc.shape[1]), "nearest")


def _rgb(picture: np.ndarray) -> Image.Image:
    return to_pil(picture).convert("RGB")


def captioned(panels: list[tuple[str, Image.Image]]) -> Image.Image:
    """Panels side by side on white, each with its caption above it (a caption wider than
    its panel widens the panel's slot, so captions never run into each other)."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    slots = [max(p.width, int(measure.textlength(caption))) for caption, p in panels]
    width = sum(slots) + GAP * (len(panels) + 1)
    height = max(p.height for _, p in panels) + TEXT_HEIGHT + 2 * GAP
    sheet = Image.new("RGB", (width, height), (WHITE,) * 3)
    draw = ImageDraw.Draw(sheet)
    x = GAP
    for (caption, panel), slot in zip(panels, slots, strict=True):
        draw.text((x, GAP // 2), caption, fill=(0, 0, 0))
        sheet.paste(panel, (x, GAP // 2 + TEXT_HEIGHT))
        x += slot + GAP
    return sheet


def real_vs_generated(real: np.ndarray, fake: np.ndarray, data: str) -> Image.Image:
    """The first ``GRID_IMAGES`` real images (a seeded draw of ``data``) beside seeds 0..31."""
    n = min(GRID_IMAGES, len(real), len(fake))
    real_grid = make_grid(_hwc(real[:n]), nrow=GRID_COLUMNS, pad_value=WHITE)
    fake_grid = make_grid(_hwc(fake[:n]), nrow=GRID_COLUMNS, pad_value=WHITE)
    return captioned(
        [(f"real: {data}", _rgb(real_grid)), (f"generated: seeds 0-{n - 1}", _rgb(fake_grid))]
    )


def nearest_real(
    real: np.ndarray, fake: np.ndarray, rows: int = NEAREST_ROWS, k: int = NEAREST_NEIGHBOURS
) -> Nearest:
    """The ``rows`` most copy-like generated images (the smallest ratio of the nearest real
    image's L2 distance, over all pixels, to the median one's) and, for each, its ``k``
    nearest real images."""
    f = fake.reshape(len(fake), -1).astype(np.float32) / 255.0
    r = real.reshape(len(real), -1).astype(np.float32) / 255.0
    d2 = (f**2).sum(1)[:, None] + (r**2).sum(1)[None, :] - 2.0 * f @ r.T
    d = np.sqrt(np.maximum(d2, 0.0))
    k = min(k, len(real))
    neighbours = np.argsort(d, axis=1, kind="stable")[:, :k]
    closest = np.take_along_axis(d, neighbours, axis=1)
    twin = closest[:, 0] / np.maximum(np.median(d, axis=1), 1e-12)
    order = np.argsort(twin, kind="stable")[: min(rows, len(fake))]
    return Nearest(
        fake_index=[int(i) for i in order],
        real_index=[[int(j) for j in neighbours[i]] for i in order],
        distance=[[round(float(x), 4) for x in closest[i]] for i in order],
    )


def nearest_real_sheet(
    real: np.ndarray, fake: np.ndarray, data: str
) -> tuple[Image.Image, Nearest]:
    """Each row: a generated image, then its nearest real images; rows most copy-like first."""
    found = nearest_real(real, fake)
    fakes = _hwc(fake[found.fake_index])
    reals = _hwc(real[[j for row in found.real_index for j in row]])
    k = len(found.real_index[0])
    fake_column = make_grid(fakes, nrow=1, pad_value=WHITE)
    real_block = make_grid(reals, nrow=k, pad_value=WHITE)
    sheet = captioned(
        [
            ("generated", _rgb(fake_column)),
            (f"its {k} nearest real images in {data} (pixel L2)", _rgb(real_block)),
        ]
    )
    draw = ImageDraw.Draw(sheet)
    side = fakes.shape[1]
    top = GAP // 2 + TEXT_HEIGHT + 2  # make_grid's padding
    for row, seed in enumerate(found.fake_index):  # generated image i is seed i
        # the seed on a white tag in the image's corner, to find it again with `dcgan sample`
        x, y = GAP + 2, top + row * (side + 2)
        box = draw.textbbox((x + 1, y), str(seed))
        draw.rectangle((x, y, box[2] + 1, box[3] + 1), fill=(WHITE,) * 3)
        draw.text((x + 1, y), str(seed), fill=(0, 0, 0))
    return sheet, found


def truncation_plot(metrics: dict[str, Any], curve: list[dict[str, float]], path: Path) -> None:
    """Precision and recall (left axis) and FD (right axis) against ψ; ψ 1 is untruncated."""
    import matplotlib

    matplotlib.use("Agg")  # no display on training hosts
    import matplotlib.pyplot as plt

    points = sorted(
        [(c["psi"], c["precision"], c["recall"], c["fd"]) for c in curve]
        + [(1.0, metrics["precision"], metrics["recall"], metrics["fd"])]
    )
    psi, precision, recall, fd = (list(column) for column in zip(*points, strict=True))
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(psi, precision, marker="o", label="precision (fidelity)", color="C0")
    ax.plot(psi, recall, marker="o", label="recall (diversity)", color="C1")
    ax.set_xlabel("truncation ψ (1 = off)")
    ax.set_ylabel("share")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    right = ax.twinx()
    right.plot(psi, fd, marker="s", linestyle="--", label="feature FD", color="C2")
    right.set_ylabel("Fréchet distance (lower is closer)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower center", fontsize=8)
    ax.set_title("truncation: the same seeds at each ψ")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_pictures(
    out: Path,
    real: np.ndarray,
    fake: np.ndarray,
    data: str,
    metrics: dict[str, Any],
    curve: list[dict[str, float]],
) -> list[Path]:
    """Write the evaluation's pictures into ``out`` (made if missing); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    real_vs_generated(real, fake, data).save(out / REAL_VS_GENERATED)
    sheet, _ = nearest_real_sheet(real, fake, data)
    sheet.save(out / NEAREST_REAL)
    written = [out / REAL_VS_GENERATED, out / NEAREST_REAL]
    if curve:
        truncation_plot(metrics, curve, out / TRUNCATION_PLOT)
        written.append(out / TRUNCATION_PLOT)
    return written
