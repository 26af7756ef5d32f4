import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from contract.imaging import to_uint8
from contract.latents import latents_for_seeds
from tests.helpers import TINY_DRY_RUN, digits_run, run_record, tiny_run
from training.cli import app
from training.generators.checkpoints import BEST_FILE, CHECKPOINT_FILE, load_generator
from training.loop.run_outputs import RUN_FILE
from training.loop.train import Trainer
from training.loop.train_data import to_model_input


def test_dry_run_writes_the_run_folder(tmp_path: Path) -> None:
    result = Trainer(tiny_run(tmp_path / "run")).fit()
    assert result.steps == 3
    for name in (CHECKPOINT_FILE, RUN_FILE, "losses.png", "losses.csv", "training.gif"):
        assert (tmp_path / "run" / name).exists(), name
    assert list((tmp_path / "run" / "samples").glob("epoch_*.png"))
    assert set(result.final_losses) == {"d", "g"}


@pytest.mark.parametrize(
    "recipe",
    [
        {},
        {"augment": "color,translation,cutout"},
        # spectral norm's power-iteration vectors and R1's schedule must resume too
        {"spectral_norm": True, "loss": "hinge", "r1_gamma": 1.0, "r1_every": 3, "lr_d": 4e-4},
    ],
    ids=["default", "augment", "sn-r1-ttur"],
)
def test_resume_continues_bit_for_bit(tmp_path: Path, recipe: dict[str, Any]) -> None:
    straight = Trainer(tiny_run(tmp_path / "a", max_steps=8, **recipe)).fit()
    Trainer(tiny_run(tmp_path / "b", max_steps=4, **recipe)).fit()
    resumed = Trainer(tiny_run(tmp_path / "b", max_steps=8, resume=True, **recipe)).fit()
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
    [
        ("width", 0.0),
        ("lr", 2.0),
        ("label_smoothing", 0.7),
        ("batch_size", 0),
        ("epochs", -1.0),
        ("eval_every", -1.0),
        ("eval_every", float("nan")),
        ("eval_samples", 8),
        ("eval_features", " "),
        ("lr_d", 2.0),
        ("r1_gamma", -1.0),
        ("r1_gamma", float("inf")),
        ("r1_every", 0),
    ],
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
@pytest.mark.parametrize(
    "recipe",
    # R1 takes a gradient of a gradient, which DDP cannot follow: its pass runs outside it
    [[], ["--r1-gamma", "1", "--r1-every", "2", "--spectral-norm", "--loss", "hinge"]],
    ids=["default", "r1-sn"],
)
def test_torchrun_ddp_on_cpu_uses_the_same_command(tmp_path: Path, recipe: list[str]) -> None:
    import subprocess
    import sys

    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node=2",
        "-m",
        "training",
        "train",
        *TINY_DRY_RUN,
        "--run-dir",
        str(tmp_path / "run"),
        *recipe,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    # the head of stderr holds the failing rank's own message, the tail torchrun's summary
    assert proc.returncode == 0, proc.stderr[:3000] + "\n...\n" + proc.stderr[-1500:]
    record = (tmp_path / "run" / RUN_FILE).read_text()
    assert '"device": "cpu x2"' in record and '"batch_size": 16' in record
    assert proc.stdout.count("steps (") == 1  # only rank 0 reports


def test_ema_warms_up_then_holds_its_decay() -> None:
    from training.loop.ema import ema_decay_at

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
    with caplog.at_level("WARNING", logger="training.loop.train"):
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


# ---- quality tracking during training ----------------------------------------------------


