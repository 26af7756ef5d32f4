"""requirements/*.lock agree with pyproject.toml: every dependency pinned, in range, hashed."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    # name==version, an optional environment marker (`; sys_platform != "win32"`), hashes
    found = re.findall(
        r"^([A-Za-z0-9._-]+)==(\S+)(?: ;[^\\\n]*)? \\\n\s+--hash=sha256:", text, flags=re.M
    )
    return {canonicalize_name(name): version for name, version in found}


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("serve-cpu.lock", ["cpu", "otel"]),
        ("serve-gpu.lock", ["gpu", "otel"]),
        ("train.lock", ["cpu", "train"]),
    ],
)
def test_lock_pins_every_dependency_within_its_range(lock: str, extras: list[str]) -> None:
    locked = pins(lock)
    optional = PROJECT["optional-dependencies"]
    wanted = PROJECT["dependencies"] + [d for e in extras for d in optional[e]]
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{lock} does not pin {name}"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock}: {name}=={locked[name]} is outside {requirement.specifier}"
        )


def test_cpu_and_gpu_runtimes_never_share_a_lock() -> None:
    cpu, gpu = pins("serve-cpu.lock"), pins("serve-gpu.lock")
    assert "onnxruntime" in cpu and "onnxruntime-gpu" not in cpu
    assert "onnxruntime-gpu" in gpu and "onnxruntime" not in gpu
    assert any(name.startswith("nvidia-cudnn") for name in gpu)  # the pip-wheel CUDA runtime
    assert "torch" not in cpu and "torch" not in gpu
