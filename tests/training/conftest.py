"""Fixtures shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tiny_run
from training.loop.train import Trainer
from training.quality.feature_training import build_feature_net


@pytest.fixture(scope="session")
def digits_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits feature network trained for 3 epochs: enough to be well above chance."""
    out = tmp_path_factory.mktemp("features") / "digits"
    build_feature_net("digits", out, epochs=3)
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run folder trained for 4 steps: a checkpoint to export and sample from."""
    run = tmp_path_factory.mktemp("run")
    Trainer(tiny_run(run, max_steps=4)).fit()
    return run
