"""The DCGAN training loop: TrainConfig in, run folder out.

A run folder holds ``checkpoint.pt`` (config + weights + optimizers + EMA + step + RNG), a
sample grid per epoch from fixed latents (``samples/epoch_0001.png``), ``training.gif``
made of those grids, ``losses.png`` and ``losses.csv``, and ``run.json`` (the training
record that ``dcgan export`` copies into the manifest).

Quality tracking (``eval_every`` epochs, rank 0): ``eval_samples`` images from the fixed
latents of seeds 0..n-1 (the EMA generator when EMA is on) are embedded with the data's
feature network (``training/features.py``; 8×8 pixel thumbnails as the fallback) and
compared by Fréchet distance with a fixed real sample, beside that sample's real-vs-real
floor. The history goes into the checkpoint (so ``--resume`` keeps it), ``run.json`` and
``losses.png``; with ``keep_best``, ``best.pt`` holds the generator of the lowest FD.

Determinism: data order for epoch e is a permutation drawn from ``seed`` and ``e``; noise
comes from a dedicated generator whose state is checkpointed together with torch's
global RNG (dropout). Resuming from a checkpoint therefore continues bit-for-bit on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from service.latents import latents_for_seeds
from training.config import TrainConfig
from training.models import DCGANConfig, Discriminator, Generator, build_config, init_weights
from training.provenance import dataset_provenance, portable_spec

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
RUN_FILE = "run.json"
CHECKPOINT_FORMAT = 1
SAMPLE_SEEDS = list(range(64))
EVAL_REAL_SEED = 0  # the fixed real sample: the same images for every run on a data set
EVAL_BATCH = 500  # generated images per forward pass during an evaluation


@dataclass(frozen=True)
class Recipe:
    """TrainConfig with the preset defaults filled in."""

    model: DCGANConfig
    optimizer: str
    lr: float
    betas: tuple[float, float]
    batch_size: int
    loss: str
    real_label: float
    fake_label: float


def resolve_recipe(cfg: TrainConfig) -> Recipe:
    model = build_config(cfg.preset, width=cfg.width, image_size=cfg.image_size)
    d = model.train
    return Recipe(
        model=model,
        optimizer=cfg.optimizer or d.optimizer,
        lr=cfg.lr or d.lr,
        betas=(
            cfg.beta1 if cfg.beta1 is not None else d.betas[0],
            cfg.beta2 if cfg.beta2 is not None else d.betas[1],
        ),
        batch_size=cfg.batch_size or d.batch_size,
        loss=cfg.loss or d.loss,
        real_label=d.real_label - cfg.label_smoothing,
        fake_label=d.fake_label,
    )


# ---- environment ----------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; the same command then trains with DDP."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as tdist

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    tdist.init_process_group(backend)
    return Dist(tdist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(requested: str, dist: Dist) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", dist.local_rank)
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    return device


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """Mixed precision only on CUDA: bf16 where supported (no loss scaling needed), else fp16."""
    if setting == "off" or device.type != "cuda":
        return None
    if setting == "fp16":
        return torch.float16
    if setting == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, {platform.node()}"
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


# ---- data -----------------------------------------------------------------------------


@dataclass
class TrainData:
    images: torch.Tensor  # uint8 [N, C, H, W], on CPU (pinned) or on the GPU
    spec: str
    description: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_train_data(
    cfg: TrainConfig, model: DCGANConfig, device: torch.device, batch: int
) -> TrainData:
    if cfg.dry_run:
        gen = torch.Generator().manual_seed(cfg.seed)
        n = batch * 4
        shape = (n, model.channels, model.image_size, model.image_size)
        images = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        return TrainData(images, "fake", f"fake data ({n} random images, --dry-run)")
    from training.data import load_images

    data = load_images(
        cfg.data,
        model.image_size,
        model.channels,
        cache_dir=cfg.cache_dir,
        limit=cfg.limit,
        progress=cfg.progress,
    )
    # The decode cache is a memmap; one copy into RAM (uint8, 4x smaller than float) makes
    # batch gathering a cheap index_select instead of page faults.
    images = torch.from_numpy(np.array(data.images))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # the whole data set goes on the GPU when it fits easily, else pinned host memory
        fits = images.numel() < free // 4
        images = images.to(device) if fits else images.pin_memory()
    return TrainData(images, data.spec, data.description)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled index order of one epoch: a pure function of (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def to_model_input(batch: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = batch.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# ---- losses and EMA -------------------------------------------------------------------


def d_loss_fn(
    kind: str, real: torch.Tensor, fake: torch.Tensor, real_label: float, fake_label: float
) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    # The seeds' sigmoid + BCE, fused for stability (and AMP safety).
    return F.binary_cross_entropy_with_logits(
        real, torch.full_like(real, real_label)
    ) + F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, fake_label))


def g_loss_fn(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return -fake.mean()
    # Non-saturating generator loss: maximise log D(G(z)).
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def ema_decay_at(step: int, decay: float) -> float:
    """Warm-up: early on the average follows the weights closely, else it would sit near
    the random init for ~1/(1-decay) steps (TensorFlow's num_updates rule)."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    # BatchNorm statistics are copied: averaging them lags behind the averaged weights.
    for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(b)


def unwrap(module: nn.Module) -> nn.Module:
    inner = getattr(module, "module", module)  # DDP
    return getattr(inner, "_orig_mod", inner)  # torch.compile


# ---- quality tracking -----------------------------------------------------------------


class QualityProbe:
    """A fixed real sample, embedded once, and the Fréchet distance of generated images to it.

    ``2 * samples`` real images are drawn once (a seeded permutation, not sorted, so folders
    ordered by class still give mixed halves); generated images are compared with the first
    half, and the first half with the second (same counts) gives the real-vs-real floor.
    ``features`` is a feature network folder, or None for 8×8 pixel thumbnails.
    """

    def __init__(self, images: torch.Tensor, samples: int, features: Path | None) -> None:
        from training.features import FeatureExtractor
        from training.quality import frechet_distance
        from training.scorecard import PIXELS, portable

        self.samples = min(samples, len(images) // 2)
        self.extractor = FeatureExtractor(features) if features is not None else None
        self.features = portable(features) if features is not None else PIXELS
        rng = np.random.default_rng(EVAL_REAL_SEED)
        pick = torch.from_numpy(rng.permutation(len(images))[: 2 * self.samples])
        real = images[pick.to(images.device)].cpu().numpy()
        embedded = self.embed(real)
        self.real = embedded[: self.samples]
        self.floor = round(frechet_distance(self.real, embedded[self.samples :]), 5)

    def embed(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [N, C, H, W] -> float64 [N, D]."""
        if self.extractor is None:
            from training.evaluate import pixel_features

            return pixel_features(images_u8)
        return self.extractor(images_u8)[0]

    def fd(self, fake_u8: np.ndarray) -> float:
        from training.quality import frechet_distance

        return round(frechet_distance(self.real, self.embed(fake_u8)), 5)


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
    def __init__(self, cfg: TrainConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.recipe = resolve_recipe(cfg)
        self.dist = setup_distributed()
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
        self.opt_g = self._optimizer(self.g)
        self.opt_d = self._optimizer(self.d)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.noise = torch.Generator(self.device).manual_seed(cfg.seed * 7919 + self.dist.rank)
        self.step = 0
        self.wall_time = 0.0
        self.history: list[tuple[int, float, float]] = []
        self.fixed_z = torch.from_numpy(latents_for_seeds(SAMPLE_SEEDS, model.nz)).to(self.device)
        # quality tracking: {"epoch", "step", "fd"} per evaluation; best = the lowest so far
        self.quality_history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.eval_interval = (
            max(1, round(cfg.eval_every * self.steps_per_epoch)) if cfg.eval_every > 0 else 0
        )
        self.probe: QualityProbe | None = None
        self.eval_z = torch.empty(0)
        if self.eval_interval:
            features = self._eval_features()  # every rank: a bad flag fails them all alike
            if self.dist.main:
                self._start_quality_probe(features)

        self.g_train: nn.Module = self.g
        self.d_train: nn.Module = self.d
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train, self.d_train = DDP(self.g, device_ids=ids), DDP(self.d, device_ids=ids)
        if cfg.compile:
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
        from training.scorecard import PIXELS, resolve_features

        spec = self.cfg.eval_features
        if self.cfg.dry_run and spec == "auto":
            return None  # fake data has no feature network: pixel thumbnails
        try:
            return resolve_features(spec, self.cfg.data)
        except FileNotFoundError:
            raise ValueError(
                f"--eval-features must be auto, {PIXELS}, a feature network name under "
                f"features/ or a folder with feature.json, got {spec!r} (not found)"
            ) from None

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

    def _optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        r = self.recipe
        if r.optimizer == "rmsprop":
            return torch.optim.RMSprop(module.parameters(), lr=r.lr)
        return torch.optim.Adam(module.parameters(), lr=r.lr, betas=r.betas)

    # ---- checkpoints ----
    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    def _generator_state(self) -> dict[str, Any]:
        """What `load_generator` needs: configs, G and EMA weights."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model_config": self.recipe.model.to_dict(),
            "train_config": {
                k: str(v) if isinstance(v, Path) else v
                for k, v in dataclasses.asdict(self.cfg).items()
            },
            "generator": self.g.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **self._generator_state(),
            "discriminator": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "wall_time_s": self.wall_time,
            "history": self.history,
            "quality": {
                "history": self.quality_history,
                "best": self.best,
                "features": self.probe.features if self.probe else None,
                "samples": self.probe.samples if self.probe else None,
            },
            "rng": {
                "noise": self.noise.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        }

    def save_checkpoint(self) -> Path:
        return self._save(self.state_dict(), self.run_dir / CHECKPOINT_FILE)

    def save_best(self) -> Path:
        """best.pt: the evaluated generator (EMA when on; the raw G too) at the lowest FD;
        `load_generator` and `dcgan export runs/X/best.pt` read it."""
        features = self.probe.features if self.probe is not None else None
        best = {**(self.best or {}), "features": features}
        state = {**self._generator_state(), "step": self.step, "best": best}
        return self._save(state, self.run_dir / BEST_FILE)

    @staticmethod
    def _save(state: dict[str, Any], path: Path) -> Path:
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind
        return path

    def load_checkpoint(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        saved = DCGANConfig.from_dict(state["model_config"])
        if saved != self.recipe.model:
            raise ValueError(
                f"{path} was trained with a different model config; use the same "
                "--preset/--width/--image-size to resume"
            )
        self.g.load_state_dict(state["generator"])
        self.d.load_state_dict(state["discriminator"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.wall_time = float(state["wall_time_s"])
        self.history = [(int(s), float(d), float(g)) for s, d, g in state["history"]]
        self._load_quality(state.get("quality") or {})
        self.noise.set_state(state["rng"]["noise"].cpu())
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    def _load_quality(self, saved: dict[str, Any]) -> None:
        history = [dict(e) for e in saved.get("history") or []]
        best = saved.get("best")
        probe = self.probe
        if history and probe is not None:
            was = (saved.get("features"), saved.get("samples"))
            if was != (probe.features, probe.samples):
                log.warning(
                    "quality history restarted: it was measured with %s on %s samples, "
                    "now %s on %d",
                    *was,
                    probe.features,
                    probe.samples,
                )
                history, best = [], None
        self.quality_history = history
        self.best = dict(best) if best is not None and self.cfg.keep_best else None

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

    def train_step(self, real_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.recipe
        real = to_model_input(real_u8, self.device, self.channels_last)
        z = torch.randn(real.shape[0], r.model.nz, generator=self.noise, device=self.device)
        # D step: real vs detached fakes (one G forward is reused for the G step).
        with self._autocast():
            fake = self.g_train(z)
            loss_d = d_loss_fn(
                r.loss, self.d_train(real), self.d_train(fake.detach()), r.real_label, r.fake_label
            )
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        # G step
        with self._autocast():
            loss_g = g_loss_fn(r.loss, self.d_train(fake))
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        if self.ema is not None:
            ema_update(self.ema, self.g, ema_decay_at(self.step, self.cfg.ema_decay))
        return loss_d.detach(), loss_g.detach()

    # ---- outputs ----
    @torch.no_grad()
    def sample_grid(self) -> np.ndarray:
        from service.imaging import make_grid, to_uint8

        net = self.ema if self.ema is not None else self.g
        was_training = net.training
        net.eval()
        images = net(self.fixed_z).float().cpu().numpy()
        net.train(was_training)
        return make_grid(to_uint8(images), nrow=8)

    @torch.no_grad()
    def eval_images(self) -> np.ndarray:
        """uint8 [N, C, H, W] from the fixed evaluation latents (seeds 0..N-1), made by the
        generator that gets exported: the EMA one when EMA is on."""
        from service.imaging import to_uint8

        net = self.ema if self.ema is not None else self.g
        was_training = net.training
        net.eval()
        images = [
            to_uint8(net(z).float().cpu().numpy()).transpose(0, 3, 1, 2)
            for z in self.eval_z.split(EVAL_BATCH)
        ]
        net.train(was_training)
        return np.concatenate(images)

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
        self.quality_history.append(entry)
        kind = "pixel" if self.probe.extractor is None else "feature"
        log.info(
            "epoch %g: %s FD %.4g (floor %.4g, %s)",
            epoch,
            kind,
            fd,
            self.probe.floor,
            self.probe.features,
        )
        if self.cfg.keep_best and (self.best is None or fd < self.best["fd"]):
            self.best = dict(entry)
            self.save_best()
        return fd

    def write_epoch_outputs(self, epoch: int) -> None:
        from training.report import write_loss_plot, write_sample_grid, write_training_gif

        samples = self.run_dir / "samples"
        write_sample_grid(self.sample_grid(), samples / f"epoch_{epoch:04d}.png")
        write_training_gif(sorted(samples.glob("epoch_*.png")), self.run_dir / "training.gif")
        write_loss_plot(
            self.history,
            self.run_dir / "losses.png",
            self.run_dir / "losses.csv",
            quality=[(e["step"], e["fd"]) for e in self.quality_history],
            floor=self.probe.floor if self.probe is not None else None,
            quality_label=self.probe.features if self.probe is not None else "",
        )

    def quality_record(self) -> dict[str, Any]:
        if self.probe is None:
            return {}
        record: dict[str, Any] = {
            "quality_features": self.probe.features,
            "quality_samples": self.probe.samples,
            "quality_floor": self.probe.floor,
            "quality_history": self.quality_history,
        }
        if self.cfg.keep_best and self.best is not None:
            record["best"] = self.best
        return record

    def record(self, final_losses: dict[str, float]) -> dict[str, Any]:
        return {
            "command": self.cfg.to_command(),
            "dataset": portable_spec(self.data.spec),
            "dataset_description": self.data.description,
            **({"dataset_build": build} if (build := dataset_provenance(self.cfg.data)) else {}),
            "dataset_size": len(self.data),
            "epochs": round(self.step / self.steps_per_epoch, 4),
            "steps": self.step,
            "batch_size": self.batch * self.dist.world,
            "wall_time_s": round(self.wall_time, 2),
            "device": str(self.device) + (f" x{self.dist.world}" if self.dist.world > 1 else ""),
            "machine": machine_description(self.device),
            "seed": self.cfg.seed,
            "final_losses": final_losses,
            "ema": self.ema is not None,
            "torch_version": torch.__version__,
            "preset": self.cfg.preset,
            "width": self.cfg.width,
            "optimizer": self.recipe.optimizer,
            "lr": self.recipe.lr,
            "loss": self.recipe.loss,
            "amp": str(self.amp).replace("torch.", "") if self.amp else "off",
            **self.quality_record(),
        }

    # ---- the loop ----
    def fit(self) -> TrainResult:
        from tqdm import tqdm

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
                    self.history.append((self.step, ld, lg))
                    step_time += time.perf_counter() - t_step
                    bar.set_postfix(d=f"{ld:.3f}", g=f"{lg:.3f}", img_s=f"{seen / step_time:.0f}")
                else:
                    step_time += time.perf_counter() - t_step
                bar.update(1)
                if (
                    main
                    and self.probe is not None
                    and (self.step % self.eval_interval == 0 or self.step == self.total_steps)
                ):
                    self.evaluate_quality()
                if main and (
                    self.step % self.steps_per_epoch == 0 or self.step == self.total_steps
                ):
                    self.write_epoch_outputs(epoch + 1)
                if main and self.step % self.cfg.checkpoint_every == 0:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted at step %d: saving a checkpoint before exiting", self.step)
        finally:
            bar.close()
        self.wall_time += time.perf_counter() - t_start
        final = (
            {}
            if losses is None
            else {"d": round(float(losses[0]), 5), "g": round(float(losses[1]), 5)}
        )
        if main:
            self.save_checkpoint()
            (self.run_dir / RUN_FILE).write_text(json.dumps(self.record(final), indent=2) + "\n")
        if self.dist.world > 1:
            import torch.distributed as tdist

            # every rank waits for rank 0's files: a rank that tears gloo down while its
            # peer is still connected can abort ("terminate called without an active exception")
            tdist.barrier()
            tdist.destroy_process_group()
        rate = seen / step_time if step_time else 0.0
        return TrainResult(
            self.run_dir,
            self.step,
            self.step / self.steps_per_epoch,
            self.wall_time,
            rate,
            final,
            interrupted,
        )


def load_generator(checkpoint: Path, *, ema: bool = True) -> tuple[Generator, dict[str, Any]]:
    """Rebuild the generator from a checkpoint file alone (EMA weights when present)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{checkpoint} is not a dcgan checkpoint (format {state.get('format')})")
    generator = Generator(DCGANConfig.from_dict(state["model_config"]))
    weights = state["ema"] if ema and state.get("ema") is not None else state["generator"]
    generator.load_state_dict(weights)
    return generator.eval(), state
