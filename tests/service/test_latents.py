import subprocess
import sys

import numpy as np
import pytest

from service.latents import SEED_MAX, latent_for_seed, latents_for_seeds, lerp, random_seeds, slerp


def test_seed_to_latent_is_the_documented_pcg64_draw() -> None:
    expected = np.random.Generator(np.random.PCG64(42)).standard_normal(100, dtype=np.float32)
    assert np.array_equal(latent_for_seed(42, 100), expected)


def test_same_seed_same_bytes_in_another_process() -> None:
    code = (
        "from service.latents import latent_for_seed; import sys; "
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
    seeds = random_seeds(5, np.random.default_rng(0))
    assert seeds == random_seeds(5, np.random.default_rng(0))
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
