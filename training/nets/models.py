"""DCGAN generator and discriminator built from a config dataclass.

Model code does no I/O and reads no globals: a :class:`DCGANConfig` describes both networks,
checkpoints store it (``dataclasses.asdict``), and ``Generator(config)`` rebuilds the net.

Layout conventions (PyTorch NCHW):

* The generator maps ``z`` [N, nz] to images [N, C, H, W] in [-1, 1] (tanh).
* The discriminator maps images to *logits* [N]; the seeds' final sigmoid lives in the
  loss (``BCEWithLogits``), which is the numerically stable form of the same thing.
* "same"-style padding everywhere: a stride-2 conv halves, a stride-2 transposed conv
  doubles, a stride-1 layer keeps the size (padding ``(k-1)//2``, output_padding ``k % 2``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

Activation = Literal["relu", "leaky_relu"]


@dataclass(frozen=True)
class TrainDefaults:
    """The training recipe a seed document gives (or implies) for its architecture."""

    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 128
    epochs: int = 25
    loss: Literal["bce", "hinge"] = "bce"
    real_label: float = 1.0
    fake_label: float = 0.0


@dataclass(frozen=True)
class DCGANConfig:
    """Everything needed to build a generator/discriminator pair.

    Generator: a *stem* projects z to ``g_channels[0]`` maps of ``stem_size``², then one
    stride-2 transposed conv per following entry of ``g_channels`` doubles the size, then
    ``g_extra_channels`` stride-1 blocks refine, then the output layer maps to ``channels``
    (stride 2 if ``g_out_upsample``, else stride 1) followed by tanh.

    Discriminator: one conv per ``d_channels`` entry with the matching ``d_strides``, then
    a head: ``dense`` (flatten + Linear to 1) or ``conv`` (a k×k valid conv to 1×1).
    """

    name: str
    image_size: int
    channels: int
    nz: int = 100
    # generator
    g_stem: Literal["dense", "convt"] = "convt"
    g_stem_norm: bool = True
    g_channels: tuple[int, ...] = (1024, 512, 256, 128)
    g_extra_channels: tuple[int, ...] = ()
    g_out_upsample: bool = True
    g_kernel: int = 4
    g_bias: bool = False
    g_out_bias: bool = False
    g_activation: Activation = "relu"
    # discriminator
    d_channels: tuple[int, ...] = (64, 128, 256, 512)
    d_strides: tuple[int, ...] = ()  # empty: stride 2 for every conv
    d_kernel: int = 4
    d_bias: bool = False
    d_norm: bool = True
    d_norm_first: bool = False
    d_head: Literal["dense", "conv"] = "conv"
    d_dropout: float = 0.0
    # spectral norm on every D weight (Miyato et al. 2018); it replaces D's BatchNorm, as in
    # SNGAN. Off in every preset; `dcgan train --spectral-norm` turns it on.
    d_spectral_norm: bool = False
    leaky_slope: float = 0.2
    train: TrainDefaults = field(default_factory=TrainDefaults)
    # where the numbers come from, shown in `dcgan presets`
    source: str = ""

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not self.d_strides:
            object.__setattr__(self, "d_strides", (2,) * len(self.d_channels))
        if len(self.d_strides) != len(self.d_channels):
            raise ValueError("d_strides and d_channels must have the same length")
        # stem_size raises if the resolution does not fit the layer stack
        _ = self.stem_size, self.d_final_size

    # ---- derived geometry -------------------------------------------------------------
    @property
    def n_upsample(self) -> int:
        return len(self.g_channels) - 1 + int(self.g_out_upsample)

    @property
    def stem_size(self) -> int:
        size, rem = divmod(self.image_size, 2**self.n_upsample)
        if rem or size < 1:
            raise ValueError(
                f"image_size {self.image_size} is not divisible by 2**{self.n_upsample}"
            )
        if self.g_stem == "convt" and size != 4:
            raise ValueError("a 'convt' stem projects 1x1 to 4x4; image_size must be 4*2**n")
        return size

    @property
    def d_final_size(self) -> int:
        size = self.image_size
        for stride in self.d_strides:
            size = math.ceil(size / stride)
        if self.d_head == "conv" and size != self.d_kernel:
            raise ValueError(
                f"a 'conv' D head needs a {self.d_kernel}x{self.d_kernel} map, got {size}x{size}"
            )
        return size

    # ---- scaling ----------------------------------------------------------------------
    def scaled(
        self, width: float = 1.0, *, g_width: float | None = None, d_width: float | None = None
    ) -> DCGANConfig:
        """Multiply every hidden width (``g_width``/``d_width`` override ``width`` per net)."""
        gw = width if g_width is None else g_width
        dw = width if d_width is None else d_width
        for arg, value in (("width", gw), ("g_width", gw), ("d_width", dw)):
            if not 0 < value <= 4:
                raise ValueError(f"{arg} must be in (0, 4], got {value}")

        def mul(chs: tuple[int, ...], w: float) -> tuple[int, ...]:
            return tuple(max(1, round(c * w)) for c in chs)

        return dataclasses.replace(
            self,
            g_channels=mul(self.g_channels, gw),
            g_extra_channels=mul(self.g_extra_channels, gw),
            d_channels=mul(self.d_channels, dw),
        )

    def at_resolution(self, image_size: int) -> DCGANConfig:
        """Same design at ``image_size`` = this size × a power of two.

        Going down drops the generator's last (narrowest) upsampling block and the
        discriminator's first conv; going up adds a block of half width at those ends.
        """
        if image_size == self.image_size:
            return self
        ratio = image_size / self.image_size
        steps = round(math.log2(ratio)) if ratio > 0 else 0
        if ratio <= 0 or 2.0**steps != ratio:
            raise ValueError(
                f"resolution must be {self.image_size} times a power of two, got {image_size}"
            )
        g, d, strides = list(self.g_channels), list(self.d_channels), list(self.d_strides)
        for _ in range(abs(steps)):
            if steps > 0:
                g.append(max(1, g[-1] // 2))
                d.insert(0, max(1, d[0] // 2))
                strides.insert(0, 2)
            else:
                if len(g) < 2 or 2 not in strides:
                    raise ValueError(f"{self.name} cannot go below {self.image_size} pixels")
                g.pop()
                i = strides.index(2)
                d.pop(i)
                strides.pop(i)
        return dataclasses.replace(
            self,
            image_size=image_size,
            g_channels=tuple(g),
            d_channels=tuple(d),
            d_strides=tuple(strides),
        )

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DCGANConfig:
        raw = dict(data)
        train = dict(raw.pop("train", {}) or {})
        if "betas" in train:
            train["betas"] = tuple(train["betas"])
        tuples = {"g_channels", "g_extra_channels", "d_channels", "d_strides"}
        kwargs: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in raw.items()}
        return cls(**kwargs, train=TrainDefaults(**train))


def _same_padding(kernel: int) -> int:
    return (kernel - 1) // 2


def _activation(kind: Activation, slope: float) -> nn.Module:
    return nn.ReLU(inplace=True) if kind == "relu" else nn.LeakyReLU(slope, inplace=True)


class Generator(nn.Module):
    """z [N, nz] -> images [N, C, H, W] in [-1, 1]."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        c, s, k = config.g_channels, config.stem_size, config.g_kernel
        act = config.g_activation
        # stem: [N, nz] -> [N, c0, s, s]
        if config.g_stem == "dense":
            self.stem: nn.Module = nn.Sequential(
                nn.Linear(config.nz, c[0] * s * s),  # [N, c0*s*s]
                nn.Unflatten(1, (c[0], s, s)),  # [N, c0, s, s]
            )
        else:
            self.stem = nn.Sequential(
                nn.Unflatten(1, (config.nz, 1, 1)),  # [N, nz, 1, 1]
                nn.ConvTranspose2d(config.nz, c[0], 4, 1, 0, bias=config.g_bias),  # [N, c0, 4, 4]
            )
        layers: list[nn.Module] = []
        if config.g_stem_norm:
            layers.append(nn.BatchNorm2d(c[0]))
        layers.append(_activation(act, config.leaky_slope))
        # upsampling blocks: [N, c_i, s*2^i, s*2^i] -> [N, c_{i+1}, s*2^(i+1), ...]
        for cin, cout in itertools.pairwise(c):
            layers += self._block(cin, cout, k, 2, act)
        # stride-1 refinement blocks keep the size (seed 000's extra 64x64x32 layer)
        width = c[-1]
        for cout in config.g_extra_channels:
            layers += self._block(width, cout, k, 1, act)
            width = cout
        # output: [N, C, H, W]
        stride = 2 if config.g_out_upsample else 1
        layers += [
            nn.ConvTranspose2d(
                width,
                config.channels,
                k,
                stride,
                _same_padding(k),
                output_padding=(k % 2) if stride == 2 else 0,
                bias=config.g_out_bias,
            ),
            nn.Tanh(),
        ]
        self.body = nn.Sequential(*layers)

    def _block(self, cin: int, cout: int, k: int, stride: int, act: Activation) -> list[nn.Module]:
        conv = nn.ConvTranspose2d(
            cin,
            cout,
            k,
            stride,
            _same_padding(k),
            output_padding=(k % 2) if stride == 2 else 0,
            bias=self.config.g_bias,
        )
        return [conv, nn.BatchNorm2d(cout), _activation(act, self.config.leaky_slope)]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(z))


