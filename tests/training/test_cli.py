import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.manifest import Manifest
from training.cli import app, evaluation_folder, parse_seeds, slug

runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_train_digits_one_epoch_then_export(workdir: Path) -> None:
    """The README's demo: dcgan train --preset mnist28 --data digits --epochs 1; dcgan export."""
    result = runner.invoke(
        app, ["train", "--preset", "mnist28", "--data", "digits", "--epochs", "1", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "7 steps (1.00 epochs)" in result.output
    # said before the work starts, and a summary in words (not a dict) with what it wrote
    assert result.output.startswith("training mnist28 at width 1 on digits into runs/digits")
    assert "final losses D " in result.output and "{'d'" not in result.output
    assert "feature FD at the end:" in result.output
    assert "1 sample grid(s) in samples/, training.gif, losses.png" in result.output
    assert "full default run" not in result.output
    result = runner.invoke(app, ["export"])
    assert result.exit_code == 0, result.output
    manifest = Manifest.load(workdir / "models" / "digits" / "1" / "manifest.json")
    assert manifest.training.dataset == "digits"
    assert manifest.training.dataset_size == 1797
    assert manifest.training.command == "dcgan train --preset mnist28 --data digits --epochs 1.0"
    assert manifest.training.steps == 7 and manifest.training.final_losses
    # export found the truncation center: a unit vector of nz numbers
    assert manifest.truncation is not None and len(manifest.truncation.center) == manifest.nz
    assert sum(v * v for v in manifest.truncation.center) == pytest.approx(1.0, rel=1e-5)
    # export measured it on the digits feature network, every metric beside its floor
    quality = manifest.quality
    assert quality is not None and quality["features"].endswith("features/digits")
    assert quality["data"] == "digits" and quality["samples"] == 500
    assert set(quality["metrics"]) >= {"fd", "kid", "precision", "recall", "density", "coverage"}
    assert all({"value", "floor"} <= set(m) for m in quality["metrics"].values())
    assert set(quality["labels"]["digit"]["shares"]) <= {str(d) for d in range(10)}
    assert quality["command"].startswith("dcgan evaluate models/digits/1 --data digits")
    assert "recorded in the manifest" in result.output
    result = runner.invoke(
        app, ["sample", "models/digits/1", "--out", "grid.png", "--seeds", "0-3"]
    )
    assert result.exit_code == 0 and (workdir / "grid.png").exists()
    result = runner.invoke(
        app, ["evaluate", "models/digits/1", "--data", "digits", "--samples", "64"]
    )
    assert result.exit_code == 0, result.output
    assert "features/digits" in result.output and "64 generated vs 64 real" in result.output
    for line in ("fd ", "kid ", "precision ", "recall ", "density ", "coverage ", "digit "):
        assert any(row.startswith(line) for row in result.output.splitlines()), line
    # the pictures, in a folder named after the version, said at the end
    pictures = workdir / "evaluations" / "digits-v1"
    assert sorted(p.name for p in pictures.iterdir()) == [
        "nearest-real.png",
        "real-vs-generated.png",
    ]
    assert result.output.rstrip().endswith(
        "pictures: evaluations/digits-v1/real-vs-generated.png, "
        "evaluations/digits-v1/nearest-real.png"
    )
    args = ["evaluate", "models/digits/1", "--data", "digits", "--features", "pixels"]
    result = runner.invoke(
        app, [*args, "--json", "--truncation", "0.5,0.9", "--record", "--pictures", "look"]
    )
    assert result.exit_code == 0, result.output
    said = json.loads(result.output)
    assert said["features"] == "pixels" and said["pictures"][-1] == "look/truncation.png"
    assert (workdir / "look" / "truncation.png").is_file()
    quality = Manifest.load(workdir / "models" / "digits" / "1" / "manifest.json").quality
    assert quality is not None and [c["psi"] for c in quality["truncation"]] == [0.5, 0.9]
    assert "pictures" not in quality  # paths on this machine are no part of the model
    result = runner.invoke(app, [*args, "--no-pictures", "--pictures", "none"])
    assert result.exit_code == 0 and "pictures:" not in result.output
    assert not (workdir / "none").exists()
    # a second draw of the generator (other seeds, the same real images): other numbers,
    # and the command that reproduces them says so
    again = json.loads(runner.invoke(app, [*args, "--json", "--first-seed", "64"]).output)
    first = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert again["command"].endswith("--first-seed 64") and "--first-seed" not in first["command"]
    assert again["metrics"]["fd"]["floor"] == first["metrics"]["fd"]["floor"]
    assert again["metrics"]["fd"]["value"] != first["metrics"]["fd"]["value"]
    assert quality["truncation"][0]["fd"] != quality["truncation"][1]["fd"]
    card = (workdir / "models" / "digits" / "1" / "card.md").read_text()
    assert "| 0.5 |" in card and "real-vs-real floor" in card


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--data", "/no/such/folder", "--preset", "mnist28"],
            "data path does not exist: /no/such/folder",
        ),
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--width", "0"], "--width must be (0, 4]"),
        (["train", "--optimizer", "sgd"], "--optimizer must be one of adam, rmsprop"),
        (["train", "--augment", "color,flip"], "--augment must be a comma list of color"),
        (["export", "runs/none"], "no checkpoint at runs/none"),
        (["export"], "no training runs under"),
        (["sample", "x", "--seeds", "a-b"], "--seeds must look like"),
        (["evaluate", "runs/x", "--data", "digits", "--record"], "--record needs an exported"),
        (["evaluate", "x", "--data", "digits", "--features", "nope"], "no feature network at"),
        (["evaluate", "x", "--data", "digits", "--truncation", "9"], "--truncation values must"),
        (["data", "prepare", "missing-dir"], "data path does not exist"),
    ],
)
def test_bad_input_is_a_clear_message_and_exit_2(
    workdir: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["export", "sample"])
