"""The seeded latent sampler: part of the HTTP contract.

A seed is an unsigned 64-bit integer. Its latent vector is::

    numpy.random.Generator(numpy.random.PCG64(seed)).standard_normal(nz, dtype=numpy.float32)

i.e. NumPy's PCG64 bit generator seeded with the integer (through NumPy's SeedSequence),
and its ziggurat standard-normal sampler drawing ``nz`` float32 values in order. A batch
of seeds is the rows stacked in request order. Any client with NumPy >= 1.17 reproduces
the exact vector, and the same seed gives the same bytes on every replica.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SEED_MAX = 2**64 - 1
FloatArray = npt.NDArray[np.float32]


def latent_for_seed(seed: int, nz: int) -> FloatArray:
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in [0, {SEED_MAX}], got {seed}")
    return np.random.Generator(np.random.PCG64(seed)).standard_normal(nz, dtype=np.float32)


def latents_for_seeds(seeds: list[int], nz: int) -> FloatArray:
    """[len(seeds), nz] float32, one row per seed in order."""
    return np.stack([latent_for_seed(s, nz) for s in seeds]).astype(np.float32, copy=False)


# one generator, seeded from the OS once: a new default_rng() per request costs ~10% of the
# event loop's time under load (it reads OS entropy and builds a SeedSequence each time)
_SEED_SOURCE = np.random.default_rng()


def random_seeds(count: int, rng: np.random.Generator | None = None) -> list[int]:
    """Fresh seeds for unseeded requests (reported back so the images can be reproduced)."""
    rng = rng or _SEED_SOURCE
    return [int(s) for s in rng.integers(0, 2**63, size=count, dtype=np.int64)]


def lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """Linear interpolation; ``t`` is [steps] in [0, 1], result [steps, nz]."""
    t = t.reshape(-1, 1).astype(np.float32)
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """Spherical interpolation (White, 2016), falling back to lerp for (anti)parallel vectors."""
    t = t.reshape(-1, 1).astype(np.float64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = float(np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64) + 1e-12))
    omega = float(np.arccos(np.clip(cos, -1.0, 1.0)))
    if abs(np.sin(omega)) < 1e-6:
        return lerp(a, b, t.astype(np.float32))
    so = np.sin(omega)
    out = (np.sin((1.0 - t) * omega) / so) * a64 + (np.sin(t * omega) / so) * b64
    return out.astype(np.float32)
