"""`dcgan evaluate`'s measurement of a generator against held-out real images.

The same seeds every time (0..samples-1, or from ``first_seed`` on: a second draw of the
generator says how much the numbers move between samples) against a seeded draw of twice as
many real images:
the scorecard with its real-vs-real floors (``training/quality/scorecard.py``), optionally again for
truncated latents and with standard FID/KID (``training/quality/inception.py``), and the pixel
checks (``training/quality/pixel_checks.py``); with a ``pictures`` folder, the pictures of
``training/quality/evaluation_pictures.py`` too. The result is JSON-ready, with the command that
reproduces it and a printable table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from contract.imaging import to_uint8
from training.data.images import load_images
from training.generators.sampling import generate_images
from training.quality.pixel_checks import check_pixels
from training.quality.scorecard import resolve_features, score


def evaluate_source(
    source: Path,
    data: str,
    samples: int,
    features: str,
    cache_dir: Path | None,
    truncations: list[float] | None = None,
    inception_weights: Path | None = None,
    pictures: Path | None = None,
    first_seed: int = 0,
) -> dict[str, Any]:
    """The scorecard (and pixel checks) of ``source`` against ``data``: JSON-ready; with
    ``truncations``, the main numbers again for each ψ (the same seeds, truncated); with
    ``inception_weights``, standard FID/KID too (training/quality/inception.py); with ``pictures``,
    the evaluation's pictures written there (their paths under "pictures")."""
    feature_dir = resolve_features(features, data)
    extractor = None
    if inception_weights is not None:  # a bad file or a missing library fails before the work
        from training.quality.inception import InceptionFeatures

        extractor = InceptionFeatures(inception_weights)
    seeds = list(range(first_seed, first_seed + samples))
    images, size, channels = generate_images(source, seeds)
    fake = to_uint8(images).transpose(0, 3, 1, 2)
    real = real_sample(data, size, channels, cache_dir, 2 * samples)
    card = score(real, fake, data=data, features=feature_dir)
    command = f"dcgan evaluate {source} --data {data} --samples {samples} --features {features}"
    if first_seed:
        command += f" --first-seed {first_seed}"
    curve = truncation_curve(source, seeds, truncations or [], real, data, feature_dir)
    table = card.table()
    inception = None
    if inception_weights is not None:
        from training.quality.inception import inception_scores

        scores = inception_scores(real, fake, inception_weights, extractor=extractor)
        inception = scores.to_dict()
        command += f" --inception-weights {inception_weights}"
        table += "\n\n" + scores.table()
    if curve:
        command += " --truncation " + ",".join(f"{c['psi']:g}" for c in curve)
        table += "\n\n" + truncation_table(curve)
    written = []
    if pictures is not None:
        from training.quality.evaluation_pictures import write_pictures

        metrics = {m.name: m.value for m in card.report.metrics}
        written = [str(p) for p in write_pictures(pictures, real, fake, data, metrics, curve)]
    return {
        **card.to_dict(),
        "truncation": curve,
        **({"pictures": written} if written else {}),
        **({"inception": inception} if inception else {}),
        "pixel_checks": check_pixels(real[: len(fake)], fake).to_dict(),
        "command": command,
        "table": table,
    }


def real_sample(
    data: str, size: int, channels: int, cache_dir: Path | None, count: int
) -> np.ndarray:
    """``count`` real images of ``data`` (all, if it has fewer), picked by a fixed seed and
    kept in file order: every evaluation of one data set compares against the same ones."""
    real_all = load_images(data, size, channels, cache_dir=cache_dir, progress=False).images
    pick = np.random.default_rng(0).permutation(len(real_all))[:count]
    return np.asarray(real_all[np.sort(pick)])


def truncation_curve(
    source: Path,
    seeds: list[int],
    truncations: list[float],
    real: np.ndarray,
    data: str,
    feature_dir: Path | None,
) -> list[dict[str, float]]:
    """The main numbers again for each ψ, on the same seeds truncated."""
    curve = []
    for psi in truncations:
        images, _, _ = generate_images(source, seeds, psi)
        truncated = score(
            real, to_uint8(images).transpose(0, 3, 1, 2), data=data, features=feature_dir
        )
        curve.append({"psi": psi} | {m.name: m.value for m in truncated.report.metrics})
    return curve


def truncation_table(curve: list[dict[str, float]]) -> str:
    """The main numbers for each ψ, one row each."""
    header = "truncation ψ (same seeds; the floors above still apply)\n"
    header += f"{'ψ':>5} {'fd':>9} {'precision':>10} {'recall':>8} {'coverage':>9}\n"
    return header + "\n".join(
        f"{c['psi']:>5g} {c['fd']:>9.4g} {c['precision']:>10.3f} {c['recall']:>8.3f} "
        f"{c['coverage']:>9.3f}"
        for c in curve
    )
