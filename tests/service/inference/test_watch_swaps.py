"""DCGAN_WATCH follows the models folder itself, not only the files in it.

A watch sits on a folder's inode: before, a models folder deleted and recreated, renamed
away, or re-pointed through a symlink (the atomic way to publish a new set of models) left
the watcher on the old folder, and the server stayed stale or not ready, without a word.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testkit.servers import running_server, wait_for

SWAPS = ["symlink re-pointed", "renamed away and replaced", "deleted and recreated"]


def a_set(prepared_models: Path, where: Path, name: str) -> Path:
    """A models folder holding one model, ``name`` (a copy of the tiny test model)."""
    shutil.copytree(prepared_models / "tiny", where / name)
    manifest = where / name / "1" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"name": "tiny"', f'"name": "{name}"'))
    for version in list((where / name).iterdir()):
        if version.name != "1":
            shutil.rmtree(version)
    return where


def served(url: str) -> list[str]:
    return sorted(httpx.get(f"{url}/models", timeout=5).json().get("models", {}))


@pytest.mark.parametrize("swap", SWAPS)
def test_the_watch_follows_a_replaced_models_folder(
    prepared_models: Path, tmp_path: Path, swap: str, engine_env: dict[str, str]
) -> None:
    live = tmp_path / "models"  # what the server is given
    first = a_set(prepared_models, tmp_path / "set-a", "alpha")
    if swap == "symlink re-pointed":
        live.symlink_to(first)
    else:
        first.rename(live)
    replace: dict[str, Callable[[Path], None]] = {
        "symlink re-pointed": lambda new: (
            (tmp_path / "next").symlink_to(new),
            os.replace(tmp_path / "next", live),  # atomic, as `ln -sfn` + `mv -T` do it
        ),
        "renamed away and replaced": lambda new: (
            live.rename(tmp_path / "old"),
            new.rename(live),
        ),
        "deleted and recreated": lambda new: (shutil.rmtree(live), new.rename(live)),
    }
    env = {"DCGAN_WATCH": "true", "DCGAN_DEFAULT_MODEL": "alpha", **engine_env}
    with running_server(live, env) as srv:
        assert "alpha" in served(srv.url)
        replace[swap](a_set(prepared_models, tmp_path / "set-b", "beta"))
        wait_for(lambda: served(srv.url) == ["beta"], 15, lambda: served(srv.url))
        assert httpx.post(f"{srv.url}/generate?model=beta", json={"seed": 1}).status_code == 200
        assert httpx.get(f"{srv.url}/readyz").status_code == 200
        # and it still watches: a new model in the new folder arrives too
        shutil.copytree(live / "beta", tmp_path / "staging-gamma")
        manifest = tmp_path / "staging-gamma" / "1" / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"name": "beta"', '"name": "gamma"'))
        (tmp_path / "staging-gamma").rename(live / "gamma")
        wait_for(lambda: "gamma" in served(srv.url), 15, lambda: served(srv.url))
        assert "the models folder" in srv.output()  # the log says what happened
