"""Sample-quality metrics on feature embeddings of real and generated images.

Every function takes float arrays ``[N, D]`` (one embedding per image, from whatever feature
network the caller uses) and is pure numpy/scipy:

* :func:`frechet_distance` (FID formula, Heusel et al. 2017) — lower is better.
* :func:`kid` (Kernel Inception Distance, Bińkowski et al. 2018) — lower is better.
* :func:`precision_recall` (Kynkäänniemi et al. 2019) — higher is better.
* :func:`density_coverage` (Naeem et al. 2020) — higher is better (density ≈ 1 is real-like).
* :func:`distribution_match` (total variation of predicted labels) — lower is better.

None of these is 0 (or 1) for two finite samples of the same distribution, so each number
should be read beside its *real floor*: the same metric between two disjoint halves of the
real set with the same sample count (:func:`real_floor`, :func:`quality_report`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import linalg
from scipy.spatial.distance import cdist

Array = npt.NDArray[np.float64]
Indices = npt.NDArray[np.intp]
T = TypeVar("T")

# cap on the distance-matrix block held in memory at once (float64 entries, ~128 MB)
_BLOCK_ENTRIES = 1 << 24


def _check_pair(a: Array, b: Array) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be [N, D] with the same D, got {a.shape} and {b.shape}")


def frechet_distance(a: Array, b: Array, *, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to ``a`` and ``b`` (the FID formula).

    ``|mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^½)``, Heusel et al. 2017. ``eps * I`` is added
    to both covariances so ``sqrtm`` stays stable when one is singular (collapsed samples);
    the imaginary part ``sqrtm`` leaves from numerical noise is dropped.
    """
    _check_pair(a, b)
    eye = np.eye(a.shape[1]) * eps
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) + eye
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) + eye
    covmean = linalg.sqrtm(cov_a @ cov_b).real
    mean_term = ((a.mean(0) - b.mean(0)) ** 2).sum()
    return float(mean_term + np.trace(cov_a + cov_b - 2.0 * covmean))


def _polynomial_kernel(x: Array, y: Array) -> Array:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: Array, y: Array) -> float:
    """Unbiased MMD² of two equal-size samples: the k(x_i, x_i) terms are left out."""
    m = len(x)
    k_xx, k_yy = _polynomial_kernel(x, x), _polynomial_kernel(y, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * _polynomial_kernel(x, y).mean())


