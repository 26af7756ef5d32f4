import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.core.settings import Settings
from service.http.app import create_app
from tests.helpers import make_tiny_model


@pytest.fixture(scope="session")
def prepared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny v1 + v2 (good), gray v1 (1 channel), and three broken models."""
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny", 1, seed=1)
    make_tiny_model(root, "tiny", 2, seed=2)
    make_tiny_model(root, "gray", 1, channels=1)
    corrupt = make_tiny_model(root, "corrupt", 1)
    (corrupt / "generator.onnx").write_bytes(b"not onnx")
    manifest = corrupt / "manifest.json"
    import hashlib
    import json

    data = json.loads(manifest.read_text())
    data["onnx_sha256"] = hashlib.sha256(b"not onnx").hexdigest()
    manifest.write_text(json.dumps(data))
    # a valid ONNX under a stale checksum: another export's generator (the checksum is all
    # that stops it from being served)
    tampered = make_tiny_model(root, "tampered", 1)
    other = make_tiny_model(tmp_path_factory.mktemp("other"), "other", 1, seed=9)
    (tampered / "generator.onnx").write_bytes((other / "generator.onnx").read_bytes())
    (root / "nomanifest" / "1").mkdir(parents=True)
    (root / "Bad Name" / "1").mkdir(parents=True)
    return root


@pytest.fixture
def models_dir(prepared_models: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(prepared_models, tmp_path / "models"))


@pytest.fixture
def client(models_dir: Path) -> Iterator[TestClient]:
    app = create_app(Settings(models_dir=models_dir, default_model="tiny"))
    with TestClient(app) as c:
        yield c


@pytest.fixture(params=["inprocess", "shared"])
def engine_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """For the real-server tests whose behaviour must not depend on where inference runs:
    in each HTTP worker, or in the shared engine process (service.engine)."""
    return {"DCGAN_ENGINE": request.param}


@pytest.fixture(params=["inprocess", pytest.param("shared", marks=pytest.mark.slow)])
def heavy_engine_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """``engine_env`` for the heaviest tests (floods, abandoned work): the shared engine's run
    is in the slow suite (`make test-slow`), to keep the default run short."""
    return {"DCGAN_ENGINE": request.param}
