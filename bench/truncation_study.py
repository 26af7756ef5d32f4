"""Which truncation trades diversity for fidelity on a DCGAN? Measured, not assumed.

For each bundled model, the same 1000 seeds are turned into latents by several truncation
methods at several ψ, and each set is scored by `dcgan evaluate`'s scorecard (feature FD,
precision, recall, density, coverage against held-out real images; the
same reference rows as the scorecard, so the numbers match `dcgan evaluate`'s). Methods:

- ``clip``: the truncated normal of BigGAN (each component redrawn into [-ψ, ψ]); ψ in standard
  deviations. This pulls |z| far inside the shell |z| ≈ √nz that the generator was trained on.
- ``shell``: the same redrawn vector, rescaled back to |z| = √nz: only the direction is
  truncated (fewer large components), the radius stays where training put it.
- ``scale``: z·ψ, StyleGAN's formula with the mean latent 0 (a DCGAN has no mapping network):
  the radius shrinks with ψ.
- ``center`` (what the service does, contract/latents.py): each z turned toward the version's
  truncation center c by ψ on its own sphere (ψ = 1: off); c is found from the generator's own
  8×8 thumbnails (training/generators/truncation_center.py), with no data and no feature network.
- ``mean-real`` / ``mean-self``: the same turn, with c from the feature network's embedding:
  the latents whose images lie nearest the real images' (or the generated images') feature
  mean. They need a feature network for the data set, so they were measured, not shipped.

    .venv/bin/python bench/truncation_study.py --out docs/truncation-study.json

needs `data/cartoon-faces-heldout/faces` (`dcgan data cartoon-faces --out
data/cartoon-faces-heldout --count 2000 --seed 2`) and Debian's dataset-fashion-mnist.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from contract.exports import CPU, open_export
from contract.imaging import to_uint8
from contract.latents import latents_for_seeds, truncate
from training.data.images import load_images
from training.generators.truncation_center import Embed, find_center, nearest_mean_latent
from training.quality.feature_extractor import FeatureExtractor
from training.quality.metrics import (
    density_coverage,
    frechet_distance,
    precision_recall,
    sample_rows,
)
from training.quality.pixel_checks import pixel_features
from training.quality.scorecard import resolve_features

MODELS = {
    "cartoon-faces": ("models/cartoon-faces/1", "data/cartoon-faces-heldout/faces"),
    "fashion": ("models/fashion/1", "fashion-mnist-test"),
}
SAMPLES = 1000
TURNS = [0.25, 0.5, 0.7, 0.85]
PSIS = {
    "clip": [0.5, 1.0, 1.5, 2.0, 3.0],
    "shell": [0.25, 0.5, 1.0, 1.5, 2.0],
    "scale": [0.5, 0.7, 0.85],
    "center": TURNS,
    "mean-real": TURNS,
    "mean-self": TURNS,
}
METRICS = ("fd", "precision", "recall", "density", "coverage")


def on_shell(z: np.ndarray) -> np.ndarray:
    """Each row rescaled to |z| = √nz, the radius a standard normal latent concentrates at."""
    radius = math.sqrt(z.shape[1])
    return (z / np.linalg.norm(z, axis=1, keepdims=True) * radius).astype(np.float32)


def clipped(seeds: list[int], nz: int, psi: float) -> np.ndarray:
    """BigGAN's truncated normal, as this service drew it before: each seed's components with
    |z_i| > ψ redrawn, in order, from the same generator after its first nz values."""
    rows = []
    for seed in seeds:
        rng = np.random.Generator(np.random.PCG64(seed))
        z = rng.standard_normal(nz, dtype=np.float32)
        for i in np.flatnonzero(np.abs(z.astype(np.float64)) > psi):
            while abs(float(z[i])) > psi:
                z[i] = rng.standard_normal(dtype=np.float32)
        rows.append(z)
    return np.stack(rows)


def study(name: str, source: str, data: str) -> dict[str, object]:
    opened = open_export(Path(source).resolve(), [CPU])
    assert opened.manifest is not None and opened.session is not None, opened.reason
    nz, size, channels = opened.manifest.nz, opened.manifest.image_size, opened.manifest.channels
    real_all = load_images(data, size, channels, progress=False).images
    pick = np.random.default_rng(0).permutation(len(real_all))[: 2 * SAMPLES]
    real = np.asarray(real_all[np.sort(pick)])  # the same draw as `dcgan evaluate`
    features = resolve_features("auto", data)
    seeds = list(range(SAMPLES))
    base = latents_for_seeds(seeds, nz)
    extractor = FeatureExtractor(features) if features else None
    embed: Embed = (lambda u8: extractor(u8)[0]) if extractor else pixel_features
    # the scorecard's rows (real half A as the reference, seed 0), embedded once
    real_emb = embed(real)
    half_a, _, fake_rows = sample_rows(len(real_emb), SAMPLES)
    reference = real_emb[half_a]
    centers = {
        "center": np.asarray(find_center(opened.run, nz).center),
        "mean-real": nearest_mean_latent(opened.run, nz, embed, real_emb.mean(axis=0)),
        "mean-self": nearest_mean_latent(opened.run, nz, embed),
    }

    def measure(z: np.ndarray) -> dict[str, float]:
        fake = embed(to_uint8(opened.run(z)).transpose(0, 3, 1, 2))[fake_rows]
        precision, recall = precision_recall(reference, fake)
        density, coverage = density_coverage(reference, fake)
        values = {
            "fd": frechet_distance(reference, fake),
            "precision": precision,
            "recall": recall,
            "density": density,
            "coverage": coverage,
            "radius": float(np.linalg.norm(z, axis=1).mean()),
        }
        return {k: round(v, 4) for k, v in values.items()}

    rows: list[dict[str, object]] = [{"method": "off", "psi": None, **measure(base)}]
    for method, psis in PSIS.items():
        for psi in psis:
            if method == "clip":
                z = clipped(seeds, nz, psi)
            elif method == "shell":
                z = on_shell(clipped(seeds, nz, psi))
            elif method == "scale":
                z = (base * psi).astype(np.float32)
            else:
                z = truncate(base, centers[method], psi)
            rows.append({"method": method, "psi": psi, **measure(z)})
            print(name, rows[-1], flush=True)
    return {"model": name, "source": source, "data": data, "samples": SAMPLES, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("truncation-study.json"))
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    started = time.perf_counter()
    results = [study(name, *MODELS[name]) for name in args.models.split(",")]
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
