from pathlib import Path

import pytest
from pydantic import ValidationError

from service.manifest import Manifest, is_valid_model_name
from tests.helpers import make_tiny_model


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    folder = make_tiny_model(tmp_path_factory.mktemp("models"))
    return Manifest.load(folder / "manifest.json")


def test_exported_manifest_validates_and_round_trips(manifest: Manifest, tmp_path: Path) -> None:
    manifest.dump(tmp_path / "m.json")
    assert Manifest.load(tmp_path / "m.json") == manifest


@pytest.mark.parametrize(
    "change",
    [
        {"name": "../x"},
        {"onnx_file": "../../etc/passwd"},
        {"onnx_sha256": "abc"},
        {"channels": 2},
        {"version": 0},
        {"unexpected": 1},
    ],
)
def test_bad_manifests_are_rejected(manifest: Manifest, change: dict[str, object]) -> None:
    data = manifest.model_dump() | change
    with pytest.raises(ValidationError):
        Manifest.model_validate(data)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("cartoon-faces", True),
        ("simpsons_2", True),
        ("..", False),
        ("a/b", False),
        ("-x", False),
        ("A", False),
    ],
)
def test_model_names(name: str, ok: bool) -> None:
    assert is_valid_model_name(name) is ok
