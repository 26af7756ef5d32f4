"""Generator output arrays -> uint8 pixels, grids and encoded images.

PNG, the default and by far the most requested format, is encoded by the fastest lossless
encoder measured (docs/benchmarks.md "Encoders"): fpng for RGB(A) pictures up to
FAST_PNG_MAX_PIXELS (~11 µs for a 64×64 face where Pillow takes ~420 µs, files ~9% larger);
a few lines over the standard library's zlib for one-channel pictures (fpng has no grayscale
mode; Pillow's plugin path costs ~250 µs for a 28×28 one) and for every picture above that
size (level 1, the Up filter); Pillow for RGB where fpng is not installed. fpng holds the
GIL while it works, zlib releases it: the size bound keeps a large grid from stalling the
event loop, and a larger picture is compressed a block of rows at a time so that a render
can stop between blocks. Every encoder is lossless: the file decodes to exactly the array
given. ENCODER_TAG names the choice and joins every seeded ETag, so a cache never serves one
encoder's bytes under another's tag.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

try:  # PyPI fpng: a binding of Rich Geldreich's fpng encoder (x86-64 wheels)
    import fpng as _fpng
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _fpng = None

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


def upscale(
    images: UInt8Array,
    factor: int,
    method: Literal["nearest", "lanczos"],
    check: Callable[[], None] | None = None,
) -> UInt8Array:
    """[N, H, W, C] -> [N, H*factor, W*factor, C]; nearest keeps pixels crisp. ``check`` runs
    before each image (it may raise to stop the work)."""
    if factor == 1:
        return images
    resample = Image.Resampling.NEAREST if method == "nearest" else Image.Resampling.LANCZOS
    out = []
    for img in images:
        if check is not None:
            check()
        size = (img.shape[1] * factor, img.shape[0] * factor)
        out.append(np.asarray(to_pil(img).resize(size, resample)))
    return np.stack([o[:, :, None] if o.ndim == 2 else o for o in out])


# fpng holds the GIL: ~1.5 ms at this size on the reference machine, then Pillow (which
# releases it while compressing) takes over
FAST_PNG_MAX_PIXELS = 1 << 18
PNG_ENCODER = "fpng" if _fpng is not None else "pillow"
WEBP_METHOD = 0  # libwebp's fastest effort: method 4 cost 1.7-2.6x the time for ≤1% smaller files
GIF_QUANTIZE = Image.Quantize.FASTOCTREE  # RGB frames; median cut cost ~10x as much
# bump ENCODING_VERSION whenever an encoder's settings change the bytes of a response
ENCODING_VERSION = 3
ENCODER_TAG = f"encoding={ENCODING_VERSION}:{PNG_ENCODER}"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZLIB_LEVEL = 6


def encode_png(pixels: UInt8Array, check: Callable[[], None] | None = None) -> bytes:
    """[H, W, C] uint8 (C = 1, 3 or 4) -> PNG bytes that decode to exactly ``pixels``.

    A picture above FAST_PNG_MAX_PIXELS is compressed a block of rows at a time (zlib level
    1, the Up filter), with ``check`` called between blocks: a large grid for a client that
    left stops within a block's time, and zlib releases the GIL while it works."""
    height, width, channels = pixels.shape
    if height * width <= FAST_PNG_MAX_PIXELS:
        if channels == 1:
            return _png_with_zlib(pixels)
        if _fpng is not None:
            return bytes(_fpng.from_ndarray(np.ascontiguousarray(pixels)))
        buf = io.BytesIO()
        to_pil(pixels).save(buf, format="PNG", compress_level=_ZLIB_LEVEL)
        return buf.getvalue()
    return _large_png(pixels, check)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))
    )


