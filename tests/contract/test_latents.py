import math
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from contract import latents
from contract.latents import (
    SEED_MAX,
    TRUNCATION_MAX,
    TRUNCATION_MIN,
    latent_for_seed,
    latents_for_seeds,
    lerp,
    random_seeds,
    slerp,
)


def test_seed_to_latent_is_the_documented_pcg64_draw() -> None:
    expected = np.random.Generator(np.random.PCG64(42)).standard_normal(100, dtype=np.float32)
    assert np.array_equal(latent_for_seed(42, 100), expected)


def test_same_seed_same_bytes_in_another_process() -> None:
    code = (
        "from contract.latents import latent_for_seed; import sys; "
        "sys.stdout.buffer.write(latent_for_seed(7, 64).tobytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert out == latent_for_seed(7, 64).tobytes()


def test_batches_stack_rows_in_order() -> None:
    batch = latents_for_seeds([3, 1, 2], 8)
    assert batch.shape == (3, 8) and batch.dtype == np.float32
    assert np.array_equal(batch[1], latent_for_seed(1, 8))


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1])
def test_out_of_range_seeds_are_refused(seed: int) -> None:
    with pytest.raises(ValueError, match="seed must be in"):
        latent_for_seed(seed, 4)


def test_largest_seed_works() -> None:
    assert latent_for_seed(SEED_MAX, 4).shape == (4,)


def test_random_seeds_are_valid_and_reproducible_with_an_rng() -> None:
    seeds = random_seeds(5, random.Random(0))
    assert seeds == random_seeds(5, random.Random(0))
    assert all(0 <= s <= SEED_MAX for s in seeds)


@pytest.mark.parametrize("interp", [lerp, slerp])
def test_interpolations_hit_both_ends(interp) -> None:  # type: ignore[no-untyped-def]
    a, b = latent_for_seed(1, 16), latent_for_seed(2, 16)
    path = interp(a, b, np.linspace(0, 1, 5, dtype=np.float32))
    assert path.shape == (5, 16) and path.dtype == np.float32
    assert np.allclose(path[0], a, atol=1e-5) and np.allclose(path[-1], b, atol=1e-5)


def test_slerp_keeps_the_norm_between_equal_norm_vectors() -> None:
    a = latent_for_seed(1, 100)
    b = latent_for_seed(2, 100)
    b = b / np.linalg.norm(b) * np.linalg.norm(a)
    mid = slerp(a, b, np.array([0.5], np.float32))[0]
    assert np.linalg.norm(mid) == pytest.approx(np.linalg.norm(a), rel=1e-4)
    assert np.linalg.norm(lerp(a, b, np.array([0.5], np.float32))[0]) < np.linalg.norm(a)


def test_slerp_of_parallel_vectors_falls_back_to_lerp() -> None:
    a = latent_for_seed(1, 8)
    assert np.allclose(slerp(a, 2 * a, np.array([0.5], np.float32))[0], 1.5 * a, atol=1e-5)


# --- truncation (ψ) -------------------------------------------------------------------------


def documented_truncated_latent(seed: int, nz: int, psi: float) -> np.ndarray:
    """The loop in contract.latents' docstring, one draw at a time: what a client would write."""
    rng = np.random.Generator(np.random.PCG64(seed))
    z = rng.standard_normal(nz, dtype=np.float32)
    for i in range(nz):
        while abs(float(z[i])) > psi:
            z[i] = rng.standard_normal(dtype=np.float32)
    return z


def phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("psi", [TRUNCATION_MIN, 0.1, 0.5, 1.0, 2.0, TRUNCATION_MAX])
def test_truncated_latents_stay_within_psi(psi: float) -> None:
    z = latents_for_seeds(list(range(64)), 128, psi)
    assert z.shape == (64, 128) and z.dtype == np.float32
    # float64 comparison: a float32 that rounds above ψ (float32(0.1) > 0.1) must not pass
    assert (np.abs(z.astype(np.float64)) <= psi).all()


@pytest.mark.parametrize("psi", [0.1, 0.5, 1.5, 3.0])
def test_truncation_is_the_documented_resampling_loop(psi: float) -> None:
    for seed in (0, 1, 7, 12345, SEED_MAX):
        assert np.array_equal(
            latent_for_seed(seed, 100, psi), documented_truncated_latent(seed, 100, psi)
        )


def test_the_bound_is_psi_itself_not_psi_rounded_to_float32() -> None:
    """float32(0.1) = 0.100000001... is above ψ = 0.1: redrawn. float32(0.5) == 0.5: kept."""
    z = np.array([0.1, -0.1, 0.5, -0.5], dtype=np.float32)
    latents._resample_outside(z[:2], 0.1, np.random.Generator(np.random.PCG64(0)))
    assert (np.abs(z[:2].astype(np.float64)) <= 0.1).all() and (z[:2] != np.float32(0.1)).all()
    latents._resample_outside(z[2:], 0.5, np.random.Generator(np.random.PCG64(0)))
    assert list(z[2:]) == [0.5, -0.5]


