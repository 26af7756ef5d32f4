"""Pixel checks of a generator's images: numbers that need no feature network at all.

They see images as 8×8 thumbnails, so they run on any data set, on the same footing for every
run; `dcgan evaluate` prints them beside the feature-space scorecard (``scorecard``):

* ``fd_pixels``: the Fréchet distance between Gaussians fitted to real and generated
  images downsampled to 8×8 (the FID formula in pixel space). Lower is closer. It sees
  colour, layout and blur, not fine texture. (:func:`training.quality.metrics.frechet_distance`,
  shared with the feature-space metrics there.)
* ``diversity_ratio``: mean pairwise L2 distance between generated images divided by the
  same for real images. Near 1 is healthy; near 0 is mode collapse.
* ``nearest_real_ratio``: mean distance from each generated image to its nearest real
  image, divided by the same from held-out real images to the rest. Far below 1 means
  the generator copies training images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from training.quality.metrics import frechet_distance

FEATURE_SIZE = 8

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PixelChecks:
    samples: int
    fd_pixels: float
    diversity_ratio: float
    nearest_real_ratio: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def pixel_features(images_u8: np.ndarray) -> Array:
    """uint8 [N, C, H, W] -> float [N, C*8*8] in [0, 1] (box-downsampled with Pillow)."""
    feats = []
    for img in images_u8:
        chans = [
            np.asarray(
                Image.fromarray(c).resize((FEATURE_SIZE, FEATURE_SIZE), Image.Resampling.BOX),
                dtype=np.float64,
            )
            for c in img
        ]
        feats.append(np.stack(chans).reshape(-1) / 255.0)
    return np.stack(feats)


def mean_pairwise_distance(x: Array) -> float:
    sq = (x**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


def mean_nearest_distance(queries: Array, pool: Array) -> float:
    d2 = (queries**2).sum(1)[:, None] + (pool**2).sum(1)[None, :] - 2.0 * queries @ pool.T
    return float(np.sqrt(np.maximum(d2.min(1), 0.0)).mean())


def check_pixels(real_u8: np.ndarray, fake_u8: np.ndarray) -> PixelChecks:
    """Compare generated images with real ones (both uint8 [N, C, H, W], N >= 16)."""
    if len(real_u8) < 16 or len(fake_u8) < 16:
        raise ValueError("the pixel checks need at least 16 real and 16 generated images")
    real, fake = pixel_features(real_u8), pixel_features(fake_u8)
    half = len(real) // 2
    held_out, reference = real[:half], real[half:]
    return PixelChecks(
        samples=len(fake),
        fd_pixels=round(frechet_distance(real, fake), 5),
        diversity_ratio=round(mean_pairwise_distance(fake) / mean_pairwise_distance(real), 4),
        nearest_real_ratio=round(
            mean_nearest_distance(fake[:half], reference)
            / mean_nearest_distance(held_out, reference),
            4,
        ),
    )