class Discriminator(nn.Module):
    """images [N, C, H, W] in [-1, 1] -> real/fake logits [N]."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        k = config.d_kernel
        layers: list[nn.Module] = []
        cin = config.channels
        # each conv: [N, cin, h, h] -> [N, cout, h/stride, h/stride]
        for i, (cout, stride) in enumerate(zip(config.d_channels, config.d_strides, strict=True)):
            layers.append(nn.Conv2d(cin, cout, k, stride, _same_padding(k), bias=config.d_bias))
            if config.d_norm and not config.d_spectral_norm and (i > 0 or config.d_norm_first):
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(config.leaky_slope, inplace=True))
            if config.d_dropout:
                layers.append(nn.Dropout(config.d_dropout))
            cin = cout
        size = config.d_final_size
        if config.d_head == "dense":
            # [N, c, s, s] -> [N, c*s*s] -> [N, 1]
            layers += [nn.Flatten(), nn.Linear(cin * size * size, 1)]
        else:
            # [N, c, k, k] -> [N, 1, 1, 1] (a k x k valid conv)
            layers += [nn.Conv2d(cin, 1, size, 1, 0, bias=config.d_bias), nn.Flatten()]
        if config.d_spectral_norm:
            for layer in layers:
                if isinstance(layer, nn.Conv2d | nn.Linear):
                    nn.utils.parametrizations.spectral_norm(layer)
        self.body = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images).view(-1)


def init_weights(module: nn.Module) -> None:
    """DCGAN init (Radford et al.): conv/linear weights ~ N(0, 0.02), BN gamma ~ N(1, 0.02).

    A spectrally normalised layer's stored weight is ``parametrizations.weight.original``
    (``module.weight`` is computed from it on every access)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        if nn.utils.parametrize.is_parametrized(module, "weight"):
            original: torch.Tensor = module.parametrizations["weight"].original  # type: ignore[union-attr,index]
            nn.init.normal_(original, 0.0, 0.02)
        else:
            nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(trainable parameters, BatchNorm running mean+var elements).

    The second number is what Keras calls "Non-trainable params" for these nets.
    """
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    stats = 0
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            stats += m.running_mean.numel() + m.running_var.numel()
    return trainable, stats


# ---- presets: one per seed document (../shared/seeds) ------------------------------------

_DCGAN64 = DCGANConfig(
    name="dcgan64",
    image_size=64,
    channels=3,
    # Seed 003's table gives padding 0 for the stride-2 transposed convs and stride 2 /
    # padding 1 for the last D conv; neither reaches the listed sizes. Fixed here:
    # stride-2 transposed convs use padding 1 (4 -> 8 -> ... -> 64) and the last D conv is
    # a 4x4 stride-1 padding-0 conv (4x4 -> 1x1), as in pytorch/examples dcgan.
    g_stem="convt",
    g_channels=(1024, 512, 256, 128),
    d_channels=(64, 128, 256, 512),
    d_head="conv",
    train=TrainDefaults(batch_size=128, epochs=25),
    source="seed 003 (Radford et al. table; two padding/stride errors fixed)",
)

PRESETS: dict[str, DCGANConfig] = {
    "simpsons64": DCGANConfig(
        name="simpsons64",
        image_size=64,
        channels=3,
        g_stem="dense",
        g_stem_norm=False,
        g_channels=(1024, 512, 256, 128, 64),
        g_extra_channels=(32,),
        g_out_upsample=False,
        g_kernel=5,
        g_out_bias=True,
        d_channels=(64, 128, 256, 512),
        d_kernel=5,
        d_head="dense",
        train=TrainDefaults(batch_size=128, epochs=25),
        source="seed 000 (Keras, Dense->4x4x1024, 5x5 ConvT, extra stride-1 layer)",
    ),
    "simpsons128": DCGANConfig(
        name="simpsons128",
        image_size=128,
        channels=3,
        g_stem="dense",
        g_stem_norm=False,
        g_channels=(1024, 512, 256, 128, 64),
        g_out_upsample=False,
        g_kernel=3,
        g_bias=True,
        g_out_bias=True,
        g_activation="leaky_relu",
        d_channels=(64, 128, 256, 512, 1024),
        d_strides=(2, 2, 2, 1, 2),
        d_kernel=3,
        d_bias=True,
        d_norm_first=True,
        d_head="dense",
        # seed 001 switched to RMSprop because Adam was unstable; it gives no lr
        train=TrainDefaults(optimizer="rmsprop", lr=1e-4, batch_size=64, epochs=50),
        source="seed 001 (Keras, 3x3 kernels with bias, LeakyReLU, RMSprop)",
    ),
    "dcgan64": _DCGAN64,
    "celeba64": dataclasses.replace(
        _DCGAN64,
        name="celeba64",
        train=TrainDefaults(batch_size=128, epochs=50),
        source="seed 002 (CelebA 64x64, batch 128, 50 epochs) on the seed 003 network",
    ),
    "mnist28": DCGANConfig(
        name="mnist28",
        image_size=28,
        channels=1,
        g_stem="dense",
        g_stem_norm=True,
        g_channels=(128, 64),
        g_kernel=5,
        g_bias=True,
        g_out_bias=True,
        # Seed 004 lists no discriminator. This one is the classic Keras MNIST DCGAN
        # critic: two 5x5 stride-2 convs (64, 128) with bias, LeakyReLU and dropout 0.3,
        # no BatchNorm, flatten, Linear -> 1 (212,865 parameters).
        d_channels=(64, 128),
        d_kernel=5,
        d_bias=True,
        d_norm=False,
        d_head="dense",
        d_dropout=0.3,
        train=TrainDefaults(lr=2e-4, batch_size=256, epochs=50),
        source="seed 004 (Keras MNIST, Dense->7x7x128, 5x5 ConvT); D: Keras MNIST critic",
    ),
}


def build_config(
    preset: str,
    *,
    width: float = 1.0,
    image_size: int | None = None,
    spectral_norm: bool = False,
) -> DCGANConfig:
    """A preset, optionally scaled in width and resolution (the CLI's --width/--image-size)
    and with a spectrally normalised discriminator (--spectral-norm)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = PRESETS[preset]
    if image_size is not None:
        config = config.at_resolution(image_size)
    if spectral_norm:
        config = dataclasses.replace(config, d_spectral_norm=True)
    return config.scaled(width) if width != 1.0 else config
