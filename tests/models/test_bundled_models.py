"""The models shipped in models/: valid, complete training records, and they draw what they say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.imaging import to_uint8
from contract.latents import latents_for_seeds
from contract.manifest import Manifest, sha256_file
from service.core.settings import Settings
from service.inference.registry import load_version

MODELS = Path(__file__).resolve().parents[2] / "models"
VERSIONS = sorted(p for p in MODELS.glob("*/*") if p.is_dir())


def test_the_default_model_is_bundled() -> None:
    assert (MODELS / Settings().default_model).is_dir()


@pytest.mark.parametrize("folder", VERSIONS, ids=lambda p: f"{p.parent.name}-v{p.name}")
def test_bundled_version_is_complete_and_says_how_it_was_made(folder: Path) -> None:
    manifest = Manifest.load(folder / "manifest.json")
    assert (manifest.name, str(manifest.version)) == (folder.parent.name, folder.name)
    assert sha256_file(folder / manifest.onnx_file) == manifest.onnx_sha256
    assert (folder / manifest.onnx_file).stat().st_size < 10_000_000  # comfortable in git
    for preview in ("samples.png", "training.gif", "losses.png"):
        assert (folder / preview).stat().st_size > 0, preview
    record = manifest.training
    assert record.command.startswith("dcgan train ")
    assert record.dataset_size > 0 and record.steps > 0 and record.wall_time_s > 0
    assert {"d", "g"} <= set(record.final_losses)
    assert not Path(record.dataset).is_absolute()  # manifests travel to other machines


@pytest.mark.parametrize("version", ["1", "2"])
def test_cartoon_faces_draws_varied_faces_on_the_plain_background(version: str) -> None:
    folder = MODELS / "cartoon-faces" / version
    entry = load_version("cartoon-faces", folder, Settings(), ["CPUExecutionProvider"])
    assert entry.status == "ready", entry.reason
    assert entry.manifest is not None
    build = (entry.manifest.training.model_extra or {})["dataset_build"]
    assert build["facesjs_version"] and build["count"] == entry.manifest.training.dataset_size
    faces = to_uint8(entry.run(latents_for_seeds(list(range(16)), entry.manifest.nz)))
    assert faces.shape == (16, 64, 64, 3)
    # the data set's background is #e8e8e8 (232): the top corners of a face are background
    corners = np.concatenate([faces[:, :6, :6], faces[:, :6, -6:]], axis=1).astype(float)
    assert abs(corners.mean() - 232) < 20
    # and the centre (the face) is not: darker, with colour
    centre = faces[:, 24:40, 24:40].astype(float)
    assert centre.mean() < 200
    # different seeds, different faces (no mode collapse): mean pairwise distance is large
    flat = faces.reshape(16, -1).astype(float)
    distances = [np.abs(flat[i] - flat[j]).mean() for i in range(16) for j in range(i + 1, 16)]
    assert np.mean(distances) > 15