def _png_with_zlib(pixels: UInt8Array) -> bytes:
    """A minimal PNG (PNG spec §11: IHDR, one IDAT, IEND; 8-bit, no interlace, filter 0 on
    every row): a few µs for a small grayscale picture where Pillow's plugin costs ~250 µs."""
    height, width, channels = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]  # grayscale, RGB, RGBA
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # a 0 filter byte a row
    rows[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), _ZLIB_LEVEL))
        + _png_chunk(b"IEND", b"")
    )


_LARGE_LEVEL = 1  # 2-3x faster than 6 on a 64-face grid, files ~10% larger
_ROWS_PER_BLOCK = 128


def _large_png(pixels: UInt8Array, check: Callable[[], None] | None) -> bytes:
    """A large PNG, a block of rows at a time: every row Up-filtered (PNG filter type 2: the
    row minus the one above, mod 256; the first row minus zeros), one IDAT."""
    height, width, channels = pixels.shape
    flat = pixels.reshape(height, width * channels)
    compressor = zlib.compressobj(_LARGE_LEVEL)
    idat: list[bytes] = []
    for start in range(0, height, _ROWS_PER_BLOCK):
        if check is not None:
            check()
        block = flat[start : start + _ROWS_PER_BLOCK]
        above = flat[start - 1 : start - 1 + len(block)] if start else None
        rows = np.empty((len(block), 1 + width * channels), np.uint8)
        rows[:, 0] = 2  # Up
        if above is None:
            rows[0, 1:] = block[0]
            rows[1:, 1:] = block[1:] - block[:-1]  # uint8 arithmetic wraps: mod 256
        else:
            rows[:, 1:] = block - above
        idat.append(compressor.compress(rows.tobytes()))
    idat.append(compressor.flush())
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(idat))
        + _png_chunk(b"IEND", b"")
    )


def to_pil(image: UInt8Array) -> Image.Image:
    """[H, W, C] uint8 -> a Pillow image (mode L for one channel, RGB for three)."""
    return Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)


def encode(
    pixels: UInt8Array,
    fmt: ImageFormat,
    quality: int = 90,
    check: Callable[[], None] | None = None,
) -> bytes:
    """[H, W, C] uint8 -> bytes, deterministically (no timestamps or metadata): equal pixels,
    equal bytes. PNG is lossless; JPEG and WebP are lossy at ``quality``. ``check`` may stop
    a large PNG between blocks of rows."""
    if fmt == "png":
        return encode_png(pixels, check)
    buf = io.BytesIO()
    if fmt == "jpeg":
        to_pil(pixels).save(buf, format="JPEG", quality=quality)
    else:
        to_pil(pixels).save(buf, format="WEBP", quality=quality, method=WEBP_METHOD)
    return buf.getvalue()


def encode_animation(
    frames: UInt8Array,
    fmt: Literal["gif", "webp"],
    frame_ms: int,
    check: Callable[[], None] | None = None,
) -> bytes:
    """[N, H, W, C] uint8 -> a looping animation, ping-ponging so the morph plays back and
    forth smoothly. GIF frames of an RGB model get a 256-colour palette each (fast octree:
    ~10x faster than Pillow's median cut on these frames, and no larger); a grayscale model's
    frames are stored as they are (GIF's palette holds all 256 gray levels: lossless)."""
    pictures = []
    for frame in frames:
        if check is not None:
            check()
        picture = to_pil(frame)
        if fmt == "gif" and frames.shape[3] != 1:
            picture = picture.quantize(256, method=GIF_QUANTIZE)
        pictures.append(picture)
    if check is not None:
        check()
    sequence = pictures + pictures[-2:0:-1]  # the way back reuses the frames
    # the two formats differ only in their encoder's own options
    options = {"optimize": False} if fmt == "gif" else {"quality": 90, "method": WEBP_METHOD}
    buf = io.BytesIO()
    sequence[0].save(
        buf,
        format=fmt.upper(),
        save_all=True,
        append_images=sequence[1:],
        duration=frame_ms,
        loop=0,
        **options,
    )
    return buf.getvalue()
