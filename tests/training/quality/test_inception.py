"""Standard FID/KID from a local InceptionV3 file (training/quality/inception.py).

These run where torch-fidelity imports (`make test-fid`: a virtualenv with a torch and a
torchvision that match); elsewhere they skip, or fail under DCGAN_REQUIRE_FID=1 (CI). The
weights file is made by the tests: torch-fidelity's network with seeded random weights, saved
as the state dict the real `.pth` is.
"""

import json
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from contract.manifest import Manifest
from testkit.tools import unavailable
from tests.helpers import blobs, make_tiny_model
from training.cli import app
from training.quality.inception import InceptionError, InceptionFeatures, inception_scores
from training.quality.metrics import sample_rows

runner = CliRunner()


def require_torch_fidelity() -> None:
    try:
        import torch_fidelity  # noqa: F401
    except ImportError as exc:
        unavailable(f"torch-fidelity: run `make test-fid` ({exc})", "DCGAN_REQUIRE_FID")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict of torch-fidelity's FID InceptionV3 with seeded random weights."""
    require_torch_fidelity()
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    cls = fe.FeatureExtractorInceptionV3
    # build the network without its weights (None would download them)
    with (
        mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(cls, "load_state_dict", lambda self, state: None),
    ):
        torch.manual_seed(0)
        net = cls("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "weights-inception-test.pth"
    torch.save(net.state_dict(), path)
    return path


def noise(n: int, seed: int, channels: int = 3, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)


def test_scores_separate_another_distribution_from_the_real_floor(weights: Path) -> None:
    real = blobs(24, 0)
    same = inception_scores(real, blobs(12, 1), weights)
    other = inception_scores(real, noise(12, 2), weights)
    assert same.samples == other.samples == 12
    assert same.fid_floor == other.fid_floor  # the floor depends on the real halves only
    assert other.fid > 3 * same.fid and other.fid > 3 * other.fid_floor
    assert other.kid > other.kid_floor
    assert other.weights == weights.name and len(other.weights_sha256) == 64
    assert other.library.startswith("torch-fidelity ")


def test_fid_is_torch_fidelitys_own_on_the_same_rows(weights: Path) -> None:
    # the same number as the library's end-to-end calculate_metrics on the same images:
    # no rescaling, channel or layout mistake between our arrays and its extractor
    import torch_fidelity

    real, fake = blobs(24, 0), noise(12, 2)
    ours = inception_scores(real, fake, weights)
    half_a, _, rows = sample_rows(len(real), len(fake), seed=0)

    class Images(torch.utils.data.Dataset[torch.Tensor]):
        def __init__(self, images: np.ndarray) -> None:
            self.images = torch.from_numpy(images)

        def __len__(self) -> int:
            return len(self.images)

        def __getitem__(self, i: int) -> torch.Tensor:
            return self.images[i]

    theirs = torch_fidelity.calculate_metrics(
        input1=Images(fake[rows]),
        input2=Images(real[half_a]),
        fid=True,
        feature_extractor_weights_path=str(weights),
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=8,
    )
    assert ours.fid == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)


def test_grey_images_are_repeated_to_three_channels(weights: Path) -> None:
    extract = InceptionFeatures(weights)
    grey = blobs(3, 4, channels=1)
    assert extract(grey).shape == (3, 2048)
    np.testing.assert_allclose(extract(grey), extract(np.repeat(grey, 3, axis=1)), rtol=1e-6)


def test_a_file_that_is_not_the_inception_state_dict_is_a_clear_error(
    weights: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(InceptionError, match="is not torch-fidelity's FID InceptionV3"):
        InceptionFeatures(wrong)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(InceptionError, match=str(garbage)):
        InceptionFeatures(garbage)
    with pytest.raises(InceptionError, match="no file at"):
        InceptionFeatures(tmp_path / "missing.pth")


def test_evaluate_prints_records_and_cards_the_standard_numbers(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache"))
    version = make_tiny_model(tmp_path / "models")
    args = ["evaluate", str(version), "--data", "digits", "--samples", "16", "--features"]
    args += ["pixels", "--inception-weights", str(weights)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "standard Inception metrics (torch-fidelity" in result.output
    assert any(line.startswith("fid ") for line in result.output.splitlines())
    result = runner.invoke(app, [*args, "--json", "--record"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)["inception"]
    assert printed["samples"] == 16 and printed["fid"] > printed["fid_floor"]
    quality = Manifest.load(version / "manifest.json").quality
    assert quality is not None and quality["inception"] == printed
    assert "--inception-weights" in quality["command"]
    card = (version / "card.md").read_text()
    assert f"| FID | {printed['fid']:.4g} | {printed['fid_floor']:.4g} |" in card


def test_without_torch_fidelity_evaluate_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # import raises ImportError
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    version = make_tiny_model(tmp_path / "models")
    args = ["evaluate", str(version), "--data", "digits", "--inception-weights", str(weights)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "needs torch-fidelity" in result.output and ".[fid]" in result.output
