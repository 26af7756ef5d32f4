"""Data sets -> uint8 arrays [N, C, H, W], decoded once into a memory-mapped cache.

``load_images(spec, size, channels)`` accepts an image folder of any depth, an MNIST-style
idx file, or a built-in name (``digits``, ``fashion-mnist``). Folders are decoded once
(center crop, resize) into ``<cache_dir>/<key>.npy``; the key covers every file's path,
size and mtime, so a changed folder is decoded again and an unchanged one never is.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_IMAGES_MAGIC = 0x00000803

BUILTIN_DATASETS: dict[str, str] = {
    "digits": "scikit-learn's 1,797 handwritten 8x8 digits (bundled with scikit-learn)",
    "fashion-mnist": "Fashion-MNIST train, 60,000 28x28 (Debian package dataset-fashion-mnist)",
    "fashion-mnist-test": "Fashion-MNIST test, 10,000 28x28 (Debian package dataset-fashion-mnist)",
}


class DatasetError(ValueError):
    """A data set cannot be read; the message names the path or spec."""


@dataclass(frozen=True)
class ImageData:
    images: np.ndarray  # uint8 [N, C, H, W]; usually a read-only memmap of the cache file
    spec: str
    description: str
    skipped: int = 0

    def __len__(self) -> int:
        return int(self.images.shape[0])


def default_cache_dir() -> Path:
    return Path(os.environ.get("DCGAN_CACHE_DIR") or Path.home() / ".cache" / "dcgan")


# ---- single images ------------------------------------------------------------------------


def square_resize(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """Center-crop to a square, resize, return uint8 [C, size, size]."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        # reduce() first for big images: far faster than LANCZOS from full size, same look
        factor = side // (size * 2)
        if factor >= 2:
            img = img.reduce(factor)
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode_file(path: Path, size: int, channels: int) -> np.ndarray | None:
    """One image file -> uint8 [C, size, size], or None when it is unreadable or truncated."""
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB" if channels == 3 else "L", (size * 2, size * 2))
            img.load()  # forces a full decode: truncated files fail here
            return square_resize(img, size, channels)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None


# ---- folders ------------------------------------------------------------------------------


def list_images(folder: Path) -> list[Path]:
    """Image files at any depth, sorted, hidden files and folders ignored."""
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(
            Path(root) / n
            for n in names
            if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)
        )
    return sorted(files)