@pytest.mark.parametrize("name", ["picture.jpg", "notes.txt", "empty.pt"])
def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(
    workdir: Path, command: str, name: str
) -> None:
    """Before: an UnpicklingError traceback (a .jpg, a .txt) from inside torch.load."""
    contents = {"picture.jpg": b"\xff\xd8\xff\xe0 JFIF", "notes.txt": b"{hello}\n", "empty.pt": b""}
    (workdir / name).write_bytes(contents[name])
    result = runner.invoke(app, [command, name])
    assert result.exit_code == 2, result.output
    assert f"{name} is not a dcgan checkpoint" in result.output
    assert "Traceback" not in result.output


def test_sample_takes_an_export_s_manifest_for_its_folder(workdir: Path) -> None:
    """``dcgan sample models/x/1/manifest.json`` reads the version folder (before: it was
    handed to torch.load as if it were a checkpoint)."""
    manifest = Path(__file__).resolve().parents[2] / "models" / "fashion" / "1" / "manifest.json"
    result = runner.invoke(app, ["sample", str(manifest), "--out", "grid.png", "--seeds", "0-3"])
    assert result.exit_code == 0, result.output
    assert (workdir / "grid.png").stat().st_size > 0


def test_sample_truncates_enlarges_and_labels_as_asked(workdir: Path) -> None:
    """`dcgan sample --truncation --upscale --labels`: the service's ψ and nearest-neighbour
    upscale, and each seed written under its image."""
    import numpy as np
    from PIL import Image

    fashion = Path(__file__).resolve().parents[2] / "models" / "fashion" / "1"
    base = ["sample", str(fashion), "--seeds", "0-3", "--nrow", "2"]

    def grid(*extra: str) -> np.ndarray:
        result = runner.invoke(app, [*base, "--out", "g.png", *extra])
        assert result.exit_code == 0, result.output
        return np.asarray(Image.open(workdir / "g.png"))

    plain = grid()
    assert plain.shape[:2] == (2 + 2 * (28 + 2), 2 + 2 * (28 + 2))
    big = grid("--upscale", "2")
    assert big.shape[:2] == (2 + 2 * (56 + 2), 2 + 2 * (56 + 2))
    assert np.array_equal(big[2:58:2, 2:58:2], plain[2:30, 2:30])  # nearest: pixels doubled
    truncated = grid("--truncation", "0.5")
    assert truncated.shape == plain.shape and not np.array_equal(truncated, plain)
    labelled = grid("--labels")
    assert labelled.shape[0] == plain.shape[0] + 2 * 12  # a 12 px strip under each row
    bad = runner.invoke(app, [*base, "--truncation", "9"])
    assert bad.exit_code == 2 and "--truncation must be in" in bad.output


