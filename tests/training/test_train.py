from pathlib import Path

import pytest
import torch

from training.train import CHECKPOINT_FILE, RUN_FILE, TrainConfig, Trainer, load_generator


def tiny_run(run_dir: Path, **overrides: object) -> TrainConfig:
    base: dict[str, object] = {
        "preset": "mnist28",
        "width": 0.125,
        "batch_size": 8,
        "dry_run": True,
        "run_dir": run_dir,
        "seed": 3,
        "progress": False,
        "log_every": 1,
    }
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_dry_run_writes_the_run_folder(tmp_path: Path) -> None:
    result = Trainer(tiny_run(tmp_path / "run")).fit()
    assert result.steps == 3
    for name in (CHECKPOINT_FILE, RUN_FILE, "losses.png", "losses.csv", "training.gif"):
        assert (tmp_path / "run" / name).exists(), name
    assert list((tmp_path / "run" / "samples").glob("epoch_*.png"))
    assert set(result.final_losses) == {"d", "g"}


def test_resume_continues_bit_for_bit(tmp_path: Path) -> None:
    straight = Trainer(tiny_run(tmp_path / "a", max_steps=8)).fit()
    Trainer(tiny_run(tmp_path / "b", max_steps=4)).fit()
    resumed = Trainer(tiny_run(tmp_path / "b", max_steps=8, resume=True)).fit()
    assert resumed.steps == straight.steps == 8
    a = torch.load(tmp_path / "a" / CHECKPOINT_FILE, weights_only=False)
    b = torch.load(tmp_path / "b" / CHECKPOINT_FILE, weights_only=False)
    assert a["history"] == b["history"]  # identical losses at every step
    for key in ("generator", "discriminator", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name}"


def test_different_seeds_give_different_weights(tmp_path: Path) -> None:
    Trainer(tiny_run(tmp_path / "a", seed=1)).fit()
    Trainer(tiny_run(tmp_path / "b", seed=2)).fit()
    ga, _ = load_generator(tmp_path / "a" / CHECKPOINT_FILE)
    gb, _ = load_generator(tmp_path / "b" / CHECKPOINT_FILE)
    assert not torch.equal(ga.body[-2].weight, gb.body[-2].weight)


def test_existing_run_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    Trainer(tiny_run(tmp_path / "run")).fit()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(tiny_run(tmp_path / "run")).fit()


def test_resume_without_checkpoint_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "none")):
        Trainer(tiny_run(tmp_path / "none", resume=True)).fit()


def test_resume_with_another_architecture_is_refused(tmp_path: Path) -> None:
    Trainer(tiny_run(tmp_path / "run")).fit()
    with pytest.raises(ValueError, match="different model config"):
        Trainer(tiny_run(tmp_path / "run", width=0.25, resume=True)).fit()


@pytest.mark.parametrize(
    ("field", "value"),
    [("width", 0.0), ("lr", 2.0), ("label_smoothing", 0.7), ("batch_size", 0), ("epochs", -1.0)],
)
def test_bad_values_name_the_flag(tmp_path: Path, field: str, value: object) -> None:
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ValueError, match=flag):
        Trainer(tiny_run(tmp_path / "run", **{field: value}))


def test_hinge_loss_and_rmsprop_train(tmp_path: Path) -> None:
    result = Trainer(tiny_run(tmp_path / "run", loss="hinge", optimizer="rmsprop", ema=False)).fit()
    assert all(torch.isfinite(torch.tensor(v)) for v in result.final_losses.values())
    state = torch.load(tmp_path / "run" / CHECKPOINT_FILE, weights_only=False)
    assert state["ema"] is None


def test_generator_rebuilds_from_checkpoint_alone(tmp_path: Path) -> None:
    Trainer(tiny_run(tmp_path / "run")).fit()
    generator, state = load_generator(tmp_path / "run" / CHECKPOINT_FILE)
    assert generator.config.name == "mnist28"
    assert generator(torch.randn(2, 100)).shape == (2, 1, 28, 28)
    assert state["step"] == 3


@pytest.mark.slow
def test_torchrun_ddp_on_cpu_uses_the_same_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        "-m",
        "training",
        "train",
        "--preset",
        "mnist28",
        "--width",
        "0.125",
        "--batch-size",
        "8",
        "--dry-run",
        "--max-steps",
        "3",
        "--run-dir",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    # the head of stderr holds the failing rank's own message, the tail torchrun's summary
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-1500:]
    record = (tmp_path / "run" / RUN_FILE).read_text()
    assert '"device": "cpu x2"' in record and '"batch_size": 16' in record
    assert proc.stdout.count("steps (") == 1  # only rank 0 reports


def test_ema_warms_up_then_holds_its_decay() -> None:
    from training.train import ema_decay_at

    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(100, 0.999) == pytest.approx(101 / 110)
    assert ema_decay_at(100_000, 0.999) == 0.999


def test_ema_follows_the_generator_early(tmp_path: Path) -> None:
    trainer = Trainer(tiny_run(tmp_path / "run", max_steps=3))
    init = {k: v.clone() for k, v in trainer.g.state_dict().items()}
    trainer.fit()
    assert trainer.ema is not None
    ema, gen = trainer.ema.state_dict(), trainer.g.state_dict()
    key = next(k for k in gen if k.endswith("weight"))
    moved = (ema[key] - init[key]).norm() / (gen[key] - init[key]).norm()
    assert moved > 0.5  # without warm-up it would be ~0.003 after 3 steps


@pytest.mark.parametrize("channels_last", [True, None])
def test_compile_keeps_nchw_and_says_so_when_asked_for_channels_last(
    tmp_path: Path, channels_last: bool | None, caplog: pytest.LogCaptureFixture
) -> None:
    # torch 2.11's inductor crashed on channels_last ConvTranspose2d weight gradients (H100)
    cfg = tiny_run(tmp_path / "run", compile=True, channels_last=channels_last)
    with caplog.at_level("WARNING", logger="training.train"):
        trainer = Trainer(cfg)
    assert trainer.channels_last is False
    weights = [p for p in trainer.g.parameters() if p.dim() == 4]
    assert all(p.is_contiguous() for p in weights)
    assert ("ignored with --compile" in caplog.text) is (channels_last is True)


def test_channels_last_converts_the_weights_without_compile(tmp_path: Path) -> None:
    trainer = Trainer(tiny_run(tmp_path / "run", channels_last=True))
    assert trainer.channels_last is True
    weights = [p for p in trainer.d.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