@pytest.mark.parametrize(
    ("eval_every", "epochs", "steps"),
    [(1.0, [1, 2, 3], [8, 16, 24]), (2.0, [2, 3], [16, 24]), (0.5, [0.5, 1, 1.5], [4, 8, 12])],
)
def test_quality_history_has_one_entry_per_evaluation(
    tmp_path: Path, eval_every: float, epochs: list[float], steps: list[int]
) -> None:
    max_steps = steps[-1]
    Trainer(digits_run(tmp_path / "run", eval_every=eval_every, max_steps=max_steps)).fit()
    record = run_record(tmp_path / "run")
    history = record["quality_history"]
    assert [e["epoch"] for e in history] == epochs  # and one at the end of training
    assert [e["step"] for e in history] == steps
    assert all(math.isfinite(e["fd"]) and e["fd"] > 0 for e in history)
    assert math.isfinite(record["quality_floor"]) and record["quality_floor"] >= 0
    assert record["quality_features"] == "features/digits"  # auto: the data's own network
    assert record["quality_samples"] == 16
    assert "best" not in record  # only with keep_best
    assert not (tmp_path / "run" / BEST_FILE).exists()
    assert (tmp_path / "run" / "losses.png").stat().st_size > 0


def test_dry_run_evaluates_with_pixel_features(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="training.loop.train"):
        Trainer(tiny_run(tmp_path / "run")).fit()
    record = run_record(tmp_path / "run")
    # fake data has no feature network; 32 fake images hold 16 + 16 real ones
    assert record["quality_features"] == "pixels"
    assert record["quality_samples"] == 16
    assert [e["step"] for e in record["quality_history"]] == [3]
    assert "--eval-samples 500 lowered to 16" in caplog.text
    assert "epoch 0.75: pixel FD" in caplog.text and "pixels)" in caplog.text


def test_eval_every_zero_records_no_quality(tmp_path: Path) -> None:
    trainer = Trainer(tiny_run(tmp_path / "run", eval_every=0.0, keep_best=True))
    trainer.fit()
    record = run_record(tmp_path / "run")
    assert not {k for k in record if k.startswith("quality") or k == "best"}
    assert not (tmp_path / "run" / BEST_FILE).exists()
    state = torch.load(tmp_path / "run" / CHECKPOINT_FILE, weights_only=False)
    assert state["quality"]["history"] == []
    with pytest.raises(RuntimeError, match="off"):
        trainer.measure_quality()


def fd_of(trainer: Trainer, generator: torch.nn.Module) -> float:
    """The FD of ``generator`` on the evaluation seeds, generated here, not by the trainer."""
    assert trainer.probe is not None
    z = torch.from_numpy(latents_for_seeds(list(range(trainer.probe.samples)), 100))
    with torch.no_grad():
        images = to_uint8(generator.eval()(z).numpy()).transpose(0, 3, 1, 2)
    return trainer.probe.fd(images)


def test_keep_best_saves_the_ema_generator_of_the_lowest_fd(tmp_path: Path) -> None:
    trainer = Trainer(digits_run(tmp_path / "run", max_steps=24, keep_best=True))
    trainer.fit()
    record = run_record(tmp_path / "run")
    fds = [e["fd"] for e in record["quality_history"]]
    assert len(fds) == 3 and len(set(fds)) == 3
    assert record["best"]["fd"] == min(fds)
    best_entry = record["quality_history"][fds.index(min(fds))]
    assert record["best"] == best_entry
    # best.pt holds that state; the FD was measured on its EMA generator, not the raw one
    ema, state = load_generator(tmp_path / "run" / BEST_FILE)
    raw, _ = load_generator(tmp_path / "run" / BEST_FILE, ema=False)
    assert state["step"] == best_entry["step"] and state["best"]["fd"] == min(fds)
    assert fd_of(trainer, ema) == pytest.approx(min(fds), rel=1e-4)
    assert fd_of(trainer, raw) != pytest.approx(min(fds), rel=1e-3)


