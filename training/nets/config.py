"""TrainConfig: every knob of a training run, and the one place its options are described.

No torch here: the CLI builds `dcgan train`'s options from these fields without importing it.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EVAL_SAMPLES_MAX = 20_000
AUGMENT_POLICIES = ("color", "translation", "cutout")  # training/loop/augment.py implements them


def option(default: Any, help: str) -> Any:
    """A field with its `dcgan train` help text (read by training/cli.py)."""
    return field(default=default, metadata={"help": help})


def literal_choices(hint: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal[...]`` type hint, also inside ``Literal[...] | None``; None
    for any other hint."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    for arg in typing.get_args(hint):
        if typing.get_origin(arg) is Literal:
            return typing.get_args(arg)
    return None


@dataclass
class TrainConfig:
    """Every knob of a training run. `dcgan train`'s options are made from these fields
    (name, type, default and help; training/cli.py), and checked only by ``validate``.

    ``None`` means "the preset's default" (from its seed document).
    """

    preset: str = option("dcgan64", "architecture preset (see `dcgan presets`)")
    data: str = option("digits", "built-in name (digits, fashion-mnist), image folder or idx file")
    run_dir: Path = option(Path("runs/default"), "default: runs/<data name>")
    width: float = option(1.0, "multiply every hidden width, (0, 4]")
    image_size: int | None = option(None, "train at preset size × a power of two")
    epochs: float | None = option(None, "default: the preset's")
    max_steps: int | None = option(None, "stop after this many steps")
    batch_size: int | None = option(None, "per process; default: the preset's")
    lr: float | None = option(None, "default: the preset's")
    lr_d: float | None = option(
        None, "discriminator learning rate (TTUR, Heusel et al. 2017); default: --lr"
    )
    beta1: float | None = option(None, "Adam beta1")
    beta2: float | None = option(None, "Adam beta2")
    optimizer: Literal["adam", "rmsprop"] | None = option(None, "adam | rmsprop")
    loss: Literal["bce", "hinge"] | None = option(None, "bce (non-saturating) | hinge")
    label_smoothing: float = option(0.0, "real label = 1 - this, [0, 0.5)")
    spectral_norm: bool = option(
        False, "spectral norm on every D layer, in place of D's BatchNorm (Miyato et al. 2018)"
    )
    r1_gamma: float = option(
        0.0,
        "R1 weight gamma on D's gradient at real images (Mescheder et al. 2018); 0: off",
    )
    r1_every: int = option(16, "steps between (lazy) R1 penalty steps, as StyleGAN2 does")
    augment: str = option(
        "", "DiffAugment of D's inputs: a comma list of color, translation, cutout ('': off)"
    )
    ema: bool = option(True, "keep an EMA copy of G (exported by default)")
    ema_decay: float = option(0.999, "EMA decay, (0, 1)")
    seed: int = option(0, "same seed, same run (bit for bit on CPU)")
    device: str = option("auto", "auto | cpu | cuda | cuda:N")
    amp: Literal["auto", "bf16", "fp16", "off"] = option(
        "auto", "auto | bf16 | fp16 | off (CUDA only)"
    )
    channels_last: bool | None = option(None, "default: on CUDA; off with --compile")
    compile: bool = option(False, "torch.compile G and D")
    checkpoint_every: int = option(1000, "steps between checkpoints")
    log_every: int = option(10, "steps between loss records")
    resume: bool = option(False, "continue the run in --run-dir")
    dry_run: bool = option(False, "3 steps on fake data")
    limit: int | None = option(None, "use only the first N images")
    threads: int | None = option(None, "torch CPU threads")
    cache_dir: Path | None = option(None, "decode cache folder")
    progress: bool = option(True, "progress bar")
    eval_every: float = option(
        1.0, "epochs between quality evaluations (FD vs a fixed real sample); 0: off"
    )
    eval_samples: int = option(
        500, "fixed-seed images per evaluation (2× as many real ones), 16..20000"
    )
    eval_features: str = option(
        "auto", "auto (the data's own network), a name under features/, a folder, or pixels"
    )
    keep_best: bool = option(
        False, "also save best.pt: the generator (EMA when on) of the lowest FD"
    )
    # fields that do not change the weights, left out of the recorded command
    _NOT_RECORDED = (
        "resume",
        "progress",
        "cache_dir",
        "run_dir",
        "log_every",
        "checkpoint_every",
        "eval_every",
        "eval_samples",
        "eval_features",
        "keep_best",
    )

    def to_command(self) -> str:
        """The `dcgan train` command that reproduces this run from scratch."""
        args = ["dcgan", "train"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            always = f.name in ("preset", "data")
            if f.name in self._NOT_RECORDED or (value == f.default and not always):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            else:
                args += [flag, str(value)]
        return shlex.join(args)

    def validate(self) -> None:
        """Raise ValueError naming the argument and its allowed range."""
        checks: list[tuple[str, bool, str]] = [
            ("width", 0 < self.width <= 4, "(0, 4]"),
            ("epochs", self.epochs is None or self.epochs > 0, "> 0"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, ">= 1"),
            ("batch_size", self.batch_size is None or 1 <= self.batch_size <= 65536, "1..65536"),
            ("lr", self.lr is None or 0 < self.lr < 1, "(0, 1)"),
            ("lr_d", self.lr_d is None or 0 < self.lr_d < 1, "(0, 1)"),
            ("r1_gamma", math.isfinite(self.r1_gamma) and self.r1_gamma >= 0, ">= 0 (0: off)"),
            ("r1_every", self.r1_every >= 1, ">= 1"),
            ("beta1", self.beta1 is None or 0 <= self.beta1 < 1, "[0, 1)"),
            ("beta2", self.beta2 is None or 0 <= self.beta2 < 1, "[0, 1)"),
            ("label_smoothing", 0 <= self.label_smoothing < 0.5, "[0, 0.5)"),
            ("ema_decay", 0 < self.ema_decay < 1, "(0, 1)"),
            ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
            ("log_every", self.log_every >= 1, ">= 1"),
            ("limit", self.limit is None or self.limit >= 1, ">= 1"),
            ("threads", self.threads is None or self.threads >= 1, ">= 1"),
            ("seed", 0 <= self.seed < 2**63, "[0, 2**63)"),
            (
                "eval_every",
                math.isfinite(self.eval_every) and self.eval_every >= 0,
                ">= 0 epochs (0 turns evaluation off)",
            ),
            (
                "eval_samples",
                16 <= self.eval_samples <= EVAL_SAMPLES_MAX,
                f"16..{EVAL_SAMPLES_MAX}",
            ),
            (
                "eval_features",
                bool(self.eval_features.strip()),
                "auto, pixels, a feature network name under features/ or a folder",
            ),
        ]
        for name, allowed_values in choice_fields().items():
            value = getattr(self, name)
            if value is not None and value not in allowed_values:
                raise ValueError(
                    f"--{name} must be one of {', '.join(allowed_values)}, got {value!r}"
                )
        unknown = [p for p in self.augment.split(",") if p.strip() not in ("", *AUGMENT_POLICIES)]
        if unknown:
            raise ValueError(
                f"--augment must be a comma list of {', '.join(AUGMENT_POLICIES)}, "
                f"got {self.augment!r}"
            )
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be {allowed}, got {getattr(self, name)}"
                )


def choice_fields() -> dict[str, tuple[Any, ...]]:
    """TrainConfig's fields typed ``Literal[...]`` and their allowed values, in field order."""
    hints = typing.get_type_hints(TrainConfig)
    choices = {f.name: literal_choices(hints[f.name]) for f in dataclasses.fields(TrainConfig)}
    return {name: values for name, values in choices.items() if values is not None}