def test_same_seed_and_psi_same_latent_and_same_bytes_in_another_process() -> None:
    assert np.array_equal(latent_for_seed(7, 64, 0.7), latent_for_seed(7, 64, 0.7))
    code = (
        "from contract.latents import latent_for_seed; import sys; "
        "sys.stdout.buffer.write(latent_for_seed(7, 64, 0.7).tobytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert out == latent_for_seed(7, 64, 0.7).tobytes()


def test_no_truncation_is_the_untruncated_latent() -> None:
    seeds = list(range(100))
    expected = np.stack(
        [
            np.random.Generator(np.random.PCG64(s)).standard_normal(512, dtype=np.float32)
            for s in seeds
        ]
    )
    assert (np.abs(expected) > TRUNCATION_MAX).any()  # even ψ = 4 would change some of these
    assert np.array_equal(latents_for_seeds(seeds, 512, None), expected)
    assert np.array_equal(latents_for_seeds(seeds, 512), expected)
    assert np.array_equal(latent_for_seed(42, 512, None), expected[42])


def test_truncation_only_redraws_the_components_outside_psi() -> None:
    plain, truncated = (
        latents_for_seeds(list(range(32)), 100),
        latents_for_seeds(list(range(32)), 100, 1.0),
    )
    inside = np.abs(plain.astype(np.float64)) <= 1.0
    assert np.array_equal(truncated[inside], plain[inside])
    assert (truncated[~inside] != plain[~inside]).all() and (~inside).sum() > 500


@pytest.mark.parametrize("psi", [0.5, 1.0, 2.0])
def test_truncated_marginal_is_the_truncated_normal(psi: float) -> None:
    """~100k components: the share redrawn is P(|z| > ψ), the spread is the truncated normal's."""
    seeds = list(range(400))
    plain = latents_for_seeds(seeds, 256).astype(np.float64)
    z = latents_for_seeds(seeds, 256, psi).astype(np.float64)
    mass = 2 * normal_cdf(psi) - 1  # P(|z| <= ψ)
    assert (np.abs(plain) > psi).mean() == pytest.approx(1 - mass, abs=0.01)
    assert z.mean() == pytest.approx(0.0, abs=0.01)
    truncated_std = math.sqrt(1 - 2 * psi * phi(psi) / mass)
    assert z.std() == pytest.approx(truncated_std, rel=0.02)
    # the shape, not just the spread: the share inside ψ/2 of the truncated normal
    half = (2 * normal_cdf(psi / 2) - 1) / mass
    assert (np.abs(z) <= psi / 2).mean() == pytest.approx(half, abs=0.01)


def test_smaller_psi_redraws_more_and_shrinks_the_spread() -> None:
    seeds = list(range(100))
    plain = latents_for_seeds(seeds, 256)
    stds, redrawn = [], []
    for psi in (3.0, 2.0, 1.0, 0.5, 0.1):
        z = latents_for_seeds(seeds, 256, psi)
        stds.append(float(z.std()))
        redrawn.append(float((z != plain).mean()))
    assert stds == sorted(stds, reverse=True) and redrawn == sorted(redrawn)
    assert stds[-1] < 0.1 and redrawn[-1] > 0.9


class CountingGenerator(np.random.Generator):
    """Counts the normal values drawn (calls and values), otherwise NumPy's Generator."""

    calls = values = 0

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        CountingGenerator.calls += 1
        CountingGenerator.values += 1 if size is None else int(np.prod(size))
        return super().standard_normal(size, dtype=dtype, out=out)


@pytest.mark.timeout(20)  # a guard against an endless loop, not a timing assert
@pytest.mark.parametrize("psi", [TRUNCATION_MIN, 0.5])
def test_small_psi_terminates_with_a_few_vectorised_rounds(
    psi: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CountingGenerator, "calls", 0)
    monkeypatch.setattr(CountingGenerator, "values", 0)
    monkeypatch.setattr(latents.np.random, "Generator", CountingGenerator)
    seeds, nz = list(range(64)), 512
    z = latents_for_seeds(seeds, nz, psi)
    assert (np.abs(z.astype(np.float64)) <= psi).all()
    expected = len(seeds) * nz / (2 * normal_cdf(psi) - 1)  # values a rejection sampler needs
    assert CountingGenerator.values < 1.5 * expected
    # one draw for z, then blocks sized for what is missing: a few rounds, not one per value
    assert CountingGenerator.calls <= len(seeds) * 3


@pytest.mark.parametrize("psi", [0.0, TRUNCATION_MIN / 2, -1.0, TRUNCATION_MAX + 0.01, math.nan])
def test_out_of_range_truncation_is_refused(psi: float) -> None:
    with pytest.raises(ValueError, match=r"truncation must be in \[0.01, 4\]"):
        latent_for_seed(1, 8, psi)
