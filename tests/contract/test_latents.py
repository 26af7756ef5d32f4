import math
import random
import subprocess
import sys

import numpy as np
import pytest

from contract.latents import (
    SEED_MAX,
    TRUNCATION_MAX,
    TRUNCATION_MIN,
    latent_for_seed,
    latent_path,
    latents_for_seeds,
    lerp,
    random_seeds,
    slerp,
    truncate,
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


def test_slerp_between_opposite_latents_is_the_straight_line_through_zero() -> None:
    """z to -z has no one great circle: the walk is lerp's, through 0 at the middle (the
    spherical formula would divide by sin(π) there: values of ~1e7)."""
    a = latent_for_seed(1, 100)
    walk = slerp(a, -a, np.linspace(0.0, 1.0, 5, dtype=np.float32))
    assert np.isfinite(walk).all()
    assert np.allclose(walk, lerp(a, -a, np.linspace(0.0, 1.0, 5, dtype=np.float32)), atol=1e-5)
    assert np.abs(walk[2]).max() < 1e-5


# --- truncation (ψ) -------------------------------------------------------------------------

NZ = 100
CENTER = np.random.default_rng(5).standard_normal(NZ)  # any direction; not unit length


def documented_truncation(z: np.ndarray, center: np.ndarray, psi: float) -> np.ndarray:
    """The formula in contract.latents' docstring, one row at a time: what a client writes."""
    c = center / np.linalg.norm(center)
    out = []
    for row in z.astype(np.float64):
        r = np.linalg.norm(row)
        u = row / r
        omega = math.acos(max(-1.0, min(1.0, float(u @ c))))
        if math.sin(omega) < 1e-6:
            out.append(row)
            continue
        out.append(
            r * (math.sin((1 - psi) * omega) * c + math.sin(psi * omega) * u) / math.sin(omega)
        )
    return np.array(out, dtype=np.float32)


def angles(z: np.ndarray, center: np.ndarray) -> np.ndarray:
    u = z.astype(np.float64) / np.linalg.norm(z, axis=1, keepdims=True)
    return np.arccos(np.clip(u @ (center / np.linalg.norm(center)), -1, 1))


@pytest.mark.parametrize("psi", [0.0, 0.1, 0.5, 0.7, 0.95, 1.0])
def test_truncation_is_the_documented_formula(psi: float) -> None:
    seeds = [0, 1, 7, 12345, SEED_MAX]
    z = latents_for_seeds(seeds, NZ, psi, CENTER)
    assert z.shape == (5, NZ) and z.dtype == np.float32
    expected = documented_truncation(latents_for_seeds(seeds, NZ), CENTER, psi)
    assert np.allclose(z, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("psi", [0.0, 0.3, 0.7])
def test_truncation_keeps_each_length_and_scales_the_angle_to_the_center(psi: float) -> None:
    plain = latents_for_seeds(list(range(64)), NZ)
    z = latents_for_seeds(list(range(64)), NZ, psi, CENTER)
    assert np.allclose(np.linalg.norm(z, axis=1), np.linalg.norm(plain, axis=1), rtol=1e-5)
    assert np.allclose(angles(z, CENTER), psi * angles(plain, CENTER), atol=1e-3)


def test_psi_one_is_off_and_psi_zero_is_the_center_for_every_seed() -> None:
    plain = latents_for_seeds(list(range(16)), NZ)
    assert np.allclose(latents_for_seeds(list(range(16)), NZ, 1.0, CENTER), plain, atol=1e-5)
    zero = latents_for_seeds(list(range(16)), NZ, 0.0, CENTER)
    unit = zero / np.linalg.norm(zero, axis=1, keepdims=True)
    assert np.allclose(unit, CENTER / np.linalg.norm(CENTER), atol=1e-6)


def test_lower_psi_brings_latents_closer_together() -> None:
    spreads = []
    for psi in (1.0, 0.85, 0.7, 0.5, 0.25):
        z = latents_for_seeds(list(range(200)), NZ, psi, CENTER)
        spreads.append(float(np.linalg.norm(z - z.mean(axis=0), axis=1).mean()))
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] < spreads[0] / 2


def test_a_latent_at_the_center_or_opposite_it_is_kept() -> None:
    c = latent_for_seed(3, NZ)
    for z in (2 * c, -c):
        assert np.array_equal(truncate(z[None, :], c, 0.5)[0], z)
    assert truncate(c, c, 0.5).shape == (NZ,)  # one row in, one row out


def test_no_truncation_is_the_untruncated_latent() -> None:
    seeds = list(range(100))
    expected = np.stack(
        [
            np.random.Generator(np.random.PCG64(s)).standard_normal(512, dtype=np.float32)
            for s in seeds
        ]
    )
    assert np.array_equal(latents_for_seeds(seeds, 512, None), expected)
    assert np.array_equal(latents_for_seeds(seeds, 512), expected)


def test_same_seed_psi_and_center_same_bytes_in_another_process() -> None:
    code = (
        "import numpy as np; from contract.latents import latents_for_seeds; import sys; "
        "c = np.random.default_rng(5).standard_normal(100); "
        "sys.stdout.buffer.write(latents_for_seeds([7, 8], 100, 0.7, c).tobytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert out == latents_for_seeds([7, 8], NZ, 0.7, CENTER).tobytes()


def test_interpolation_with_truncation_runs_between_the_truncated_ends() -> None:
    path = latent_path(1, 2, 5, "lerp", NZ, 0.5, CENTER)
    a, b = latents_for_seeds([1, 2], NZ, 0.5, CENTER)
    assert np.allclose(path[0], a, atol=1e-6) and np.allclose(path[-1], b, atol=1e-6)
    assert np.array_equal(
        latent_path(1, 2, 5, "slerp", NZ), latent_path(1, 2, 5, "slerp", NZ, None)
    )


@pytest.mark.parametrize(
    "psi", [TRUNCATION_MIN - 0.01, -1.0, TRUNCATION_MAX + 0.01, 4.0, math.nan, math.inf]
)
def test_out_of_range_truncation_is_refused(psi: float) -> None:
    with pytest.raises(ValueError, match=r"truncation must be in \[0, 1\]"):
        latents_for_seeds([1], 8, psi, np.ones(8))


@pytest.mark.parametrize(
    "center", [None, np.ones(7), np.zeros(8), np.full(8, np.nan), np.array([1.0] * 7 + [np.inf])]
)
def test_truncation_needs_a_finite_center_of_length_nz(center: np.ndarray | None) -> None:
    with pytest.raises(ValueError, match="center"):
        latents_for_seeds([1], 8, 0.5, center)
