import numpy as np
import pytest

from tests.helpers import blobs
from training.quality.pixel_checks import check_pixels


def test_same_distribution_scores_close_and_diverse() -> None:
    result = check_pixels(blobs(200, 0), blobs(200, 1))
    collapsed = check_pixels(blobs(200, 0), np.repeat(blobs(1, 5), 200, axis=0))
    assert result.fd_pixels < 0.5 * collapsed.fd_pixels
    assert 0.9 < result.diversity_ratio < 1.1
    assert result.nearest_real_ratio > 0.8


def test_mode_collapse_shows_as_low_diversity() -> None:
    collapsed = np.repeat(blobs(1, 5), 200, axis=0)
    result = check_pixels(blobs(200, 0), collapsed)
    assert result.diversity_ratio < 0.05
    assert result.fd_pixels > check_pixels(blobs(200, 0), blobs(200, 1)).fd_pixels


def test_copying_training_images_shows_as_small_nearest_distance() -> None:
    real = blobs(200, 0)
    result = check_pixels(real, real[::-1].copy())  # the copies of the reference half
    assert result.nearest_real_ratio < 0.1


def test_too_few_images_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        check_pixels(blobs(8, 0), blobs(8, 1))
