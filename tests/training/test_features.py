"""Feature networks: trained on the project's labels, exported to ONNX, used through onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from training.cartoon_faces import ATTRIBUTES_FILE
from training.cli import app
from training.features import (
    FEATURE_JSON,
    FEATURE_ONNX,
    FEATURE_SPECS,
    FeatureExtractor,
    build_feature_net,
    held_out_accuracy,
    load_cartoon_faces,
    load_digits,
    to_input,
)


@pytest.fixture(scope="module")
def digits_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("features") / "digits"
    build_feature_net("digits", out, epochs=3)
    return out


def test_digits_network_learns_its_labels_and_records_how(digits_net: Path) -> None:
    record = json.loads((digits_net / FEATURE_JSON).read_text())
    assert (digits_net / FEATURE_ONNX).stat().st_size < 2_000_000  # small enough to ship
    assert record["heads"] == {"digit": [str(d) for d in range(10)]}
    assert record["accuracy"]["digit"] > 0.8  # 10 classes: chance is 0.1
    training = record["training"]
    assert training["command"] == "dcgan features digits --epochs 3"
    assert training["train_images"] + training["held_out_images"] == 1797
    assert training["epochs"] == 3 and training["wall_time_s"] > 0


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
    assert to_input(test.images).min() >= -1 and to_input(test.images).max() <= 1


def write_face_folder(folder: Path, count: int) -> None:
    (folder / "faces").mkdir(parents=True)
    rows = []
    for i in range(count):
        colour = (200, 60, 60) if i % 2 else (60, 60, 200)
        Image.new("RGB", (64, 64), colour).save(folder / "faces" / f"{i:06d}.png")
        attributes = {"hair": "afro" if i % 2 else "short", "glasses": "none"}
        rows.append(json.dumps({"file": f"faces/{i:06d}.png", "attributes": attributes}))
    (folder / ATTRIBUTES_FILE).write_text("\n".join(rows) + "\n")


def test_cartoon_faces_heads_come_from_the_attribute_file(tmp_path: Path) -> None:
    write_face_folder(tmp_path / "set", 20)
    train, test = load_cartoon_faces(FEATURE_SPECS["cartoon-faces"], tmp_path / "set")
    # "glasses" has one value only: nothing to learn, so no head
    assert train.classes == {"hair": ["afro", "short"]}
    assert len(train.images) == 16 and len(test.images) == 4
    assert train.images.shape[1:] == (3, 64, 64)
    # the label follows the image: red faces are "afro" (index 0)
    red = train.images[:, 0, 0, 0] > 128
    assert np.array_equal(train.labels["hair"] == 0, red)


def test_a_folder_without_attributes_says_how_to_make_them(tmp_path: Path) -> None:
    (tmp_path / "faces").mkdir()
    with pytest.raises(FileNotFoundError, match="dcgan data cartoon-faces"):
        load_cartoon_faces(FEATURE_SPECS["cartoon-faces"], tmp_path)


def test_cli_refuses_an_unknown_network_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["features", "inception", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "unknown feature network 'inception'" in result.output
    assert not (tmp_path / "x").exists()
