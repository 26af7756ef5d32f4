"""Generator output -> response bodies, and the size checks that run before any work.

Everything here is plain CPU work on NumPy arrays and Pillow images: it runs in a worker
thread (the batch's own, or the shared pool for heavy requests), never on the event loop.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from contract.imaging import UInt8Array, encode, encode_animation, make_grid, upscale

OutputFormat = Literal["png", "jpeg", "webp", "json"]  # POST /generate
AnimationFormat = Literal["png", "gif", "webp", "json"]  # GET /interpolate
ImageFormat = Literal["png", "webp", "jpeg"]  # GET /models/{name}/images/{seed}.{format}
UpscaleFilter = Literal["nearest", "lanczos"]
GRID_PADDING = 2
# the largest side each encoder accepts (WebP's is a hard limit of the format)
MAX_SIDE = {"png": 2**31 - 1, "json": 2**31 - 1, "jpeg": 65_535, "webp": 16_383, "gif": 65_535}
# above this many output pixels a request renders in the shared pool, not the batch's thread
HEAVY_PIXELS = 1 << 16


class Abandoned(Exception):
    """The request is gone (its client left, or shutdown cut it off): rendering stopped."""


Check = Callable[[], None]


def never_stop() -> None:
    """The ``check`` of a render nobody can abandon."""


@dataclass(frozen=True)
class ImageOptions:
    format: OutputFormat = "png"
    grid: bool = False
    upscale: int = 1
    upscale_filter: UpscaleFilter = "nearest"


def grid_side(count: int, side: int, ncol: int | None = None) -> tuple[int, int]:
    """(width, height) of :func:`contract.imaging.make_grid` for ``count`` square tiles."""
    cols = ncol or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / cols)
    return GRID_PADDING + cols * (side + GRID_PADDING), GRID_PADDING + rows * (side + GRID_PADDING)


def output_problem(
    count: int, image_size: int, options: ImageOptions, max_pixels: int
) -> str | None:
    """Why this request's output cannot be made (pixel budget, encoder limit), or None."""
    side = image_size * options.upscale
    pixels = count * side * side
    if pixels > max_pixels:
        return (
            f"the request would make {pixels:,} pixels ({count} × {side}×{side}); "
            f"the limit is DCGAN_MAX_OUTPUT_PIXELS={max_pixels:,}"
        )
    width, height = grid_side(count, side) if options.grid else (side, side)
    limit = MAX_SIDE[options.format]
    if max(width, height) > limit:
        return f"a {width}×{height} picture exceeds {options.format}'s limit of {limit} px a side"
    return None


def is_heavy(count: int, image_size: int, options: ImageOptions) -> bool:
    return (options.upscale_filter == "lanczos" and options.upscale > 1) or (
        count * (image_size * options.upscale) ** 2 > HEAVY_PIXELS
    )


def render_images(
    pixels: UInt8Array,
    options: ImageOptions,
    seeds: list[int | None],
    model: str,
    version: int,
    check: Check = never_stop,
) -> bytes:
    """/generate's body from [N, H, W, C] uint8 pixels (``contract.imaging.to_uint8`` of the
    generator's output): one image, a grid, or JSON with one base64 PNG per seed (None for
    an explicit latent).
    ``check`` runs between steps (each upscaled image, each encode, each block of a large
    PNG's rows) and may stop the work."""
    pixels = upscale(pixels, options.upscale, options.upscale_filter, check)
    if options.format == "json":
        items = []
        for s, p in zip(seeds, pixels, strict=True):
            check()
            items.append({"seed": s, "png": base64.b64encode(encode(p, "png")).decode()})
        return json.dumps({"model": model, "version": version, "images": items}).encode()
    picture = make_grid(pixels, padding=GRID_PADDING) if options.grid else pixels[0]
    check()
    return encode(picture, options.format, check=check)


def render_frames(
    frames: UInt8Array,
    fmt: AnimationFormat,
    frame_ms: int,
    options: ImageOptions,
    model: str,
    version: int,
    check: Check = never_stop,
) -> bytes:
    """/interpolate's body from [N, H, W, C] uint8 frames, each enlarged by ``options``'
    upscale: a PNG strip, a looping GIF/WebP, or JSON with base64 PNG frames. ``check`` runs
    between frames and may stop the work."""
    frames = upscale(frames, options.upscale, options.upscale_filter, check)
    if fmt == "json":
        items = []
        for f in frames:
            check()
            items.append(base64.b64encode(encode(f, "png")).decode())
        return json.dumps({"model": model, "version": version, "frames": items}).encode()
    if fmt == "png":
        strip = make_grid(frames, nrow=len(frames), padding=GRID_PADDING)
        check()
        return encode(strip, "png", check=check)
    return encode_animation(frames, fmt, frame_ms, check)
