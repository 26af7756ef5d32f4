"""training.data.provenance: dataset.json next to generated image folders, portable paths."""

import json
from pathlib import Path

from training.data.provenance import dataset_provenance, portable_spec


def test_dataset_json_next_to_or_inside_the_folder_is_found(tmp_path: Path) -> None:
    faces = tmp_path / "cartoon-faces" / "faces"
    faces.mkdir(parents=True)
    assert dataset_provenance(str(faces)) is None
    record = {"command": "dcgan data cartoon-faces --count 64", "facesjs_version": "5.0.3"}
    (faces.parent / "dataset.json").write_text(json.dumps(record))
    assert dataset_provenance(str(faces)) == record
    assert dataset_provenance(str(faces.parent)) == record


def test_built_in_names_and_broken_records_have_no_provenance(tmp_path: Path) -> None:
    assert dataset_provenance("digits") is None
    (tmp_path / "dataset.json").write_text("{not json")
    assert dataset_provenance(str(tmp_path / "faces")) is None


def test_paths_inside_the_project_become_relative(tmp_path: Path) -> None:
    inside = tmp_path / "data" / "faces"
    assert portable_spec(str(inside), base=tmp_path) == "data/faces"
    assert portable_spec("data/faces", base=tmp_path) == "data/faces"
    assert portable_spec("fashion-mnist", base=tmp_path) == "fashion-mnist"
    assert portable_spec("/elsewhere/faces", base=tmp_path) == "/elsewhere/faces"
