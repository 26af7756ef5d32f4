"""The truncation center of a generator: the direction truncation ψ turns latents toward.

A DCGAN has no mapping network and so no average w to truncate toward (StyleGAN's w̄); its
latents' mean is 0, and pulling z toward 0 leaves the shell |z| ≈ √nz it was trained on. The
center is found from the generator's own output, with no data set and no feature network:
render CENTER_SEEDS, embed each image as its 8×8 thumbnail (the scorecard's pixel features),
keep the CENTER_SHARE of latents whose thumbnails lie nearest the mean thumbnail, and take the
direction of their mean latent. Measured against other choices in docs/benchmarks.md
"Truncation": this one raised precision and lowered recall steadily on both bundled models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from contract.imaging import to_uint8
from contract.latents import latents_for_seeds
from contract.manifest import Manifest, TruncationRecord
from training.quality.pixel_checks import FEATURE_SIZE, pixel_features

CENTER_SEEDS = range(10_000, 12_000)  # not the seeds the scorecard measures (0..samples-1)
CENTER_SHARE = 0.1
BATCH = 250  # images rendered at once: bounded memory for large models
METHOD = (
    f"mean latent of the {CENTER_SHARE:.0%} of seeds {CENTER_SEEDS.start}..{CENTER_SEEDS.stop - 1} "
    f"whose {FEATURE_SIZE}x{FEATURE_SIZE} thumbnails lie nearest their mean thumbnail, as a "
    "unit vector"
)

Render = Callable[[np.ndarray], np.ndarray]  # latents [N, nz] -> images [N, C, H, W] in [-1, 1]
Embed = Callable[[np.ndarray], np.ndarray]  # uint8 images [N, C, H, W] -> features [N, D]


def find_center(render: Render, nz: int) -> TruncationRecord:
    """The truncation center of the generator behind ``render`` (see the module docstring)."""
    center = nearest_mean_latent(render, nz, pixel_features)
    return TruncationRecord(center=[float(v) for v in center.astype(np.float32)], method=METHOD)


def nearest_mean_latent(
    render: Render, nz: int, embed: Embed, target: np.ndarray | None = None
) -> np.ndarray:
    """The unit mean latent of the CENTER_SHARE of CENTER_SEEDS whose images, embedded by
    ``embed`` (uint8 [N, C, H, W] -> [N, D]), lie nearest ``target`` (default: their own
    mean embedding)."""
    z = latents_for_seeds(list(CENTER_SEEDS), nz)
    embedded = np.concatenate(
        [
            embed(to_uint8(render(z[i : i + BATCH])).transpose(0, 3, 1, 2))
            for i in range(0, len(z), BATCH)
        ]
    )
    if target is None:
        target = embedded.mean(axis=0)
    distance = np.linalg.norm(embedded - target, axis=1)
    nearest = np.argsort(distance, kind="stable")[: int(len(z) * CENTER_SHARE)]
    mean = z[nearest].astype(np.float64).mean(axis=0)
    return mean / np.linalg.norm(mean)


def add_center(version_dir: Path) -> TruncationRecord:
    """Find an exported version's truncation center and write it into its manifest (a version
    exported before centers existed); the export is opened the checked way, on the CPU."""
    from contract.exports import CPU, open_export
    from training.errors import UserError
    from training.generators.model_card import rewrite_manifest

    opened = open_export(version_dir.resolve(), [CPU])
    if opened.session is None or opened.manifest is None:
        raise UserError(f"{version_dir} cannot be loaded: {opened.reason}")
    record = find_center(opened.run, opened.manifest.nz)

    def change(manifest: Manifest) -> None:
        manifest.truncation = record

    rewrite_manifest(version_dir, change)
    return record
