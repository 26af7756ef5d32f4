"""The feature network's input scaling and outputs."""

from __future__ import annotations

import numpy as np
import torch

from training.quality.feature_net import EMBEDDING, FeatureNet, to_input


def test_input_maps_uint8_onto_minus_one_to_one() -> None:
    images = np.array([[[[0, 255]]]], dtype=np.uint8)
    assert to_input(images).tolist() == [[[[-1.0, 1.0]]]]


def test_input_is_a_copy_so_read_only_caches_are_fine() -> None:
    images = np.zeros((1, 1, 2, 2), dtype=np.uint8)
    images.flags.writeable = False
    x = to_input(images)
    x += 1  # would fail on a view of a read-only array
    assert images.max() == 0


def test_the_embedding_comes_first_then_one_logit_row_per_head() -> None:
    net = FeatureNet(channels=1, head_sizes=[10, 3]).eval()
    with torch.no_grad():
        embedding, digits, other = net(torch.zeros(2, 1, 28, 28))
    assert embedding.shape == (2, EMBEDDING)
    assert digits.shape == (2, 10) and other.shape == (2, 3)
