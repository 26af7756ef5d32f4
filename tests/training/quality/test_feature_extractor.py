"""A shipped feature network used through onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.quality.feature_data import FEATURE_SPECS, load_digits
from training.quality.feature_extractor import FeatureExtractor


def test_onnx_extractor_agrees_with_the_recorded_accuracy(digits_net: Path) -> None:
    extractor = FeatureExtractor(digits_net)
    _, test = load_digits(FEATURE_SPECS["digits"], None)
    embeddings, labels = extractor(test.images)
    assert embeddings.shape == (len(test.images), 128) and embeddings.dtype == np.float64
    truth = np.array([str(d) for d in test.labels["digit"]])
    accuracy = float(np.mean(labels["digit"] == truth))
    assert accuracy == pytest.approx(extractor.record.accuracy["digit"], abs=0.01)


def test_extractor_resizes_other_sizes_and_channels(digits_net: Path) -> None:
    extractor = FeatureExtractor(digits_net)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 3, 64, 64), dtype=np.uint8)
    fitted = extractor.fit_images(rgb)
    assert fitted.shape == (3, 1, 28, 28) and fitted.dtype == np.uint8
    embeddings, labels = extractor(rgb)
    assert embeddings.shape == (3, 128) and len(labels["digit"]) == 3
