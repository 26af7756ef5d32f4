"""The labelled sets the feature networks learn from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.data.cartoon_faces import ATTRIBUTES_FILE
from training.quality.feature_data import FEATURE_SPECS, load_cartoon_faces


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
