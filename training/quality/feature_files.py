"""A feature network's files and where the shipped ones live.

A network is a folder holding ``feature.onnx`` (a few hundred KB) and ``feature.json`` (a
``FeatureRecord``: input size, heads and their classes, held-out accuracy, how it was
trained). The shipped ones are ``features/NAME`` (``FEATURES_DIR``); ``DATA_TO_FEATURES``
says which of them belongs to a ``--data`` spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FEATURE_ONNX = "feature.onnx"
FEATURE_JSON = "feature.json"

# data set specs (`--data`) whose feature network is known without asking
DATA_TO_FEATURES = {"fashion-mnist": "fashion", "fashion-mnist-test": "fashion", "digits": "digits"}


def default_features_dir() -> Path:
    """$DCGAN_FEATURES_DIR, else the shipped folder beside the code (found from any working
    directory in a checkout), else ./features (an installed package, e.g. the train image)."""
    if env := os.environ.get("DCGAN_FEATURES_DIR"):
        return Path(env)
    beside = Path(__file__).resolve().parents[2] / "features"
    return beside if beside.is_dir() else Path("features")


FEATURES_DIR = default_features_dir()


@dataclass
class FeatureRecord:
    """What goes into feature.json."""

    name: str
    image_size: int
    channels: int
    embedding: int
    heads: dict[str, list[str]]
    accuracy: dict[str, float]
    training: dict[str, Any] = field(default_factory=dict)