def test_resume_keeps_the_quality_history_and_best(tmp_path: Path) -> None:
    # seed 0: FD 824, 857, 947: the best is the first part's, so it must survive the resume
    Trainer(digits_run(tmp_path / "a", max_steps=24, keep_best=True, seed=0)).fit()
    Trainer(digits_run(tmp_path / "b", max_steps=8, keep_best=True, seed=0)).fit()
    Trainer(digits_run(tmp_path / "b", max_steps=24, keep_best=True, seed=0, resume=True)).fit()
    a, b = run_record(tmp_path / "a"), run_record(tmp_path / "b")
    assert [e["step"] for e in b["quality_history"]] == [8, 16, 24]
    assert a["quality_history"] == b["quality_history"]
    assert a["best"] == b["best"] and b["best"]["step"] == 8
    best_a = torch.load(tmp_path / "a" / BEST_FILE, weights_only=False)
    best_b = torch.load(tmp_path / "b" / BEST_FILE, weights_only=False)
    assert best_a["step"] == best_b["step"] == 8
    for name, tensor in best_a["ema"].items():
        assert torch.equal(tensor, best_b["ema"][name]), name


def test_fd_falls_as_the_generator_learns_digits(tmp_path: Path) -> None:
    """Digits' own feature network: an untrained generator's noise is far from real digits
    (FD ~800 across seeds), three epochs already much closer (60..180 across seeds 0..3)."""
    cfg = tiny_run(
        tmp_path / "run",
        width=0.25,
        data="digits",
        batch_size=32,
        dry_run=False,
        epochs=3,
        eval_every=3,
        eval_samples=200,
        seed=0,
        log_every=10,
    )
    trainer = Trainer(cfg)
    untrained = trainer.measure_quality()
    trainer.fit()
    record = run_record(tmp_path / "run")
    trained = record["quality_history"][-1]["fd"]
    assert record["quality_features"] == "features/digits"
    assert record["quality_floor"] < trained < untrained / 2


