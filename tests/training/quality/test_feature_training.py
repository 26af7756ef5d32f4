"""Feature networks: trained on the project's labels and exported to ONNX with their record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.quality.feature_data import FEATURE_SPECS, load_digits
from training.quality.feature_files import FEATURE_JSON, FEATURE_ONNX
from training.quality.feature_training import held_out_accuracy


def test_digits_network_learns_its_labels_and_records_how(digits_net: Path) -> None:
    record = json.loads((digits_net / FEATURE_JSON).read_text())
    assert (digits_net / FEATURE_ONNX).stat().st_size < 2_000_000  # small enough to ship
    assert record["heads"] == {"digit": [str(d) for d in range(10)]}
    assert record["accuracy"]["digit"] > 0.8  # 10 classes: chance is 0.1
    training = record["training"]
    assert training["command"] == "dcgan features digits --epochs 3"
    assert training["train_images"] + training["held_out_images"] == 1797
    assert training["epochs"] == 3 and training["wall_time_s"] > 0


def test_held_out_accuracy_is_the_share_of_correct_argmax() -> None:
    _, test = load_digits(FEATURE_SPECS["digits"], None)
    test = test.subset(np.arange(20))

    class Oracle(torch.nn.Module):  # logits that pick label 0 for every image
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            logits = torch.zeros(len(x), 10)
            logits[:, 0] = 1
            return torch.zeros(len(x), 128), logits

    expected = float(np.mean(test.labels["digit"] == 0))
    assert held_out_accuracy(Oracle(), test) == {"digit": pytest.approx(expected)}  # type: ignore[arg-type]
