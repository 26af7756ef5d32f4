"""Generator output arrays -> uint8 pixels, grids and encoded images (Pillow)."""

from __future__ import annotations

import io
import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

UInt8Array = npt.NDArray[np.uint8]
ImageFormat = Literal["png", "jpeg", "webp"]
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "json": "application/json",  # JSON bodies of base64 PNGs
}


def to_uint8(
    images: npt.NDArray[np.floating], value_range: tuple[float, float] = (-1.0, 1.0)
) -> UInt8Array:
    """[N, C, H, W] floats in ``value_range`` -> [N, H, W, C] uint8 (rounded, clipped)."""
    lo, hi = value_range
    scaled = (np.asarray(images, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def make_grid(
    images: UInt8Array, nrow: int | None = None, padding: int = 2, pad_value: int = 0
) -> UInt8Array:
    """Tile [N, H, W, C] into one [H', W', C] image, ``nrow`` images per row (default ~sqrt N)."""
    n, h, w, c = images.shape
    ncol = nrow or max(1, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncol)
    grid = np.full(
        (padding + nrows * (h + padding), padding + ncol * (w + padding), c), pad_value, np.uint8
    )
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def upscale(images: UInt8Array, factor: int, method: Literal["nearest", "lanczos"]) -> UInt8Array:
    """[N, H, W, C] -> [N, H*factor, W*factor, C]; nearest keeps pixels crisp."""
    if factor == 1:
        return images
    resample = Image.Resampling.NEAREST if method == "nearest" else Image.Resampling.LANCZOS
    out = [
        np.asarray(to_pil(img).resize((img.shape[1] * factor, img.shape[0] * factor), resample))
        for img in images
    ]
    return np.stack([o[:, :, None] if o.ndim == 2 else o for o in out])


def to_pil(image: UInt8Array) -> Image.Image:
    """[H, W, C] uint8 -> a Pillow image (mode L for one channel, RGB for three)."""
    return Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)


def encode(image: Image.Image, fmt: ImageFormat, quality: int = 90) -> bytes:
    """Encode deterministically (no timestamps or metadata): equal pixels, equal bytes."""
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG", optimize=False)
    elif fmt == "jpeg":
        image.save(buf, format="JPEG", quality=quality)
    else:
        image.save(buf, format="WEBP", quality=quality, method=4)
    return buf.getvalue()


def encode_animation(
    frames: list[Image.Image], fmt: Literal["gif", "webp"], frame_ms: int
) -> bytes:
    """A looping animation, ping-ponging so the morph plays back and forth smoothly."""
    sequence = frames + frames[-2:0:-1]
    buf = io.BytesIO()
    if fmt == "gif":
        sequence = [f.convert("RGB") for f in sequence]
        sequence[0].save(
            buf,
            format="GIF",
            save_all=True,
            append_images=sequence[1:],
            duration=frame_ms,
            loop=0,
            optimize=False,
        )
    else:
        sequence[0].save(
            buf,
            format="WEBP",
            save_all=True,
            append_images=sequence[1:],
            duration=frame_ms,
            loop=0,
            quality=90,
            method=4,
        )
    return buf.getvalue()
