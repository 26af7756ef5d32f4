"""The seeded latent sampler: part of the HTTP contract.

A seed is an unsigned 64-bit integer. Its latent vector is::

    numpy.random.Generator(numpy.random.PCG64(seed)).standard_normal(nz, dtype=numpy.float32)

i.e. NumPy's PCG64 bit generator seeded with the integer (through NumPy's SeedSequence),
and its ziggurat standard-normal sampler drawing ``nz`` float32 values in order. A batch
of seeds is the rows stacked in request order. Any client with NumPy >= 1.17 reproduces
the exact vector, and the same seed gives the same bytes on every replica.

Truncation (optional, ``truncation=ψ``): the truncation trick of BigGAN as PyTorch-StudioGAN
applies it to z, i.e. every component is drawn from the standard normal truncated to
[-ψ, ψ]. It is made by resampling, from the *same* generator, after the ``nz`` draws above::

    rng = numpy.random.Generator(numpy.random.PCG64(seed))
    z = rng.standard_normal(nz, dtype=numpy.float32)
    for i in range(nz):                        # in index order
        while abs(float(z[i])) > psi:          # compared as float64: |z_i| <= ψ exactly
            z[i] = rng.standard_normal(dtype=numpy.float32)

so components already inside [-ψ, ψ] keep their untruncated values, and the latent is a pure
function of (seed, ψ, nz). ψ is a threshold in standard deviations: smaller ψ, less varied and
more typical images. This is not StyleGAN's ψ, which moves w toward the average w
(w' = w̄ + ψ(w - w̄)); a DCGAN has no mapping network and no average w to move toward.
(StudioGAN draws the same distribution with scipy's ``truncnorm``; resampling one seeded
NumPy stream is what makes it reproducible with NumPy alone.) ψ is in
[TRUNCATION_MIN, TRUNCATION_MAX] = [0.01, 4]: resampling costs about 1 / P(|z| <= ψ) draws per
component (≈ 125 at ψ = 0.01, never terminating as ψ -> 0), and above 4 only 6 in 100,000
components would change (truncation is practically off).
"""

from __future__ import annotations

import math
import random

import numpy as np
import numpy.typing as npt

SEED_MAX = 2**64 - 1
TRUNCATION_MIN, TRUNCATION_MAX = 0.01, 4.0
FloatArray = npt.NDArray[np.float32]


def latent_for_seed(seed: int, nz: int, truncation: float | None = None) -> FloatArray:
    """Seed -> [nz] float32 latent; ``truncation`` = ψ (None: off), see the module docstring."""
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in [0, {SEED_MAX}], got {seed}")
    if truncation is not None and not TRUNCATION_MIN <= truncation <= TRUNCATION_MAX:
        raise ValueError(
            f"truncation must be in [{TRUNCATION_MIN:g}, {TRUNCATION_MAX:g}], got {truncation}"
        )
    rng = np.random.Generator(np.random.PCG64(seed))
    z = rng.standard_normal(nz, dtype=np.float32)
    if truncation is not None:
        _resample_outside(z, truncation, rng)
    return z


def _resample_outside(z: FloatArray, psi: float, rng: np.random.Generator) -> None:
    """In place: the documented loop, vectorised. The stream after the first ``nz`` values,
    with its out-of-range values dropped, fills the out-of-range components in index order;
    drawing it in blocks gives the same values as one draw at a time (the ziggurat consumes
    the bit stream identically), and the unused rest of the last block is discarded."""
    limit = np.float64(psi)  # float64: NumPy would round a Python float ψ to float32 here
    outside = np.flatnonzero(np.abs(z) > limit)
    accept = math.erf(psi / math.sqrt(2.0))  # P(|z| <= ψ)
    fill: list[FloatArray] = []
    need = outside.size
    while need:
        block = rng.standard_normal(int(need / accept * 1.25) + 16, dtype=np.float32)
        inside = block[np.abs(block) <= limit][:need]
        fill.append(inside)
        need -= inside.size
    if fill:
        z[outside] = np.concatenate(fill)


def latents_for_seeds(seeds: list[int], nz: int, truncation: float | None = None) -> FloatArray:
    """[len(seeds), nz] float32, one row per seed in order (``truncation``: ψ, or None)."""
    return np.stack([latent_for_seed(s, nz, truncation) for s in seeds]).astype(
        np.float32, copy=False
    )


# one generator, seeded from the OS once: a new default_rng() per request costs ~10% of the
# event loop's time under load (OS entropy, a SeedSequence), and even one NumPy draw per
# request ~12% on a tiny model; the standard library's Mersenne Twister costs ~0.1 µs a seed
_SEED_SOURCE = random.Random()


def random_seeds(count: int, rng: random.Random | None = None) -> list[int]:
    """Fresh seeds in [0, 2**63) for unseeded requests (reported back so the images can be
    reproduced). Not secret: a seed only names an image."""
    bits = (rng or _SEED_SOURCE).getrandbits
    return [bits(63) for _ in range(count)]


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


def latent_path(
    seed_a: int, seed_b: int, steps: int, method: str, nz: int, truncation: float | None = None
) -> FloatArray:
    """[steps, nz]: the walk from seed_a's latent to seed_b's, ``method`` "slerp" or "lerp".

    With ``truncation`` (ψ) both ends are truncated latents and the path between them is
    interpolated as usual: lerp stays inside [-ψ, ψ] in every component, slerp may step
    slightly outside it (it keeps the norm, not the box)."""
    return (slerp if method == "slerp" else lerp)(
        latent_for_seed(seed_a, nz, truncation),
        latent_for_seed(seed_b, nz, truncation),
        np.linspace(0.0, 1.0, steps, dtype=np.float32),
    )
