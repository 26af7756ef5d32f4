"""The DCGAN training loop: TrainConfig in, run folder out.

``Trainer`` puts the parts together; each part is a module of its own:

- ``training/loop/recipe.py``: TrainConfig with the preset's defaults filled in;
- ``training/distributed.py``: the torchrun process group (``distributed()``, a context
  manager), each rank's device, AMP dtype, the machine description;
- ``training/loop/train_data.py``: the images in memory and each epoch's seeded order;
- ``training/loop/losses.py``: the discriminator's and the generator's losses;
- ``training/loop/ema.py``: the moving average of the generator's weights;
- ``training/loop/quality_probe.py``: the Fréchet distance to a fixed real sample during training;
- ``training/generators/run_state.py``: the step, loss and FD histories (``Progress``) and how FD is
  measured (``Measurement``);
- ``training/generators/checkpoints.py``: ``checkpoint.pt`` / ``best.pt`` (written atomically) and
  ``load_generator``;
- ``training/generators/sampling.py``: the fixed seeds of the sample grids;
- ``training/loop/run_outputs.py``: sample grids, ``training.gif``, ``losses.png``/``.csv``,
  ``run.json``.

The helpers never see the ``Trainer``: it hands each the state it needs.

Quality tracking (``eval_every`` epochs, rank 0): the history goes into the checkpoint (so
``--resume`` keeps it), ``run.json`` and ``losses.png``; with ``keep_best``, ``best.pt``
holds the generator of the lowest FD.

Determinism: data order for epoch e is a permutation drawn from ``seed`` and ``e``; noise
comes from a dedicated generator whose state is checkpointed together with torch's
global RNG (dropout). Resuming from a checkpoint therefore continues bit-for-bit on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from contract.latents import latents_for_seeds
from training.distributed import amp_dtype, distributed, pick_device
from training.generators.checkpoints import (
    BEST_FILE,
    CHECKPOINT_FILE,
    TrainingParts,
    best_state,
    checkpoint_state,
    restore_checkpoint,
    save_atomic,
)
from training.generators.run_state import Measurement, Progress
from training.generators.sampling import SAMPLE_SEEDS, sample_grid
from training.loop.augment import diff_augment, parse_policy
from training.loop.ema import ema_decay_at, ema_update
from training.loop.losses import d_loss_fn, g_loss_fn
from training.loop.quality_probe import QualityProbe, generated_images, resolve_eval_features
from training.loop.recipe import resolve_recipe
from training.loop.run_outputs import RUN_FILE, run_record, write_epoch_outputs, write_run_record
from training.loop.train_data import epoch_order, load_train_data, to_model_input
from training.nets.config import TrainConfig
from training.nets.models import Discriminator, Generator, init_weights

log = logging.getLogger(__name__)


def average_gradients(module: nn.Module, world: int) -> None:
    """What DDP does after backward, for a pass it cannot wrap: the mean over ranks."""
    import torch.distributed as tdist

    for p in module.parameters():
        if p.grad is not None:
            tdist.all_reduce(p.grad)
            p.grad /= world


# ---- the trainer ----------------------------------------------------------------------


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    epochs: float
    wall_time_s: float
    images_per_s: float
    final_losses: dict[str, float]
    interrupted: bool = False


class Trainer:
    """One training run. The process group it starts (under torchrun) is destroyed when
    ``fit`` ends, however it ends, or right away when the start itself fails; ``close``
    destroys it for a trainer that is never fit."""

    def __init__(self, cfg: TrainConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.recipe = resolve_recipe(cfg)
        self._scope = contextlib.ExitStack()  # holds the process group: see fit and close
        try:
            self.dist = self._scope.enter_context(distributed())
            self._start()
        except BaseException:
            self._scope.close()
            raise

    def close(self) -> None:
        """Destroy the process group this trainer started (fit does it itself)."""
        self._scope.close()

    def _start(self) -> None:
        """Device, data, models, optimizers, quality probe, DDP/compile wrappers."""
        cfg = self.cfg
        self._start_device()
        torch.manual_seed(cfg.seed + self.dist.rank)
        model = self.recipe.model
        self.batch = self.recipe.batch_size
        self.data = load_train_data(cfg, model, self.device, self.batch * self.dist.world)
        self.steps_per_epoch = len(self.data) // (self.batch * self.dist.world)
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"--batch-size {self.batch} is larger than the data set "
                f"({len(self.data)} images); lower it"
            )
        self.total_steps = self._total_steps()

        self.g = Generator(model).to(self.device)
        self.d = Discriminator(model).to(self.device)
        self.g.apply(init_weights)
        self.d.apply(init_weights)
        if self.channels_last:
            self.g.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.d.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.ema = copy.deepcopy(self.g).eval().requires_grad_(False) if cfg.ema else None
        self.opt_g = self._optimizer(self.g, self.recipe.lr)
        self.opt_d = self._optimizer(self.d, self.recipe.lr_d)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.noise = torch.Generator(self.device).manual_seed(cfg.seed * 7919 + self.dist.rank)
        # DiffAugment: its own seeded stream, so turning it on changes nothing else
        self.augment_policy = parse_policy(cfg.augment)
        self.augment_rng = torch.Generator(self.device).manual_seed(
            cfg.seed * 104729 + self.dist.rank
        )
        self.progress = Progress()
        self.fixed_z = torch.from_numpy(latents_for_seeds(SAMPLE_SEEDS, model.nz)).to(self.device)
        self.eval_interval = (
            max(1, round(cfg.eval_every * self.steps_per_epoch)) if cfg.eval_every > 0 else 0
        )
        self.probe: QualityProbe | None = None
        self.eval_z = torch.empty(0)
        if self.eval_interval:
            features = self._eval_features()  # every rank: a bad flag fails them all alike
            if self.dist.main:
                self._start_quality_probe(features)

        self._wrap_for_training()

    def _start_device(self) -> None:
        """The device, its threads, autocast dtype and memory layout."""
        cfg = self.cfg
        self.device = pick_device(cfg.device, self.dist)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.amp = amp_dtype(cfg.amp, self.device)
        self.channels_last = (
            cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        )
        if cfg.compile and self.channels_last:
            # inductor picks conv layouts itself; torch 2.11's fails a stride check on the
            # gradient of a channels_last ConvTranspose2d (dcgan64, seen on an H100)
            if cfg.channels_last:
                log.warning("--channels-last is ignored with --compile (inductor picks layouts)")
            self.channels_last = False
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _wrap_for_training(self) -> None:
        """DDP across ranks and torch.compile: the wrapped modules take the steps, the bare
        ones are what is saved and evaluated."""
        self.g_train: nn.Module = self.g
        self.d_train: nn.Module = self.d
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train, self.d_train = DDP(self.g, device_ids=ids), DDP(self.d, device_ids=ids)
        if self.cfg.compile:
            self.g_train = torch.compile(self.g_train)  # type: ignore[assignment]
            self.d_train = torch.compile(self.d_train)  # type: ignore[assignment]

    def _total_steps(self) -> int:
        if self.cfg.max_steps is not None:
            return self.cfg.max_steps
        if self.cfg.dry_run:
            return 3
        epochs = self.cfg.epochs if self.cfg.epochs is not None else self.recipe.model.train.epochs
        return max(1, round(epochs * self.steps_per_epoch))

    def _eval_features(self) -> Path | None:
        return resolve_eval_features(self.cfg.eval_features, self.cfg.data, self.cfg.dry_run)

    def _start_quality_probe(self, features: Path | None) -> None:
        if len(self.data) < 4:
            log.warning("quality tracking off: %d images are too few for an FD", len(self.data))
            self.eval_interval = 0
            return
        self.probe = QualityProbe(self.data.images, self.cfg.eval_samples, features)
        n = self.probe.samples
        if n < self.cfg.eval_samples:
            log.warning(
                "--eval-samples %d lowered to %d: the data set has %d images (2× are needed)",
                self.cfg.eval_samples,
                n,
                len(self.data),
            )
        self.eval_z = torch.from_numpy(latents_for_seeds(list(range(n)), self.recipe.model.nz)).to(
            self.device
        )
        note = "" if features else " (8×8 pixel thumbnails: no feature network for this data)"
        log.info(
            "quality: FD of %d fixed-seed samples vs %d real images every %d steps, %s%s; "
            "real-vs-real floor %.4g",
            n,
            n,
            self.eval_interval,
            self.probe.features,
            note,
            self.probe.floor,
        )

    def _optimizer(self, module: nn.Module, lr: float) -> torch.optim.Optimizer:
        r = self.recipe
        if r.optimizer == "rmsprop":
            return torch.optim.RMSprop(module.parameters(), lr=lr)
        return torch.optim.Adam(module.parameters(), lr=lr, betas=r.betas)

    # ---- progress and checkpoints ----
    @property
    def step(self) -> int:
        return self.progress.step

    @step.setter
    def step(self, value: int) -> None:
        self.progress.step = value

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    def _parts(self) -> TrainingParts:
        return TrainingParts(
            model_config=self.recipe.model,
            train_config=self.cfg,
            g=self.g,
            d=self.d,
            ema=self.ema,
            opt_g=self.opt_g,
            opt_d=self.opt_d,
            scaler=self.scaler,
            noise=self.noise,
            augment_rng=self.augment_rng,
        )

    def _measurement(self) -> Measurement | None:
        return self.probe.measurement if self.probe is not None else None

    def state_dict(self) -> dict[str, Any]:
        return checkpoint_state(self._parts(), self.progress, self._measurement())

    def save_checkpoint(self) -> Path:
        return save_atomic(self.state_dict(), self.run_dir / CHECKPOINT_FILE)

    def save_best(self) -> Path:
        """best.pt: the evaluated generator (EMA when on; the raw G too) at the lowest FD;
        `load_generator` and `dcgan export runs/X/best.pt` read it."""
        state = best_state(self._parts(), self.step, self.progress.best, self._measurement())
        return save_atomic(state, self.run_dir / BEST_FILE)

    def load_checkpoint(self, path: Path) -> None:
        self.progress = restore_checkpoint(path, self._parts(), self.device, self._measurement())

    # ---- one step ----
    def _batches(self) -> Iterator[tuple[int, torch.Tensor]]:
        order_epoch, order = -1, torch.empty(0, dtype=torch.long)
        while self.step < self.total_steps:
            epoch, it = divmod(self.step, self.steps_per_epoch)
            if epoch != order_epoch:
                order_epoch, order = epoch, epoch_order(len(self.data), self.cfg.seed, epoch)
            start = (it * self.dist.world + self.dist.rank) * self.batch
            idx = order[start : start + self.batch]
            yield epoch, self.data.images[idx.to(self.data.images.device)]

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """DiffAugment (when on): D sees real and fake images through the same transforms."""
        if not self.augment_policy:
            return images
        return diff_augment(images, self.augment_policy, self.augment_rng)

    def train_step(self, real_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.recipe
        real = to_model_input(real_u8, self.device, self.channels_last)
        z = torch.randn(real.shape[0], r.model.nz, generator=self.noise, device=self.device)
        # D step: real vs detached fakes (one G forward is reused for the G step).
        with self._autocast():
            fake = self.g_train(z)
            loss_d = d_loss_fn(
                r.loss,
                self.d_train(self._augment(real)),
                self.d_train(self._augment(fake.detach())),
                r.real_label,
                r.fake_label,
            )
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        if self.cfg.r1_gamma and self.step % self.cfg.r1_every == 0:
            self.scaler.update()  # a scaler steps each optimizer once between updates
            self._r1_step(real)
        # G step
        with self._autocast():
            loss_g = g_loss_fn(r.loss, self.d_train(self._augment(fake)))
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        if self.ema is not None:
            ema_update(self.ema, self.g, ema_decay_at(self.step, self.cfg.ema_decay))
        return loss_d.detach(), loss_g.detach()

    def _r1_step(self, real: torch.Tensor) -> None:
        """Lazy R1 (StyleGAN2): every ``r1_every`` steps one extra D update on
        gamma/2 · E‖∇ₓD(x)‖² at real x, scaled by ``r1_every`` so the average pull is the same as
        a penalty on every step. In fp32: a gradient of a gradient under fp16 underflows."""
        real = real.detach().requires_grad_(True)
        # DDP's reducer cannot follow a gradient of a gradient: under torchrun the plain D
        # runs this pass and its gradients are averaged by hand (as StyleGAN2-ADA does)
        d = self.d if self.dist.world > 1 else self.d_train
        logits = d(self._augment(real))
        (grad,) = torch.autograd.grad(logits.float().sum(), real, create_graph=True)
        penalty = grad.float().square().sum(dim=(1, 2, 3)).mean()
        loss = penalty * (self.cfg.r1_gamma / 2 * self.cfg.r1_every)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.dist.world > 1:
            average_gradients(self.d, self.dist.world)
        self.scaler.step(self.opt_d)

    # ---- outputs ----
    def _exported_generator(self) -> nn.Module:
        return self.ema if self.ema is not None else self.g

    def sample_grid(self) -> np.ndarray:
        return sample_grid(self._exported_generator(), self.fixed_z)

    def eval_images(self) -> np.ndarray:
        """uint8 [N, C, H, W] from the fixed evaluation latents (seeds 0..N-1), made by the
        generator that gets exported: the EMA one when EMA is on."""
        return generated_images(self._exported_generator(), self.eval_z)

    def measure_quality(self) -> float:
        """The FD of the current generator against the fixed real sample (nothing recorded)."""
        if self.probe is None:
            raise RuntimeError("quality tracking is off (--eval-every 0, or not rank 0)")
        return self.probe.fd(self.eval_images())

    def evaluate_quality(self) -> float:
        """Measure, log and record one evaluation; with keep_best, save best.pt on a new low."""
        fd = self.measure_quality()
        assert self.probe is not None
        epoch = round(self.step / self.steps_per_epoch, 4)
        entry = {"epoch": epoch, "step": self.step, "fd": fd}
        self.progress.quality_history.append(entry)
        kind = "pixel" if self.probe.extractor is None else "feature"
        log.info(
            "epoch %g: %s FD %.4g (floor %.4g, %s)",
            epoch,
            kind,
            fd,
            self.probe.floor,
            self.probe.features,
        )
        best = self.progress.best
        if self.cfg.keep_best and (best is None or fd < best["fd"]):
            self.progress.best = dict(entry)
            self.save_best()
        return fd

    def write_epoch_outputs(self, epoch: int) -> None:
        write_epoch_outputs(
            self.run_dir, epoch, self.sample_grid(), self.progress, self._measurement()
        )

    def record(self, final_losses: dict[str, float]) -> dict[str, Any]:
        """run.json's content."""
        return run_record(
            self.cfg,
            self.recipe,
            self.data,
            self.progress,
            self._measurement(),
            steps_per_epoch=self.steps_per_epoch,
            batch=self.batch,
            device=self.device,
            dist=self.dist,
            ema=self.ema is not None,
            amp=self.amp,
            final_losses=final_losses,
        )

    # ---- the loop ----
    def fit(self) -> TrainResult:
        with self._scope:  # destroys the process group however the run ends
            return self._fit()

    def _open_run(self) -> None:
        """The run folder, and the checkpoint it continues (--resume) or must not overwrite."""
        main = self.dist.main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        ckpt = self.run_dir / CHECKPOINT_FILE
        if self.cfg.resume:
            if not ckpt.exists():
                raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}")
            self.load_checkpoint(ckpt)
            log.info("resumed from %s at step %d", ckpt, self.step)
        elif main and ckpt.exists():
            raise FileExistsError(
                f"{ckpt} exists; pass --resume to continue it or choose another --run-dir"
            )
        log.info(
            "training %s on %s: %s, batch %d, %d steps (%d a epoch), device %s%s",
            self.recipe.model.name,
            self.data.description,
            self.recipe.optimizer,
            self.batch,
            self.total_steps,
            self.steps_per_epoch,
            self.device,
            f", amp {self.amp}" if self.amp else "",
        )

    def _after_step(self, epoch: int) -> None:
        """Rank 0's work between steps: the FD probe, the epoch's outputs, the checkpoint."""
        last = self.step == self.total_steps
        if self.probe is not None and (self.step % self.eval_interval == 0 or last):
            self.evaluate_quality()
        if self.step % self.steps_per_epoch == 0 or last:
            self.write_epoch_outputs(epoch + 1)
        if self.step % self.cfg.checkpoint_every == 0:
            self.save_checkpoint()

    def _fit(self) -> TrainResult:
        from tqdm import tqdm

        main = self.dist.main
        self._open_run()
        interrupted = False
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            unit="step",
            dynamic_ncols=True,
            disable=not (main and self.cfg.progress),
        )
        losses: tuple[torch.Tensor, torch.Tensor] | None = None
        t_start, step_time, seen = time.perf_counter(), 0.0, 0
        try:
            for epoch, real in self._batches():
                t_step = time.perf_counter()
                losses = self.train_step(real)
                self.step += 1
                seen += real.shape[0] * self.dist.world
                if self.step % self.cfg.log_every == 0 or self.step == self.total_steps:
                    # .item() syncs the GPU: only on logging steps
                    ld, lg = (float(x) for x in losses)
                    self.progress.history.append((self.step, ld, lg))
                    step_time += time.perf_counter() - t_step
                    bar.set_postfix(d=f"{ld:.3f}", g=f"{lg:.3f}", img_s=f"{seen / step_time:.0f}")
                else:
                    step_time += time.perf_counter() - t_step
                bar.update(1)
                if self.step == self.total_steps:
                    # the bar ends at 100% once: the final FD line and outputs come below it
                    # (an open bar is redrawn after every log line)
                    bar.close()
                if main:
                    self._after_step(epoch)
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted at step %d: saving a checkpoint before exiting", self.step)
        finally:
            bar.close()
        self.progress.wall_time += time.perf_counter() - t_start
        final = (
            {}
            if losses is None
            else {"d": round(float(losses[0]), 5), "g": round(float(losses[1]), 5)}
        )
        if main:
            self.save_checkpoint()
            write_run_record(self.run_dir / RUN_FILE, self.record(final))
        if self.dist.world > 1:
            import torch.distributed as tdist

            # every rank waits for rank 0's files: a rank that tears gloo down while its
            # peer is still connected can abort ("terminate called without an active exception")
            tdist.barrier()  # (fit's scope then destroys the group)
        rate = seen / step_time if step_time else 0.0
        return TrainResult(
            self.run_dir,
            self.step,
            self.step / self.steps_per_epoch,
            self.progress.wall_time,
            rate,
            final,
            interrupted,
        )