def test_an_unknown_eval_feature_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--eval-features must be auto, pixels"):
        Trainer(tiny_run(tmp_path / "run", eval_features="no-such-net"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eval-every", "-1"], "--eval-every must be >= 0 epochs (0 turns evaluation off)"),
        (["--eval-samples", "8"], "--eval-samples must be 16..20000, got 8"),
        (["--eval-features", "no-such-net"], "--eval-features must be auto, pixels"),
    ],
)
def test_bad_eval_flags_exit_2_naming_the_flag(
    tmp_path: Path, args: list[str], message: str
) -> None:
    base = ["train", "--preset", "mnist28", "--width", "0.125", "--dry-run", "--no-progress"]
    result = CliRunner().invoke(app, [*base, "--run-dir", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_loss_plot_draws_the_fd_panel_and_still_works_without(tmp_path: Path) -> None:
    from PIL import Image

    from training.loop.report import write_loss_plot

    history = [(s, 1.0 / s, 2.0) for s in range(1, 20)]
    write_loss_plot(history, tmp_path / "a.png", tmp_path / "a.csv")
    quality = [(5, 900.0), (10, 300.0), (19, 40.0)]
    write_loss_plot(history, tmp_path / "b.png", tmp_path / "b.csv", quality=quality, floor=3.0)
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        assert b.size[1] > a.size[1]  # a second panel below the losses
    assert np.isfinite(np.loadtxt(tmp_path / "b.csv", delimiter=",", skiprows=1)).all()


# ---- what training means: range, order, shards ------------------------------------------


def spy_on_discriminator(trainer: Trainer) -> list[torch.Tensor]:
    """Every batch D is called with from now on, in call order (real, fake, fake for G)."""
    seen: list[torch.Tensor] = []
    d = trainer.d_train

    def spy(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach())
        return d(x)

    trainer.d_train = spy  # type: ignore[assignment]
    return seen


def test_the_discriminator_sees_real_images_in_the_generators_range(tmp_path: Path) -> None:
    # the generator ends in tanh: real images must be scaled to [-1, 1], not [0, 1]
    trainer = Trainer(tiny_run(tmp_path / "run", eval_every=0))
    seen = spy_on_discriminator(trainer)
    batch = trainer.data.images[:8].clone()
    batch[0].fill_(0)
    batch[1].fill_(255)
    trainer.train_step(batch)
    real = seen[0]
    assert real.shape == batch.shape
    assert real[0].min().item() == -1.0 and real[1].max().item() == 1.0
    fake = seen[1]
    assert fake.min().item() >= -1.0 and fake.max().item() <= 1.0


def epoch_batches(trainer: Trainer, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch, as fit() draws them (it advances the step after each)."""
    trainer.step = epoch * trainer.steps_per_epoch
    batches, drawn = trainer._batches(), []
    for _ in range(trainer.steps_per_epoch):
        drawn.append(next(batches)[1])
        trainer.step += 1
    return drawn


def test_each_epoch_reshuffles_but_one_seed_replays_the_same_order(tmp_path: Path) -> None:
    cfg = tiny_run(tmp_path / "run", eval_every=0, max_steps=100)
    trainer = Trainer(cfg)
    first, second = epoch_batches(trainer, 0), epoch_batches(trainer, 1)
    # every image once per epoch...
    n = trainer.steps_per_epoch * trainer.batch
    assert len({b.numpy().tobytes() for batch in first for b in batch}) == n
    # ...in a different order each epoch...
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    # ...and the same order in another run with the same seed
    again = epoch_batches(Trainer(tiny_run(tmp_path / "again", eval_every=0, max_steps=100)), 1)
    assert all(torch.equal(a, b) for a, b in zip(second, again, strict=True))


def test_ddp_ranks_get_disjoint_shards_of_each_epoch(tmp_path: Path) -> None:
    from training.distributed import Dist

    shards = []
    for rank in (0, 1):
        trainer = Trainer(tiny_run(tmp_path / f"rank{rank}", eval_every=0, batch_size=4))
        trainer.dist = Dist(rank=rank, world=2)
        trainer.steps_per_epoch = len(trainer.data) // (trainer.batch * 2)
        shards.append({b.numpy().tobytes() for batch in epoch_batches(trainer, 0) for b in batch})
    assert shards[0] and shards[1]
    assert not shards[0] & shards[1]
    assert len(shards[0] | shards[1]) == 2 * len(shards[0])


# ---- the process group ------------------------------------------------------------------


@pytest.fixture
def torchrun_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """torchrun's variables for rank 0 of 2, but init_process_group starts a real gloo group
    of one process (no second rank to wait for). Returns the backends asked for."""
    import socket

    import torch.distributed as tdist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0"}
    for key, value in {**env, "LOCAL_RANK": "0", "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    real_init, asked = tdist.init_process_group, []

    def init_one_rank(backend: str, **_: object) -> None:
        asked.append(backend)
        real_init("gloo", world_size=1, rank=0)

    monkeypatch.setattr(tdist, "init_process_group", init_one_rank)
    yield asked
    if tdist.is_initialized():  # a failing test must not leak its group into the next
        tdist.destroy_process_group()


def test_distributed_destroys_its_group_when_the_block_fails(torchrun_env: list[str]) -> None:
    from training.distributed import distributed

    with pytest.raises(RuntimeError, match="boom"), distributed() as dist:
        assert torch.distributed.is_initialized()
        assert (dist.rank, dist.world) == (0, 2)
        raise RuntimeError("boom")
    assert torchrun_env == ["gloo"]
    assert not torch.distributed.is_initialized()


def test_distributed_without_torchrun_starts_no_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.distributed import Dist, distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed() as dist:
        assert dist == Dist() and not torch.distributed.is_initialized()


def test_a_failed_start_leaves_no_process_group(tmp_path: Path, torchrun_env: list[str]) -> None:
    # the data set is too small for the batch only after init_process_group ran
    cfg = tiny_run(tmp_path / "run", data="digits", limit=64, dry_run=False, batch_size=64)
    with pytest.raises(ValueError, match="larger than the data set"):
        Trainer(cfg)
    assert torchrun_env == ["gloo"]
    assert not torch.distributed.is_initialized()


def test_fit_destroys_the_process_group_it_started(tmp_path: Path, torchrun_env: list[str]) -> None:
    trainer = Trainer(tiny_run(tmp_path / "run", eval_every=0))
    assert torch.distributed.is_initialized() and trainer.dist.world == 2
    trainer.fit()
    assert not torch.distributed.is_initialized()
    assert '"device": "cpu x2"' in (tmp_path / "run" / RUN_FILE).read_text()


def test_augment_shows_d_transformed_real_and_fake_images(tmp_path: Path) -> None:
    from training.loop.augment import POLICIES
    from training.nets.config import AUGMENT_POLICIES

    assert tuple(POLICIES) == AUGMENT_POLICIES
    trainer = Trainer(tiny_run(tmp_path / "run", eval_every=0, augment="translation,cutout"))
    seen = spy_on_discriminator(trainer)
    batch = trainer.data.images[:8]
    trainer.train_step(batch)
    real = batch.float().div(127.5).sub(1)
    assert len(seen) == 3 and not torch.equal(seen[0], real)  # cut out / shifted
    assert (seen[0] == 0).any() and (seen[1] == 0).any()  # fakes get the same treatment
    assert "--augment translation,cutout" in trainer.cfg.to_command()


# ---- recipe options: TTUR, spectral norm, R1 --------------------------------------------


def test_ttur_gives_the_discriminator_its_own_learning_rate(tmp_path: Path) -> None:
    trainer = Trainer(tiny_run(tmp_path / "run", lr=1e-4, lr_d=4e-4, eval_every=0))
    assert trainer.opt_g.param_groups[0]["lr"] == 1e-4
    assert trainer.opt_d.param_groups[0]["lr"] == 4e-4
    trainer.fit()
    record = run_record(tmp_path / "run")
    assert (record["lr"], record["lr_d"]) == (1e-4, 4e-4)
    assert "--lr-d 0.0004" in record["command"]
    plain = Trainer(tiny_run(tmp_path / "plain", lr=3e-4, eval_every=0))
    assert plain.opt_d.param_groups[0]["lr"] == 3e-4  # --lr-d defaults to --lr


def test_spectral_norm_run_records_it_and_resume_without_it_is_refused(tmp_path: Path) -> None:
    Trainer(tiny_run(tmp_path / "run", spectral_norm=True, eval_every=0)).fit()
    record = run_record(tmp_path / "run")
    assert record["spectral_norm"] is True and "--spectral-norm" in record["command"]
    state = torch.load(tmp_path / "run" / CHECKPOINT_FILE, weights_only=False)
    assert state["model_config"]["d_spectral_norm"] is True
    with pytest.raises(ValueError, match="different model config"):
        Trainer(tiny_run(tmp_path / "run", max_steps=6, resume=True)).fit()


def test_r1_runs_an_extra_discriminator_pass_on_real_images_every_n_steps(
    tmp_path: Path,
) -> None:
    trainer = Trainer(tiny_run(tmp_path / "run", r1_gamma=1.0, r1_every=2, eval_every=0))
    seen = spy_on_discriminator(trainer)
    batch = trainer.data.images[:8]
    calls = []
    for _ in range(4):
        before = len(seen)
        trainer.train_step(batch)
        trainer.step += 1
        calls.append(len(seen) - before)
    # real, fake, [R1 on real,] fake for G: the penalty on steps 0 and 2 only
    assert calls == [4, 3, 4, 3]
    assert torch.equal(seen[2], seen[0])  # R1 looks at the same real batch


def real_gradient_norm(trainer: Trainer, real: torch.Tensor) -> float:
    x = real.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(trainer.d(x).sum(), x)
    return float(grad.square().sum(dim=(1, 2, 3)).mean())


def test_r1_step_flattens_the_discriminator_at_real_images(tmp_path: Path) -> None:
    # R1 minimises ‖∇ₓD(x)‖² at real x: R1 steps alone must lower it (a flipped sign or a
    # penalty on the wrong tensor would not)
    trainer = Trainer(tiny_run(tmp_path / "run", r1_gamma=1.0, r1_every=1, eval_every=0))
    real = to_model_input(trainer.data.images[:8], trainer.device, False)
    for group in trainer.opt_d.param_groups:
        group["lr"] = 1e-2  # Adam moves each weight ~lr a step: make a few steps count
    before = real_gradient_norm(trainer, real)
    for _ in range(5):
        trainer._r1_step(real)
    assert real_gradient_norm(trainer, real) < 0.5 * before
