"""Discovery never raises, never opens what is not a regular file, never leaves the models folder.

Each test builds one odd shape next to a good model and checks that the good model serves,
the odd version is unavailable with a reason that says why, and no reason carries a host path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from onnxruntime import InferenceSession

from contract import exports
from contract.manifest import Manifest
from service.core.settings import Settings
from service.inference.registry import Registry, discover, unchanged
from testkit.servers import server
from tests.helpers import make_tiny_model

CPU_ONLY = ["CPUExecutionProvider"]


def _modes_are_enforced() -> bool:
    """False for root (euid 0 with CAP_DAC_OVERRIDE): it reads files whatever their mode."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder, "probe")
        probe.write_text("x")
        probe.chmod(0)
        try:
            probe.read_text()
        except PermissionError:
            return True
        return False


needs_modes = pytest.mark.skipif(
    not _modes_are_enforced(), reason="running as root: files are read whatever their mode"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny v1 (the good model) and bad v1 (a good export, for the tests to break)."""
    root = tmp_path_factory.mktemp("template")
    make_tiny_model(root, "tiny", 1, seed=1)
    make_tiny_model(root, "bad", 1, seed=2)
    return root


@pytest.fixture
def models(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "models", symlinks=True))


def scan(models: Path, previous: Registry | None = None) -> Registry:
    return discover(Settings(models_dir=models, providers=CPU_ONLY), previous)


def copy_version(source: Path, target: Path, name: str, version: int) -> Path:
    """A copy of a good version folder, its manifest rewritten for name/version."""
    shutil.copytree(source, target)
    edit_manifest(target, name=name, version=version)
    return target


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def make_fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def assert_no_host_path(reason: str, tmp_path: Path) -> None:
    assert str(tmp_path) not in reason and os.path.realpath(tmp_path) not in reason
    assert not any(word.lstrip("'\"(").startswith("/") for word in reason.split()), reason


def unavailable_reason(found: Registry, name: str, version: int, tmp_path: Path) -> str:
    """The good model is ready; name/version is unavailable: its reason, checked for paths."""
    assert found.models["tiny"][1].status == "ready", found.models["tiny"][1].reason
    entry = found.models[name][version]
    assert entry.status == "unavailable" and entry.session is None
    assert_no_host_path(entry.reason, tmp_path)
    return entry.reason


def test_a_manifest_that_is_a_folder(models: Path, tmp_path: Path) -> None:
    manifest = models / "bad" / "1" / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason == "manifest.json is not a regular file (a folder)"


@pytest.mark.timeout(20)  # opening a FIFO without a writer blocks: the test hangs, then fails
@pytest.mark.parametrize("file_name", ["manifest.json", "generator.onnx"])
def test_a_fifo_is_never_opened(models: Path, tmp_path: Path, file_name: str) -> None:
    make_fifo(models / "bad" / "1" / file_name)
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason == f"{file_name} is not a regular file (a FIFO)"


@pytest.mark.timeout(20)
def test_a_loaded_version_whose_manifest_becomes_a_fifo_is_not_opened_on_reload(
    models: Path, tmp_path: Path
) -> None:
    first = scan(models)
    assert first.models["bad"][1].status == "ready"
    make_fifo(models / "bad" / "1" / "manifest.json")
    assert unchanged(first.models["bad"][1], models / "bad" / "1") is False
    reason = unavailable_reason(scan(models, first), "bad", 1, tmp_path)
    assert "not a regular file (a FIFO)" in reason


def test_an_unchanged_version_is_kept_across_a_reload(models: Path) -> None:
    first = scan(models)
    again = scan(models, first)
    assert again.models["bad"][1] is first.models["bad"][1]


def test_a_broken_newest_version_leaves_the_model_ready_on_the_one_before(
    models: Path, tmp_path: Path
) -> None:
    """bad v2 cannot load: requests without a version get v1, the model counts as ready; with
    every version broken, the default is the newest (to say why) and the model is not ready."""
    v2 = copy_version(models / "bad" / "1", models / "bad" / "2", "bad", 2)
    (v2 / "generator.onnx").write_bytes(b"half-copied")
    found = scan(models)
    assert "sha256 of generator.onnx does not match" in unavailable_reason(
        found, "bad", 2, tmp_path
    )
    default = found.default_version("bad")
    assert default is not None and (default.version, default.status) == (1, "ready")
    assert found.ready_names() == ["bad", "tiny"]
    (models / "bad" / "1" / "generator.onnx").write_bytes(b"half-copied")
    none_ready = scan(models)
    default = none_ready.default_version("bad")
    assert default is not None and (default.version, default.status) == (2, "unavailable")
    assert none_ready.ready_names() == ["tiny"]


def test_a_loaded_version_whose_onnx_is_rewritten_is_loaded_again_and_refused(
    models: Path, tmp_path: Path
) -> None:
    """Same manifest, other ONNX bytes (a copy over a served version): a reload must not keep
    the loaded session as if nothing changed; the checksum refuses the new file."""
    first = scan(models)
    assert first.models["bad"][1].status == "ready"
    (models / "bad" / "1" / "generator.onnx").write_bytes(
        (models / "tiny" / "1" / "generator.onnx").read_bytes()
    )
    assert unchanged(first.models["bad"][1], models / "bad" / "1") is False
    assert "sha256 of generator.onnx does not match" in unavailable_reason(
        scan(models, first), "bad", 1, tmp_path
    )


@pytest.mark.parametrize("folder_name", ["²", "01", "001", "+1", "\u0661", " 1", "1 ", "0", "1.0"])
def test_a_non_canonical_version_folder_is_skipped_with_a_warning(
    models: Path, caplog: pytest.LogCaptureFixture, folder_name: str
) -> None:
    """Not merged with v1 (as 01 was), not an error (as ² was): logged and left out."""
    shutil.copytree(models / "bad" / "1", models / "bad" / folder_name)
    with caplog.at_level(logging.WARNING, logger="service.registry"):
        found = scan(models)
    assert found.models["tiny"][1].status == "ready"
    assert list(found.models["bad"]) == [1]
    assert found.models["bad"][1].path == models / "bad" / "1"
    assert found.models["bad"][1].status == "ready"
    warning = next(r.getMessage() for r in caplog.records if repr(folder_name) in r.getMessage())
    assert "bad" in warning and "canonical decimal integers" in warning


def test_a_model_with_only_a_non_canonical_version_is_absent(models: Path) -> None:
    (models / "bad" / "1").rename(models / "bad" / "²")
    found = scan(models)
    assert "bad" not in found.models and found.models["tiny"][1].status == "ready"


def test_canonical_versions_load_and_order_by_number(models: Path) -> None:
    for version in (2, 10):
        copy_version(models / "bad" / "1", models / "bad" / str(version), "bad", version)
    found = scan(models)
    assert sorted(found.models["bad"]) == [1, 2, 10]
    assert all(v.status == "ready" for v in found.models["bad"].values())
    assert found.default_version("bad") is found.models["bad"][10]


def test_files_beside_models_and_versions_are_ignored_quietly(
    models: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (models / "README.md").write_text("models live here")
    (models / "bad" / "2").write_text("a file, not a version folder")
    (models / "bad" / ".1-staging").mkdir()  # an export in progress
    with caplog.at_level(logging.WARNING, logger="service.registry"):
        found = scan(models)
    assert list(found.models["bad"]) == [1] and found.models["bad"][1].status == "ready"
    assert caplog.records == []


def test_a_version_folder_symlinked_outside_is_not_served(models: Path, tmp_path: Path) -> None:
    outside = copy_version(models / "bad" / "1", tmp_path / "outside" / "2", "bad", 2)
    (models / "bad" / "2").symlink_to(outside, target_is_directory=True)
    found = scan(models)
    reason = unavailable_reason(found, "bad", 2, tmp_path)
    assert reason == "the version folder points outside the models folder"
    assert found.models["bad"][1].status == "ready"


def test_a_model_folder_symlinked_outside_is_skipped_with_a_warning(
    models: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy_version(models / "bad" / "1", tmp_path / "outside" / "evil" / "1", "evil", 1)
    (models / "evil").symlink_to(tmp_path / "outside" / "evil", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="service.registry"):
        found = scan(models)
    assert "evil" not in found.models and found.models["tiny"][1].status == "ready"
    assert "ignoring model evil: its folder points outside the models folder" in caplog.text
    assert str(tmp_path / "outside") not in caplog.text


def test_symlinks_that_stay_inside_the_models_folder_are_allowed(models: Path) -> None:
    store = copy_version(models / "bad" / "1", models / ".store" / "bad-2", "bad", 2)
    (models / "bad" / "2").symlink_to(Path("..", ".store", "bad-2"), target_is_directory=True)
    found = scan(models)
    assert found.models["bad"][2].status == "ready", found.models["bad"][2].reason
    assert ".store" not in found.models and store.is_dir()


@pytest.mark.parametrize("file_name", ["manifest.json", "generator.onnx"])
def test_a_file_symlinked_outside_is_refused(models: Path, tmp_path: Path, file_name: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # the same bytes: only where they live is wrong
    shutil.move(models / "bad" / "1" / file_name, outside / file_name)
    (models / "bad" / "1" / file_name).symlink_to(outside / file_name)
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason == f"{file_name} points outside the models folder"


def test_broken_symlinks_are_reported_without_their_target(models: Path, tmp_path: Path) -> None:
    manifest = models / "bad" / "1" / "manifest.json"
    manifest.unlink()
    manifest.symlink_to(tmp_path / "secret" / "manifest.json")
    (models / "bad" / "2").symlink_to(tmp_path / "secret" / "2")
    found = scan(models)
    reason = unavailable_reason(found, "bad", 1, tmp_path)
    assert reason == "manifest.json is a broken symlink"
    reason = unavailable_reason(found, "bad", 2, tmp_path)
    assert reason == "the version folder is a broken symlink"


def test_a_missing_manifest(models: Path, tmp_path: Path) -> None:
    (models / "bad" / "1" / "manifest.json").unlink()
    assert unavailable_reason(scan(models), "bad", 1, tmp_path) == "manifest.json is missing"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"nz": 0}, "invalid manifest: nz: Input should be greater than or equal to 1"),
        ({"training": {}}, "invalid manifest: training.command: Field required; "),
        ({"channels": 2, "surprise": 1}, "invalid manifest: channels: Input should be 1 or 3; "),
    ],
)
def test_an_invalid_manifest_names_the_field(
    models: Path, tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    edit_manifest(models / "bad" / "1", **changes)
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason.startswith(expected), reason
    if "surprise" in changes:
        assert "surprise: Extra inputs are not permitted" in reason
    if "training" in changes:  # many errors: the first few, then a count
        assert reason.endswith("more") and reason.count(";") == 3


def test_a_manifest_that_is_not_json(models: Path, tmp_path: Path) -> None:
    (models / "bad" / "1" / "manifest.json").write_text('{"name": "bad",\n  "version": }')
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason.startswith("invalid manifest: not valid JSON (") and "line 2" in reason


def test_a_manifest_that_is_not_utf8(models: Path, tmp_path: Path) -> None:
    (models / "bad" / "1" / "manifest.json").write_bytes(b'{"name": "\xff"}')
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason.startswith("invalid manifest:") and "UTF-8" in reason


@needs_modes
def test_an_unreadable_manifest(models: Path, tmp_path: Path) -> None:
    manifest = models / "bad" / "1" / "manifest.json"
    manifest.chmod(0)
    try:
        reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    finally:
        manifest.chmod(0o644)
    assert reason == "cannot read manifest.json: permission denied"


@needs_modes
def test_unreadable_folders_are_reported_not_raised(
    models: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy_version(models / "bad" / "1", models / "locked" / "1", "locked", 1)
    (models / "bad" / "1").chmod(0)
    (models / "locked").chmod(0)
    try:
        with caplog.at_level(logging.WARNING, logger="service.registry"):
            found = scan(models)
    finally:
        (models / "bad" / "1").chmod(0o755)
        (models / "locked").chmod(0o755)
    reason = unavailable_reason(found, "bad", 1, tmp_path)
    assert "permission denied" in reason
    assert "locked" not in found.models
    assert "cannot list the folder of model locked: permission denied" in caplog.text


def test_symlink_loops(models: Path, tmp_path: Path) -> None:
    manifest = models / "bad" / "1" / "manifest.json"
    manifest.unlink()
    manifest.symlink_to("manifest.json")  # itself
    (models / "bad" / "2").symlink_to("3")
    (models / "bad" / "3").symlink_to("2")
    found = scan(models)
    for version in (1, 2, 3):
        reason = unavailable_reason(found, "bad", version, tmp_path)
        assert reason.startswith("cannot read"), reason
        assert "symlink loop" in reason or "too many levels of symbolic links" in reason
    assert "manifest.json" in found.models["bad"][1].reason
    assert "version folder" in found.models["bad"][2].reason


def test_a_name_too_long_for_the_file_system(models: Path, tmp_path: Path) -> None:
    edit_manifest(models / "bad" / "1", onnx_file="x" * 300)
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert "file name too long" in reason


def test_onnxruntime_errors_carry_no_host_path(models: Path, tmp_path: Path) -> None:
    (models / "bad" / "1" / "generator.onnx").write_bytes(b"not onnx")
    edit_manifest(models / "bad" / "1", onnx_sha256=hashlib.sha256(b"not onnx").hexdigest())
    reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason.startswith("onnxruntime cannot load generator.onnx: ")
    assert "\n" not in reason


def test_an_unforeseen_error_is_one_unavailable_version(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    check_signature = exports.check_signature

    def broken(session: InferenceSession, manifest: Manifest) -> str:
        if manifest.name == "bad":
            raise RuntimeError(f"no such thing in {models / 'bad' / '1'}\nsecond line")
        return check_signature(session, manifest)

    monkeypatch.setattr(exports, "check_signature", broken)
    with caplog.at_level(logging.ERROR, logger="service.registry"):
        reason = unavailable_reason(scan(models), "bad", 1, tmp_path)
    assert reason.startswith("unexpected error: RuntimeError: ") and "second line" not in reason
    assert any(r.exc_info for r in caplog.records)  # logged with its traceback


def test_a_server_starts_and_serves_beside_odd_shapes(models: Path, tmp_path: Path) -> None:
    (models / "dirmanifest" / "1" / "manifest.json").mkdir(parents=True)
    copy_version(models / "bad" / "1", models / "fifo" / "1", "fifo", 1)
    make_fifo(models / "fifo" / "1" / "manifest.json")
    outside = copy_version(models / "bad" / "1", tmp_path / "outside" / "1", "escape", 1)
    (models / "escape").mkdir()
    (models / "escape" / "1").symlink_to(outside, target_is_directory=True)
    shutil.copytree(models / "bad" / "1", models / "bad" / "²")
    with server(models) as url:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        generated = httpx.post(f"{url}/generate?model=tiny", json={"seed": 1}, timeout=30)
        assert generated.status_code == 200, generated.text
        listing = httpx.get(f"{url}/models", timeout=10)
        # the same shapes met by a reload: a JSON report, not a plain-text 500
        (models / "later" / "1" / "manifest.json").mkdir(parents=True)
        reload = httpx.post(f"{url}/admin/reload", timeout=30)
        assert reload.status_code == 200, reload.text
        failed = {f["model"] for f in reload.json()["failed"]}
        assert {"dirmanifest", "fifo", "escape", "later"} <= failed
        assert str(tmp_path) not in reload.text
    assert listing.status_code == 200
    listed = listing.json()["models"]
    for name in ("dirmanifest", "fifo", "escape"):
        (version,) = listed[name]["versions"]
        assert version["status"] == "unavailable" and version["reason"], name
        assert_no_host_path(version["reason"], tmp_path)
    assert [v["version"] for v in listed["bad"]["versions"]] == [1]
    assert str(tmp_path) not in listing.text
