"""Standard FID and KID from the user's own InceptionV3 weights, through torch-fidelity.

Nothing is downloaded: ``dcgan evaluate --inception-weights FILE`` takes the ``.pth`` that
torch-fidelity and pytorch-fid use (``weights-inception-2015-12-05-6726825d.pth``, the
TensorFlow FID Inception converted to PyTorch), and torch-fidelity's own extractor, FID and
KID compute the numbers, so they are comparable with published ones (2048-d pool features,
the TF1 bilinear resize to 299×299). Grey images are repeated to three channels.

The rows are those of ``training.quality.metrics``: real half A against the generated images for the
score, real half A against the disjoint real half B for the floor (``sample_rows``).

torch-fidelity imports torchvision, which must match the installed torch; it is the
``fid`` extra (``pip install -e '.[fid]'``), kept out of the default set for that reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contract.manifest import sha256_file
from training.errors import UserError
from training.quality.metrics import sample_rows

FEATURE_LAYER = "2048"
BATCH = 50


class InceptionError(UserError):
    """--inception-weights cannot be used as given (missing library, file or wrong file)."""


@dataclass(frozen=True)
class InceptionScores:
    fid: float
    fid_floor: float
    kid: float
    kid_floor: float
    kid_subset_size: int
    samples: int
    weights: str  # the file's name: no host paths in manifests
    weights_sha256: str
    library: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        return "\n".join(
            [
                f"standard Inception metrics ({self.library}, weights {self.weights}, sha256 "
                f"{self.weights_sha256[:12]}; {self.samples} vs {self.samples}, KID subsets "
                f"of {self.kid_subset_size})",
                f"{'fid':<12} {self.fid:>10.4g} {self.fid_floor:>10.4g}  lower is better",
                f"{'kid':<12} {self.kid:>10.4g} {self.kid_floor:>10.4g}  lower is better",
            ]
        )


def _torch_fidelity() -> Any:
    try:
        import torch_fidelity
    except Exception as exc:  # ImportError, or torchvision built for another torch
        raise InceptionError(
            "--inception-weights needs torch-fidelity and a torchvision that matches your "
            "torch: pip install -e '.[fid]' (on a CPU-only torch without a matching "
            f"torchvision see README 'Standard FID'); import failed: {exc}"
        ) from exc
    return torch_fidelity


class InceptionFeatures:
    """torch-fidelity's FID InceptionV3, loaded from a local file: uint8 images -> 2048-d."""

    def __init__(self, weights: Path) -> None:
        if not weights.is_file():
            raise InceptionError(f"--inception-weights: no file at {weights}")
        _torch_fidelity()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", [FEATURE_LAYER], feature_extractor_weights_path=str(weights)
            )
        except (RuntimeError, KeyError, TypeError, ValueError, OSError) as exc:
            # a file of another network, or not a state dict at all
            raise InceptionError(
                f"--inception-weights {weights} is not torch-fidelity's FID InceptionV3 state "
                f"dict: {str(exc).splitlines()[0]}"
            ) from exc
        except Exception as exc:  # torch.load's unpickling errors have many types
            raise InceptionError(f"--inception-weights {weights} cannot be read: {exc}") from exc

    def __call__(self, images_u8: np.ndarray) -> np.ndarray:
        """[N, C, H, W] uint8 (C = 1 or 3) -> [N, 2048] float64."""
        import torch

        if images_u8.ndim != 4 or images_u8.shape[1] not in (1, 3):
            raise ValueError(f"expected [N, 1|3, H, W] images, got {images_u8.shape}")
        out = []
        with torch.inference_mode():
            for start in range(0, len(images_u8), BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(images_u8[start : start + BATCH]))
                if batch.shape[1] == 1:
                    batch = batch.repeat(1, 3, 1, 1)
                (features,) = self.net(batch)
                out.append(features.double().numpy())
        return np.concatenate(out)


def inception_scores(
    real_u8: np.ndarray,
    fake_u8: np.ndarray,
    weights: Path,
    *,
    seed: int = 0,
    extractor: InceptionFeatures | None = None,
) -> InceptionScores:
    """FID and KID (torch-fidelity's) of the generated images against real half A, and of
    real half B against A (the floor), on ``min(len(real) // 2, len(fake))`` rows each."""
    import torch

    tf = _torch_fidelity()
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    half_a, half_b, fake_rows = sample_rows(len(real_u8), len(fake_u8), seed=seed)
    n = len(half_a)
    if n < 2:
        raise InceptionError("standard FID needs at least 4 real and 2 generated images")
    extract = extractor or InceptionFeatures(weights)
    real = torch.from_numpy(extract(real_u8[np.concatenate([half_a, half_b])]))
    fake = torch.from_numpy(extract(fake_u8[fake_rows]))
    a, b = real[:n], real[n:]
    subset = min(1000, n)  # torch-fidelity's default subset size, lowered for small samples

    def fid(x: torch.Tensor, y: torch.Tensor) -> float:
        stats_x, stats_y = fid_features_to_statistics(x), fid_features_to_statistics(y)
        return float(
            fid_statistics_to_metric(stats_x, stats_y, False)["frechet_inception_distance"]
        )

    def kid(x: torch.Tensor, y: torch.Tensor) -> float:
        result = kid_features_to_metric(
            x, y, kid_subsets=100, kid_subset_size=subset, rng_seed=seed, verbose=False
        )
        return float(result["kernel_inception_distance_mean"])

    return InceptionScores(
        fid=fid(a, fake),
        fid_floor=fid(a, b),
        kid=kid(a, fake),
        kid_floor=kid(a, b),
        kid_subset_size=subset,
        samples=n,
        weights=weights.name,
        weights_sha256=sha256_file(weights),
        library=f"torch-fidelity {tf.__version__}",
    )