def cache_key(parts: Iterable[object]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _write_cache(path: Path, arrays: Iterable[np.ndarray | None], shape: tuple[int, ...]) -> int:
    """Stream decoded images into a new .npy file; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    n = 0
    try:
        for arr in arrays:
            if arr is not None:
                out[n] = arr
                n += 1
        out.flush()
        del out
        if n < shape[0]:  # some files were skipped: rewrite with the exact length
            full = np.load(tmp, mmap_mode="r")[:n]
            np.save(tmp.with_suffix(".npy"), full)
            del full
            os.replace(tmp.with_suffix(".npy"), tmp)
        os.replace(tmp, path)  # atomic: an interrupted decode never leaves a half cache
    finally:
        tmp.unlink(missing_ok=True)
    return n


def load_folder(
    folder: Path, size: int, channels: int, cache_dir: Path, limit: int | None, progress: bool
) -> ImageData:
    files = list_images(folder)
    if not files:
        raise DatasetError(
            f"no images found under {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})"
        )
    if limit is not None:
        files = files[:limit]
    stats = [(str(f.relative_to(folder)), *_size_mtime(f)) for f in files]
    key = cache_key([CACHE_FORMAT, "folder", str(folder), size, channels, limit, stats])
    path = cache_dir / f"{folder.name}-{size}x{channels}-{key}.npy"
    if not path.exists():
        log.info("decoding %d images from %s into %s", len(files), folder, path)
        decoded = _decode_all(files, size, channels, progress)
        skipped_files: list[Path] = []
        n = _write_cache(
            path, _track_failures(decoded, files, skipped_files), (len(files), channels, size, size)
        )
        if skipped_files:
            examples = ", ".join(str(p) for p in skipped_files[:3])
            warnings.warn(
                f"skipped {len(skipped_files)} unreadable or truncated image(s) under "
                f"{folder}, e.g. {examples}",
                stacklevel=3,
            )
        if n == 0:
            path.unlink(missing_ok=True)
            raise DatasetError(f"none of the {len(files)} image files under {folder} could be read")
    images = np.load(path, mmap_mode="r")
    skipped = len(files) - len(images)
    desc = f"image folder {folder} ({len(images):,} images" + (
        f", {skipped} skipped)" if skipped else ")"
    )
    return ImageData(images, str(folder), desc, skipped)


def _size_mtime(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _decode_all(
    files: Sequence[Path], size: int, channels: int, progress: bool
) -> Iterable[np.ndarray | None]:
    """Decode in a thread pool (Pillow releases the GIL while decoding), in file order."""
    from tqdm import tqdm

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2))) as pool:
        results = pool.map(lambda f: decode_file(f, size, channels), files, chunksize=64)
        yield from tqdm(
            results, total=len(files), desc="decoding", unit="img", disable=not progress
        )


def _track_failures(
    arrays: Iterable[np.ndarray | None], files: Sequence[Path], failed: list[Path]
) -> Iterable[np.ndarray | None]:
    for path, arr in zip(files, arrays, strict=True):
        if arr is None:
            failed.append(path)
        yield arr


# ---- idx files (MNIST / Fashion-MNIST) ------------------------------------------------------


def read_idx_images(path: Path) -> np.ndarray:
    """An idx3 images file (gzipped or not) -> uint8 [N, H, W]."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read idx file {path}: {exc}") from None
    if len(raw) < 16 or int.from_bytes(raw[:4], "big") != IDX_IMAGES_MAGIC:
        raise DatasetError(f"{path} is not an idx3 images file (bad magic number)")
    n, h, w = (int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
    if len(raw) != 16 + n * h * w:
        raise DatasetError(
            f"{path} is truncated: header says {n}x{h}x{w}, file is {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w)


def from_gray_array(gray: np.ndarray, size: int, channels: int, limit: int | None) -> np.ndarray:
    """uint8 [N, h, w] -> [N, C, size, size] (bicubic resize when the size differs)."""
    if limit is not None:
        gray = gray[:limit]
    if gray.shape[1:] != (size, size):
        gray = np.stack(
            [
                np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BICUBIC))
                for g in gray
            ]
        )
    out = gray[:, None]
    return np.repeat(out, 3, axis=1) if channels == 3 else np.ascontiguousarray(out)


def fashion_mnist_file(split: str) -> Path:
    folder = Path(os.environ.get("DCGAN_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)
    path = folder / f"{split}-images-idx3-ubyte.gz"
    if not path.exists():
        raise DatasetError(
            f"Fashion-MNIST not found at {path}: `apt-get install dataset-fashion-mnist`, set "
            "DCGAN_FASHION_MNIST_DIR, or pass the idx file's path to --data"
        )
    return path


def load_digits_gray() -> np.ndarray:
    from sklearn.datasets import load_digits

    # values are 0..16; scale to the full uint8 range
    return (load_digits().images * (255.0 / 16.0)).round().astype(np.uint8)


# ---- entry point --------------------------------------------------------------------------


def load_images(
    spec: str | Path,
    image_size: int,
    channels: int,
    *,
    cache_dir: Path | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> ImageData:
    """Load a data set as uint8 [N, channels, image_size, image_size]."""
    if channels not in (1, 3):
        raise DatasetError(f"channels must be 1 or 3, got {channels}")
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be >= 1, got {limit}")
    name = str(spec)
    if name == "digits":
        images = from_gray_array(load_digits_gray(), image_size, channels, limit)
        return ImageData(images, name, f"scikit-learn digits ({len(images):,} images)")
    if name in ("fashion-mnist", "fashion-mnist-test"):
        path = fashion_mnist_file("t10k" if name.endswith("test") else "train")
        images = from_gray_array(read_idx_images(path), image_size, channels, limit)
        return ImageData(images, name, f"Fashion-MNIST {path.name} ({len(images):,} images)")
    path = Path(name).expanduser().resolve()
    if not path.exists():
        known = ", ".join(BUILTIN_DATASETS)
        raise DatasetError(f"data path does not exist: {path} (built-in data sets: {known})")
    if path.is_file():
        images = from_gray_array(read_idx_images(path), image_size, channels, limit)
        return ImageData(images, name, f"idx file {path} ({len(images):,} images)")
    return load_folder(
        path, image_size, channels, cache_dir or default_cache_dir(), limit, progress
    )
