"""Quality tracking during training: the Fréchet distance (FD) of generated images to a fixed
real sample.

Every ``eval_every`` epochs (rank 0), ``eval_samples`` images from the fixed latents of
seeds 0..n-1 (the EMA generator when EMA is on) are embedded with the data's feature network
(``training/quality/feature_extractor.py``; 8×8 pixel thumbnails as the fallback) and
compared with a fixed real sample, beside that sample's real-vs-real floor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.generators.run_state import Measurement
from training.generators.sampling import eval_mode

EVAL_REAL_SEED = 0  # the fixed real sample: the same images for every run on a data set
EVAL_BATCH = 500  # generated images per forward pass during an evaluation


class QualityProbe:
    """A fixed real sample, embedded once, and the Fréchet distance of generated images to it.

    ``2 * samples`` real images are drawn once (a seeded permutation, not sorted, so folders
    ordered by class still give mixed halves); generated images are compared with the first
    half, and the first half with the second (same counts) gives the real-vs-real floor.
    ``features`` is a feature network folder, or None for 8×8 pixel thumbnails.
    """

    def __init__(self, images: torch.Tensor, samples: int, features: Path | None) -> None:
        from training.quality.feature_extractor import FeatureExtractor
        from training.quality.metrics import frechet_distance
        from training.quality.scorecard import PIXELS, portable

        self.samples = min(samples, len(images) // 2)
        self.extractor = FeatureExtractor(features) if features is not None else None
        self.features = portable(features) if features is not None else PIXELS
        rng = np.random.default_rng(EVAL_REAL_SEED)
        pick = torch.from_numpy(rng.permutation(len(images))[: 2 * self.samples])
        real = images[pick.to(images.device)].cpu().numpy()
        embedded = self.embed(real)
        self.real = embedded[: self.samples]
        self.floor = round(frechet_distance(self.real, embedded[self.samples :]), 5)

    @property
    def measurement(self) -> Measurement:
        return Measurement(self.features, self.samples, self.floor)

    def embed(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [N, C, H, W] -> float64 [N, D]."""
        if self.extractor is None:
            from training.quality.pixel_checks import pixel_features

            return pixel_features(images_u8)
        return self.extractor(images_u8)[0]

    def fd(self, fake_u8: np.ndarray) -> float:
        from training.quality.metrics import frechet_distance

        return round(frechet_distance(self.real, self.embed(fake_u8)), 5)


def resolve_eval_features(spec: str, data: str, dry_run: bool) -> Path | None:
    """``--eval-features`` as a feature network folder, or None for pixel thumbnails."""
    from training.quality.scorecard import PIXELS, resolve_features

    if dry_run and spec == "auto":
        return None  # fake data has no feature network: pixel thumbnails
    try:
        return resolve_features(spec, data)
    except FileNotFoundError:
        raise ValueError(
            f"--eval-features must be auto, {PIXELS}, a feature network name under "
            f"features/ or a folder with feature.json, got {spec!r} (not found)"
        ) from None


@torch.no_grad()
def generated_images(net: nn.Module, z: torch.Tensor) -> np.ndarray:
    """uint8 [N, C, H, W] made by ``net`` (in eval mode) from the latents ``z``."""
    from contract.imaging import to_uint8

    with eval_mode(net):
        images = [
            to_uint8(net(chunk).float().cpu().numpy()).transpose(0, 3, 1, 2)
            for chunk in z.split(EVAL_BATCH)
        ]
    return np.concatenate(images)
