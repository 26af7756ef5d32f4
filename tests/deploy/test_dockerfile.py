"""Dockerfile and .dockerignore: hadolint, stage layout, and what enters the build context."""

from __future__ import annotations

import re
import subprocess

from docker.utils.build import exclude_paths

from tests.deploy.conftest import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
SERVING_STAGES = ("python-base", "deps-cpu", "deps-cuda", "serve-base", "cpu", "cuda")


def stages() -> dict[str, str]:
    """Stage name -> its instructions (continuation lines included, comments dropped)."""
    text = re.sub(r"^\s*#.*\n", "", DOCKERFILE.read_text(), flags=re.M)
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_hadolint_has_nothing_to_say() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_three_targets_and_cpu_is_the_default() -> None:
    names = list(stages())
    assert {"cpu", "cuda", "train"} <= set(names)
    assert names[-1] == "cpu"  # `docker build .` builds the last stage


def test_serving_images_hold_no_torch_and_install_only_locked_wheels() -> None:
    by_name = stages()
    for name in SERVING_STAGES:
        assert "torch" not in by_name[name].lower(), name
    for variant in ("cpu", "gpu"):
        lock = ROOT / "requirements" / f"serve-{variant}.lock"
        assert "\ntorch==" not in lock.read_text()
        stage = by_name["deps-cuda" if variant == "gpu" else "deps-cpu"]
        assert f"requirements/serve-{variant}.lock" in stage
        assert "--require-hashes" in stage and "--only-binary=:all:" in stage


def test_serving_images_run_as_a_non_root_user_with_a_healthcheck() -> None:
    base = stages()["serve-base"]
    user = re.findall(r"^USER\s+(\S+)", base, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*service\.healthcheck", base, flags=re.M | re.S)
    for name in ("cpu", "cuda"):
        assert "COPY --from=deps-" in stages()[name]
        assert "COPY models/ models/" in stages()[name]


def test_dockerignore_keeps_caches_runs_and_virtualenvs_out() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    included = exclude_paths(str(ROOT), patterns, dockerfile="Dockerfile")
    for needed in (
        "contract/manifest.py",
        "service/http/app.py",
        "service/healthcheck.py",
        "service/static/index.html",
        "service/static/app.js",
        "service/static/style.css",
        "requirements/serve-cpu.lock",
        "requirements/serve-gpu.lock",
        "models/fashion/1/generator.onnx",
        "pyproject.toml",
    ):
        assert needed in included, needed
    leaked = [
        p
        for p in included
        if p.startswith((".venv/", "runs/", "data/", ".git/", "tests/", ".mypy_cache/"))
        or "__pycache__" in p
        or "node_modules" in p
    ]
    assert not leaked, leaked[:10]
