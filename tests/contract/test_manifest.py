from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestTooLarge,
    is_valid_model_name,
)
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
        {"value_range": (1.0, 1.0)},  # every request was a ZeroDivisionError
        {"value_range": (1.0, -1.0)},
        {"value_range": (float("nan"), float("nan"))},  # black images
        {"value_range": (float("-inf"), float("inf"))},
        {"value_range": (-1.0, float("inf"))},
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


def test_the_smallest_increasing_value_range_is_accepted(manifest: Manifest) -> None:
    data = manifest.model_dump() | {"value_range": (0.0, 1e-6)}
    assert Manifest.model_validate(data).value_range == (0.0, 1e-6)


def test_a_manifest_file_over_the_cap_is_refused_unread(manifest: Manifest, tmp_path: Path) -> None:
    """A padded manifest of exactly MAX_MANIFEST_BYTES loads; one byte more is refused."""
    text = manifest.model_dump_json()
    path = tmp_path / "manifest.json"
    path.write_text(text + " " * (MAX_MANIFEST_BYTES - len(text.encode())))
    assert path.stat().st_size == MAX_MANIFEST_BYTES
    assert Manifest.load(path) == manifest
    path.write_text(text + " " * (MAX_MANIFEST_BYTES + 1 - len(text.encode())))
    with pytest.raises(ManifestTooLarge):
        Manifest.load(path)
