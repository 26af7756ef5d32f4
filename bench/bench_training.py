"""CPU/GPU training throughput: `dcgan train` vs a plain pytorch/examples-style loop.

Both loops train the same Generator/Discriminator on the same image folder (synthetic
CelebA-sized JPEGs made here, seeded) with the same batch size, side by side in one
process, alternating, so machine noise hits both. The reference loop is the one from
pytorch/examples dcgan/main.py: a Dataset that decodes + resizes each JPEG on every
epoch, a DataLoader with 2 workers, Sigmoid+BCELoss, `.item()` on every step.

    python bench/bench_training.py                      # every preset, width 1 and scaled
    python bench/bench_training.py --presets dcgan64 --widths 0.25 --steps 5

Prints a Markdown table (images/s, ratio ours/reference). Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from training.data.images import load_images
from training.loop.train import Trainer
from training.nets.config import TrainConfig
from training.nets.models import Discriminator, Generator, build_config, init_weights

SCALED_WIDTH = {
    "simpsons64": 0.25,
    "simpsons128": 0.25,
    "dcgan64": 0.25,
    "celeba64": 0.25,
    "mnist28": 0.5,
}


def make_folder(root: Path, count: int, seed: int = 0) -> Path:
    """CelebA-sized (178x218) JPEGs of smooth random colour fields."""
    rng = np.random.default_rng(seed)
    folder = root / "img_align_bench"
    folder.mkdir(parents=True)
    for i in range(count):
        small = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((178, 218), Image.BICUBIC)
        img.save(folder / f"{i:06d}.jpg", quality=90)
    return folder


class FolderDataset(Dataset[torch.Tensor]):
    """What torchvision's ImageFolder + Resize/CenterCrop/ToTensor/Normalize does per item."""

    def __init__(self, folder: Path, size: int, channels: int) -> None:
        self.files = sorted(folder.glob("*.jpg"))
        self.size, self.mode = size, "L" if channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = Image.open(self.files[i]).convert(self.mode)
        w, h = img.size
        scale = self.size / min(w, h)
        img = img.resize(
            (max(self.size, round(w * scale)), max(self.size, round(h * scale))), Image.BILINEAR
        )
        w, h = img.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(arr))


def reference_loop(
    folder: Path,
    preset: str,
    width: float,
    batch: int,
    steps: int,
    *,
    device: torch.device | None = None,
    warmup: int = 1,
) -> float:
    """pytorch/examples dcgan main.py's loop; images/s over ``steps`` after ``warmup`` steps."""
    device = device or torch.device("cpu")
    cfg = build_config(preset, width=width)
    net_g, net_d = Generator(cfg).to(device), Discriminator(cfg).to(device)
    net_g.apply(init_weights)
    net_d.apply(init_weights)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(
        FolderDataset(folder, cfg.image_size, cfg.channels),
        batch_size=batch,
        shuffle=True,
        num_workers=2,
        drop_last=True,
    )
    done, t0 = 0, 0.0
    while True:
        for real in loader:
            if done == warmup:
                t0 = time.perf_counter()
            real = real.to(device)
            b = real.size(0)
            net_d.zero_grad()
            ones, zeros = torch.full((b,), 1.0, device=device), torch.full((b,), 0.0, device=device)
            err_real = criterion(torch.sigmoid(net_d(real)), ones)
            err_real.backward()
            fake = net_g(torch.randn(b, cfg.nz, device=device))
            err_fake = criterion(torch.sigmoid(net_d(fake.detach())), zeros)
            err_fake.backward()
            opt_d.step()
            net_g.zero_grad()
            err_g = criterion(torch.sigmoid(net_d(fake)), ones)
            err_g.backward()
            opt_g.step()
            _ = (err_real + err_fake).item(), err_g.item()  # the examples print every step
            done += 1
            if done == steps + warmup:  # .item() above has synchronized the device
                return steps * batch / (time.perf_counter() - t0)


def ours(
    folder: Path, cache: Path, run: Path, preset: str, width: float, batch: int, steps: int
) -> float:
    """`dcgan train`'s step (cached uint8 data, EMA on); images/s after one warm-up step."""
    cfg = TrainConfig(
        preset=preset,
        data=str(folder),
        width=width,
        batch_size=batch,
        max_steps=steps + 1,
        run_dir=run,
        cache_dir=cache,
        progress=False,
    )
    trainer = Trainer(cfg)
    batches = trainer._batches()
    t0 = 0.0
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        _, real = next(batches)
        trainer.train_step(real)
        trainer.step += 1
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(SCALED_WIDTH))
    parser.add_argument(
        "--widths",
        nargs="+",
        type=float,
        default=None,
        help="default: 1 and the preset's scaled-down width",
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_folder(root, args.batch * (args.steps + 2))
        print(
            f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
            f"torch threads, torch {torch.__version__}; batch {args.batch}, {args.steps} timed "
            f"steps after 1 warm-up; data: {len(list(folder.glob('*.jpg')))} JPEGs 178x218\n"
        )
        print("| preset | width | image | reference img/s | dcgan train img/s | ratio |")
        print("|---|---|---|---|---|---|")
        for preset in args.presets:
            for width in args.widths or [1.0, SCALED_WIDTH[preset]]:
                cfg = build_config(preset, width=width)
                t = time.perf_counter()
                load_images(
                    folder, cfg.image_size, cfg.channels, cache_dir=root / "cache", progress=False
                )  # decode once (reported, not timed in the loop)
                decode_s = time.perf_counter() - t
                run = root / f"run-{preset}-{width}"
                ref = reference_loop(folder, preset, width, args.batch, args.steps)
                our = ours(folder, root / "cache", run, preset, width, args.batch, args.steps)
                print(
                    f"| {preset} | {width:g} | {cfg.image_size}²×{cfg.channels} | {ref:.1f} | "
                    f"{our:.1f} | {our / ref:.2f} | (one-time decode {decode_s:.1f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