def kid(
    a: Array, b: Array, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of the unbiased MMD² over random subsets.

    Kernel ``k(x, y) = (x·y / d + 1)³``; each subset draws ``subset_size`` rows (capped at
    ``min(len(a), len(b))``) from each side without replacement. Bińkowski et al. 2018, as
    computed by torch-fidelity. Unbiased, so it can be slightly negative for equal sets.
    """
    _check_pair(a, b)
    size = min(subset_size, len(a), len(b))
    if size < 2 or subsets < 1:
        raise ValueError("kid needs at least 2 samples per side and 1 subset")
    rng = np.random.default_rng(seed)
    mmds = [
        _mmd2_unbiased(
            a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(mmds)), float(np.std(mmds))


def _distance_blocks(queries: Array, pool: Array) -> Iterator[tuple[slice, Array]]:
    """Euclidean distances from ``queries`` to ``pool``, a block of query rows at a time."""
    step = max(1, _BLOCK_ENTRIES // max(1, len(pool)))
    for start in range(0, len(queries), step):
        rows = slice(start, start + step)
        yield rows, cdist(queries[rows], pool)


def knn_radii(x: Array, k: int) -> Array:
    """Distance from each row of ``x`` to its ``k``-th nearest neighbour among the other rows."""
    if not 0 < k < len(x):
        raise ValueError(f"k must be in 1..{len(x) - 1} for {len(x)} samples, got {k}")
    radii = np.empty(len(x))
    for rows, d in _distance_blocks(x, x):
        # the row itself is the smallest entry (distance 0), so index k is the k-th neighbour
        radii[rows] = np.partition(d, k, axis=1)[:, k]
    return radii


def _balls_containing(points: Array, centres: Array, radii: Array) -> npt.NDArray[np.int64]:
    """For each point: in how many closed balls B(centres[i], radii[i]) it lies."""
    counts = np.empty(len(points), dtype=np.int64)
    for rows, d in _distance_blocks(points, centres):
        counts[rows] = (d <= radii[None, :]).sum(1)
    return counts


def _nearest_distance(queries: Array, pool: Array) -> Array:
    nearest = np.empty(len(queries))
    for rows, d in _distance_blocks(queries, pool):
        nearest[rows] = d.min(1)
    return nearest


def precision_recall(real: Array, fake: Array, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall, Kynkäänniemi et al. 2019.

    Each sample's ball reaches its ``k``-th nearest neighbour in its own set; the union of the
    balls is that set's manifold. Precision: share of fake samples inside the real manifold
    (are the samples realistic?). Recall: share of real samples inside the fake manifold
    (is the real variety covered?).
    """
    _check_pair(real, fake)
    precision = (_balls_containing(fake, real, knn_radii(real, k)) > 0).mean()
    recall = (_balls_containing(real, fake, knn_radii(fake, k)) > 0).mean()
    return float(precision), float(recall)


def density_coverage(real: Array, fake: Array, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage, Naeem et al. 2020 (k-NN balls around real samples only).

    Density: how many real balls contain each fake sample, averaged and divided by ``k``
    (≈ 1 for real-like samples, above 1 when they crowd the dense real regions, and unlike
    precision not inflated by real outliers). Coverage: share of real balls holding at least
    one fake sample.
    """
    _check_pair(real, fake)
    radii = knn_radii(real, k)
    density = _balls_containing(fake, real, radii).sum() / (k * len(fake))
    coverage = (_nearest_distance(real, fake) <= radii).mean()
    return float(density), float(coverage)


def distribution_match(
    real_labels: npt.ArrayLike, fake_labels: npt.ArrayLike
) -> tuple[float, dict[str, tuple[float, float]]]:
    """Total-variation distance ``0.5 * sum |p - q|`` between two categorical label samples.

    Also returns ``{str(label): (real share, generated share)}`` for every label seen on
    either side, sorted by label text. 0 is a perfect match, 1 means disjoint labels.
    """
    real_counts = Counter(str(x) for x in np.asarray(real_labels).tolist())
    fake_counts = Counter(str(x) for x in np.asarray(fake_labels).tolist())
    n_real, n_fake = sum(real_counts.values()), sum(fake_counts.values())
    if n_real == 0 or n_fake == 0:
        raise ValueError("distribution_match needs at least one label on each side")
    shares = {
        label: (real_counts[label] / n_real, fake_counts[label] / n_fake)
        for label in sorted(real_counts.keys() | fake_counts.keys())
    }
    tv = 0.5 * sum(abs(p - q) for p, q in shares.values())
    return float(tv), shares


def disjoint_halves(count: int, n: int | None = None, *, seed: int = 0) -> tuple[Indices, Indices]:
    """Two disjoint random index sets of ``n`` (default ``count // 2``) from ``range(count)``."""
    n = count // 2 if n is None else n
    if not 0 < n <= count // 2:
        raise ValueError(f"cannot draw two disjoint halves of {n} from {count} samples")
    order = np.random.default_rng(seed).permutation(count)
    return order[:n], order[n : 2 * n]


def real_floor(
    real: Array, metric: Callable[[Array, Array], T], *, n: int | None = None, seed: int = 0
) -> T:
    """``metric(half_a, half_b)`` for two disjoint random halves of ``real`` (see
    :func:`disjoint_halves`): what the metric reads when the "generator" is perfect."""
    half_a, half_b = disjoint_halves(len(real), n, seed=seed)
    return metric(real[half_a], real[half_b])


@dataclass(frozen=True)
class MetricResult:
    """One metric against the generator (``value``) and between two real halves (``floor``)."""

    name: str
    value: float
    floor: float
    better: Literal["lower", "higher"]
    note: str
    value_std: float | None = None  # KID: spread over its subsets
    floor_std: float | None = None


# name -> (which way is better, what it measures); the order is the table order
METRICS: dict[str, tuple[Literal["lower", "higher"], str]] = {
    "fd": ("lower", "Fréchet distance of Gaussian fits (FID formula)"),
    "kid": ("lower", "kernel MMD², unbiased; mean over subsets"),
    "precision": ("higher", "share of generated samples on the real manifold"),
    "recall": ("higher", "share of real samples on the generated manifold"),
    "density": ("higher", "≈ 1 is real-like; above 1 crowds the real modes"),
    "coverage": ("higher", "share of real neighbourhoods holding a generated sample"),
    "label_tv": ("lower", "total variation between predicted label shares"),
}


@dataclass(frozen=True)
class QualityReport:
    """Every metric for (real, generated) beside its real-vs-real floor, at equal counts.

    ``samples`` rows are used on each side of every score and of every floor: the score
    compares real half A with ``samples`` generated rows, the floor compares real half A with
    the disjoint real half B.
    """

    samples: int
    real_total: int
    fake_total: int
    seed: int
    metrics: tuple[MetricResult, ...]
    label_shares: dict[str, tuple[float, float]] | None = None  # (real A, generated)

    def metric(self, name: str) -> MetricResult:
        for result in self.metrics:
            if result.name == name:
                return result
        raise KeyError(name)

    def rows(self) -> list[tuple[str, float, float, str]]:
        """(metric, value, floor, note) per metric, for printing a table."""
        rows = []
        for m in self.metrics:
            note = f"{m.better} is better; {m.note}"
            if m.value_std is not None and m.value_std > 1e-12:  # 0: one subset, the whole
                note += f" (std {m.value_std:.3g}, floor std {m.floor_std:.3g})"
            rows.append((m.name, m.value, m.floor, note))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts, then ``metrics`` keyed by name, then ``label_shares``."""
        return {
            "samples": self.samples,
            "real_total": self.real_total,
            "fake_total": self.fake_total,
            "seed": self.seed,
            "metrics": {
                m.name: {
                    "value": m.value,
                    "floor": m.floor,
                    "better": m.better,
                    **(
                        {"value_std": m.value_std, "floor_std": m.floor_std}
                        if m.value_std is not None
                        else {}
                    ),
                }
                for m in self.metrics
            },
            "label_shares": (
                None
                if self.label_shares is None
                else {k: list(v) for k, v in self.label_shares.items()}
            ),
        }


def _feature_scores(
    reference: Array, candidate: Array, seed: int
) -> dict[str, tuple[float, float | None]]:
    """name -> (value, std or None) for every feature metric of ``candidate`` vs ``reference``."""
    kid_mean, kid_std = kid(reference, candidate, seed=seed)
    precision, recall = precision_recall(reference, candidate)
    density, coverage = density_coverage(reference, candidate)
    return {
        "fd": (frechet_distance(reference, candidate), None),
        "kid": (kid_mean, kid_std),
        "precision": (precision, None),
        "recall": (recall, None),
        "density": (density, None),
        "coverage": (coverage, None),
    }


def sample_rows(
    real_count: int, fake_count: int, *, seed: int = 0
) -> tuple[Indices, Indices, Indices]:
    """The rows every score and floor use: real halves A and B and ``n`` generated rows,
    ``n = min(real_count // 2, fake_count)``; the same for the same counts and seed."""
    n = min(real_count // 2, fake_count)
    half_a, half_b = (
        disjoint_halves(real_count, n, seed=seed) if n else (np.arange(0), np.arange(0))
    )
    fake_rows = np.random.default_rng([seed, 1]).permutation(fake_count)[:n]
    return half_a, half_b, fake_rows


@dataclass(frozen=True)
class LabelMatch:
    """One labelled attribute: generated vs real shares, and the real-vs-real floor."""

    tv: float
    floor: float
    shares: dict[str, tuple[float, float]]  # label -> (real share, generated share)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tv": self.tv,
            "floor": self.floor,
            "shares": {k: list(v) for k, v in self.shares.items()},
        }


def label_matches(
    real: Mapping[str, npt.ArrayLike], fake: Mapping[str, npt.ArrayLike], *, seed: int = 0
) -> dict[str, LabelMatch]:
    """:func:`distribution_match` per attribute, on the rows :func:`quality_report` uses."""
    matches = {}
    for head, real_labels in real.items():
        real_l, fake_l = np.asarray(real_labels), np.asarray(fake[head])
        half_a, half_b, fake_rows = sample_rows(len(real_l), len(fake_l), seed=seed)
        tv, shares = distribution_match(real_l[half_a], fake_l[fake_rows])
        floor, _ = distribution_match(real_l[half_a], real_l[half_b])
        matches[head] = LabelMatch(tv, floor, shares)
    return matches


def quality_report(
    real_features: Array,
    fake_features: Array,
    *,
    real_labels: npt.ArrayLike | None = None,
    fake_labels: npt.ArrayLike | None = None,
    seed: int = 0,
) -> QualityReport:
    """Every metric for (real, generated) plus its floor, all with the same sample count.

    ``n = min(len(real) // 2, len(fake))``. The real set is split into disjoint random halves
    A and B of ``n`` rows (:func:`disjoint_halves` with ``seed``) and ``n`` generated rows are
    drawn: score = metric(A, generated), floor = metric(A, B). Labels, when given, are the
    predicted classes of the same rows (same lengths as the features) and add ``label_tv``.
    """
    _check_pair(real_features, fake_features)
    if (real_labels is None) != (fake_labels is None):
        raise ValueError("give both real_labels and fake_labels, or neither")
    half_a, half_b, fake_rows = sample_rows(len(real_features), len(fake_features), seed=seed)
    n = len(half_a)
    if n < 6:  # density/coverage use the 5th neighbour
        raise ValueError("quality_report needs at least 12 real and 6 generated samples")

    reference = real_features[half_a]
    scores = _feature_scores(reference, fake_features[fake_rows], seed)
    floors = _feature_scores(reference, real_features[half_b], seed)

    label_shares = None
    if real_labels is not None and fake_labels is not None:
        real_l, fake_l = np.asarray(real_labels), np.asarray(fake_labels)
        if len(real_l) != len(real_features) or len(fake_l) != len(fake_features):
            raise ValueError("labels must have one entry per feature row")
        tv, label_shares = distribution_match(real_l[half_a], fake_l[fake_rows])
        floor_tv, _ = distribution_match(real_l[half_a], real_l[half_b])
        scores["label_tv"], floors["label_tv"] = (tv, None), (floor_tv, None)

    metrics = tuple(
        MetricResult(
            name=name,
            value=scores[name][0],
            floor=floors[name][0],
            better=better,
            note=note,
            value_std=scores[name][1],
            floor_std=floors[name][1],
        )
        for name, (better, note) in METRICS.items()
        if name in scores
    )
    return QualityReport(
        samples=n,
        real_total=len(real_features),
        fake_total=len(fake_features),
        seed=seed,
        metrics=metrics,
        label_shares=label_shares,
    )