def test_truncation_center_is_added_to_a_version_exported_without_one(workdir: Path) -> None:
    """A version from before centers existed: ψ is a clear exit 2 naming the command that
    adds one; `dcgan truncation-center` finds the same center export would have."""
    import shutil

    from contract.manifest import Manifest

    shipped = Path(__file__).resolve().parents[2] / "models" / "fashion" / "1"
    version = workdir / "fashion" / "1"
    shutil.copytree(shipped, version)
    manifest = Manifest.load(version / "manifest.json")
    expected = manifest.truncation
    assert expected is not None
    manifest.truncation = None
    manifest.dump(version / "manifest.json")
    sample = ["sample", str(version), "--seeds", "0-3", "--truncation", "0.7", "--out", "g.png"]
    refused = runner.invoke(app, sample)
    assert refused.exit_code == 2 and "dcgan truncation-center" in refused.output
    result = runner.invoke(app, ["truncation-center", str(version)])
    assert result.exit_code == 0, result.output
    assert Manifest.load(version / "manifest.json").truncation == expected
    assert runner.invoke(app, sample).exit_code == 0
    not_a_version = runner.invoke(app, ["truncation-center", str(workdir)])
    assert not_a_version.exit_code == 2 and "not an exported version" in not_a_version.output


def test_dcgan_train_alone_says_it_is_the_long_default_run() -> None:
    """`dcgan train` with no options trains dcgan64 at full width for ~40 minutes: said up
    front, with the options that make it short (not run here)."""
    from training.cli import all_defaults, starting_line
    from training.nets.config import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert all_defaults(defaults)
    assert not all_defaults(defaults | {"epochs": 1.0})
    line = starting_line(TrainConfig(run_dir=Path("runs/digits")), defaults_only=True)
    assert "full default run" in line and "--dry-run" in line


def test_dcgan_without_the_training_extra_says_which_to_install() -> None:
    """The serving set (`make serve`) has no typer or torch, but `dcgan` is on its PATH."""
    import subprocess
    import sys

    blocked = "import sys; sys.modules['typer'] = None; from training.launch import main; main()"
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'dcgan-serve[cpu,train]'" in done.stderr and "typer" in done.stderr
    assert "Traceback" not in done.stderr


def test_corrupt_images_are_skipped_in_training(workdir: Path) -> None:
    from PIL import Image

    folder = workdir / "faces"
    folder.mkdir()
    for i in range(20):
        Image.new("RGB", (40, 40), (i * 10, 100, 50)).save(folder / f"{i:02d}.png")
    (folder / "zz-broken.png").write_bytes(b"\x89PNG broken")
    result = runner.invoke(
        app,
        [
            "train",
            "--preset",
            "dcgan64",
            "--width",
            "0.0625",
            "--data",
            str(folder),
            "--batch-size",
            "4",
            "--max-steps",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((workdir / "runs" / "faces" / "run.json").read_text())
    assert record["dataset_size"] == 20
    assert "1 skipped" in record["dataset_description"]


def test_empty_folder_is_a_clear_error(workdir: Path) -> None:
    (workdir / "empty").mkdir()
    result = runner.invoke(app, ["train", "--data", "empty"])
    assert result.exit_code == 2
    assert "no images found under" in result.output


def test_presets_lists_every_preset_with_counts() -> None:
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0
    assert "19,118,371" in result.output and "mnist28" in result.output


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("~/kaggle/simpsons_dataset/", "simpsons"),
        ("/data/img_align_celeba", "celeba"),
        ("digits", "digits"),
        ("/x/train-images-idx3-ubyte.gz", "train-images"),
        ("My Faces!", "my-faces"),
    ],
)
def test_run_and_model_names_come_from_the_data(spec: str, name: str) -> None:
    assert slug(spec) == name


