"""The seeded latent sampler: part of the HTTP contract.

A seed is an unsigned 64-bit integer. Its latent vector is::

    numpy.random.Generator(numpy.random.PCG64(seed)).standard_normal(nz, dtype=numpy.float32)

i.e. NumPy's PCG64 bit generator seeded with the integer (through NumPy's SeedSequence),
and its ziggurat standard-normal sampler drawing ``nz`` float32 values in order. A batch
of seeds is the rows stacked in request order. Any client with NumPy >= 1.17 reproduces
the exact vector, and the same seed gives the same bytes on every replica.

Truncation (optional, ``truncation=ψ`` in [0, 1]) trades variety for typical images, as
StyleGAN's ψ does (w' = w̄ + ψ(w - w̄)), but on the sphere a DCGAN's latents live on: each
latent z is turned toward the version's *truncation center* c (a unit vector in its manifest,
``truncation.center``) along the great circle through both, keeping its own length::

    u = z / |z|;  ω = arccos(u · c)
    z' = |z| · (sin((1 - ψ) ω) · c + sin(ψ ω) · u) / sin ω     (z' = z when sin ω ≈ 0)

so ψ = 1 is z itself, ψ = 0 is the center image for every seed, and the angle to c shrinks
in proportion to ψ. Computed in float64, returned as float32: a pure function of (seed, ψ,
nz, c). Pulling z toward 0 instead, or clipping its components to [-ψ, ψ] (BigGAN), moves it
inside the shell |z| ≈ √nz that the generator was trained on, which made faces worse and
less varied at once (docs/benchmarks.md "Truncation").

Explicit latents (``latents`` in /generate, ``z_a``/``z_b`` in /interpolate, the ``z`` input of
/v2 infer) are float32 rows of ``nz`` finite numbers, at most ``LATENT_ABS_MAX`` in size; a
seed's own row sent as a latent gives the seed's image. Truncation turns them as it turns a
seed's latent.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import numpy.typing as npt

SEED_MAX = 2**64 - 1
# a standard normal draw never comes near this; far larger would overflow float32 on the way
LATENT_ABS_MAX = 1000.0
TRUNCATION_MIN, TRUNCATION_MAX = 0.0, 1.0
FloatArray = npt.NDArray[np.float32]


def latent_for_seed(seed: int, nz: int) -> FloatArray:
    """Seed -> [nz] float32 latent (see the module docstring)."""
    if not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be in [0, {SEED_MAX}], got {seed}")
    return np.random.Generator(np.random.PCG64(seed)).standard_normal(nz, dtype=np.float32)


def truncate(z: FloatArray, center: npt.ArrayLike, psi: float) -> FloatArray:
    """Rows of ``z`` ([N, nz] or [nz]) turned toward ``center`` by ψ, lengths kept (the
    module docstring's formula)."""
    if not TRUNCATION_MIN <= psi <= TRUNCATION_MAX:  # NaN fails too
        raise ValueError(
            f"truncation must be in [{TRUNCATION_MIN:g}, {TRUNCATION_MAX:g}], got {psi}"
        )
    c = np.asarray(center, dtype=np.float64)
    if c.shape != (z.shape[-1],) or not np.isfinite(c).all() or not np.linalg.norm(c) > 0:
        raise ValueError(f"the truncation center must be {z.shape[-1]} finite numbers, not all 0")
    c = c / np.linalg.norm(c)
    rows = np.atleast_2d(z).astype(np.float64)
    length = np.linalg.norm(rows, axis=1, keepdims=True)
    u = rows / np.where(length > 0, length, 1.0)
    omega = np.arccos(np.clip(u @ c, -1.0, 1.0))[:, None]
    sin = np.sin(omega)
    turning = sin > 1e-6  # at (or opposite) the center the great circle is not defined: keep z
    safe = np.where(turning, sin, 1.0)
    turned = (np.sin((1.0 - psi) * omega) * c + np.sin(psi * omega) * u) / safe
    out = np.where(turning, turned, u) * length
    return out.astype(np.float32).reshape(z.shape)


def latents_for_seeds(
    seeds: list[int], nz: int, truncation: float | None = None, center: npt.ArrayLike | None = None
) -> FloatArray:
    """[len(seeds), nz] float32, one row per seed in order; with ``truncation`` (ψ) turned
    toward ``center`` (the version's truncation center, required then)."""
    z = np.stack([latent_for_seed(s, nz) for s in seeds]).astype(np.float32, copy=False)
    if truncation is None:
        return z
    if center is None:
        raise ValueError("truncation needs the version's truncation center")
    return truncate(z, center, truncation)


def latent_rows(
    z: FloatArray, truncation: float | None = None, center: npt.ArrayLike | None = None
) -> FloatArray:
    """Explicit latents [N, nz] (already checked: finite, ``LATENT_ABS_MAX``), truncated with
    ψ toward ``center`` as a seed's latent would be."""
    if truncation is None:
        return z
    if center is None:
        raise ValueError("truncation needs the version's truncation center")
    return truncate(z, center, truncation)


def latent_digest(z: FloatArray) -> str:
    """16 hex digits naming latents by their float32 bytes (little-endian, row by row)."""
    data = np.ascontiguousarray(z, dtype="<f4").tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


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
    seed_a: int | FloatArray,
    seed_b: int | FloatArray,
    steps: int,
    method: str,
    nz: int,
    truncation: float | None = None,
    center: npt.ArrayLike | None = None,
) -> FloatArray:
    """[steps, nz]: the walk from seed_a's latent to seed_b's, ``method`` "slerp" or "lerp";
    an end may be an explicit latent ([nz] float32) instead of a seed.

    With ``truncation`` (ψ) both ends are truncated latents (toward ``center``) and the path
    between them is interpolated as usual."""
    ends = np.stack(
        [latent_for_seed(e, nz) if isinstance(e, int) else e for e in (seed_a, seed_b)]
    ).astype(np.float32, copy=False)
    a, b = latent_rows(ends, truncation, center)
    return (slerp if method == "slerp" else lerp)(
        a, b, np.linspace(0.0, 1.0, steps, dtype=np.float32)
    )
