"""The Makefile as a user meets it: `make` alone says what it can do, and `make serve` listens
where DCGAN_HOST / DCGAN_PORT say, as dcgan-serve does (before, the Makefile's own --port won
and DCGAN_PORT=9000 make serve served on 8000)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def make(*args: str, env: dict[str, str] | None = None) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DCGAN_")}
    done = subprocess.run(
        ["make", *args],
        cwd=ROOT,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_alone_lists_the_targets() -> None:
    out = make()
    for target in ("make serve", "make test", "make test-slow", "make demo", "make lint"):
        assert target in out


def test_make_serve_listens_where_the_variables_say() -> None:
    assert "--host 127.0.0.1 --port 8000" in make("-n", "serve")
    env = {"DCGAN_PORT": "9000", "DCGAN_HOST": "0.0.0.0"}
    assert "--host 0.0.0.0 --port 9000" in make("-n", "serve", env=env)
    assert "--port 9100" in make("-n", "serve", "PORT=9100", env=env)  # the option wins