def test_parse_seeds() -> None:
    assert parse_seeds("0-3,9") == [0, 1, 2, 3, 9]
    assert parse_seeds(" 4 , 5-6") == [4, 5, 6]
    with pytest.raises(ValueError):
        parse_seeds("1-")


@pytest.mark.parametrize("text", ["²", "1-²", "٣", "-1", "1-2-3", "a", ""])
def test_parse_seeds_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="--seeds must look like"):
        parse_seeds(text)


def test_train_options_are_the_config_fields_with_their_help() -> None:
    import dataclasses

    import typer.main

    from training.nets.config import TrainConfig

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    options = {p.name: p for p in command.params}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(options) == set(fields) | {"overwrite", "verbose"}
    for name, f in fields.items():
        assert options[name].help == f.metadata["help"], name
        if name != "run_dir":  # the CLI's default is runs/<data name>
            assert options[name].default == f.default, name


@pytest.mark.parametrize(
    "error",
    [
        "training.export.onnx_export.ExportError",
        "training.data.cartoon_faces.CartoonFacesError",
        "training.data.images.DatasetError",
    ],
)
def test_user_errors_exit_2_and_bugs_keep_their_traceback(error: str) -> None:
    import importlib

    import typer

    from training.cli import user_errors
    from training.errors import UserError

    module, name = error.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, UserError)

    @user_errors
    def fails(exc: Exception) -> None:
        raise exc

    with pytest.raises(typer.Exit) as exited:
        fails(cls("the user can fix this"))
    assert exited.value.exit_code == 2
    with pytest.raises(RuntimeError, match="a bug"):
        fails(RuntimeError("a bug"))  # not a user error: the traceback stays


def test_cli_refuses_an_unknown_network_with_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["features", "inception", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "unknown feature network 'inception'" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # a real `dcgan train` in a subprocess, ~40 s
def test_train_draws_the_finished_bar_once_above_the_final_lines(tmp_path: Path) -> None:
    """With the progress bar on, the final FD line comes after the 100% bar, and the bar
    is not drawn again below it (an open bar is redrawn after every log line)."""
    import subprocess
    import sys

    args = ["train", "--preset", "mnist28", "--data", "digits", "--epochs", "1"]
    done = subprocess.run(
        [Path(sys.executable).parent / "dcgan", *args, "--run-dir", str(tmp_path / "run")],
        capture_output=True,  # bytes: text mode would turn each \r into a new line
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    # a terminal shows each \n-ended line; \r redraws within one
    lines = stderr.split("\n")
    bars = [i for i, line in enumerate(lines) if "100%|" in line]
    final_fd = max(i for i, line in enumerate(lines) if "feature FD" in line)
    assert len(bars) == 1 and bars[0] < final_fd, stderr


def test_evaluation_pictures_are_named_after_their_source(workdir: Path) -> None:
    (workdir / "models" / "faces" / "2").mkdir(parents=True)
    (workdir / "models" / "faces" / "2" / "manifest.json").write_text("{}")
    (workdir / "runs" / "faces").mkdir(parents=True)
    (workdir / "runs" / "faces" / "checkpoint.pt").write_bytes(b"")
    assert evaluation_folder(Path("models/faces/2")) == Path("evaluations/faces-v2")
    assert evaluation_folder(Path("runs/faces")) == Path("evaluations/faces")
    assert evaluation_folder(Path("runs/faces/checkpoint.pt")) == Path("evaluations/faces")
