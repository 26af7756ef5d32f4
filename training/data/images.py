"""Data sets -> uint8 arrays [N, C, H, W], decoded once into a memory-mapped cache.

``load_images(spec, size, channels)`` accepts an image folder of any depth, an MNIST-style
idx file, or a built-in name (``digits``, ``fashion-mnist``). Folders are decoded once
(center crop, resize) into ``<cache_dir>/<key>.npy``; the key covers every file's path,
size and mtime, so a changed folder is decoded again and an unchanged one never is.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import logging
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from training.errors import UserError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

BUILTIN_DATASETS: dict[str, str] = {
    "digits": "scikit-learn's 1,797 handwritten 8x8 digits (bundled with scikit-learn)",
    "fashion-mnist": "Fashion-MNIST train, 60,000 28x28 (Debian package dataset-fashion-mnist)",
    "fashion-mnist-test": "Fashion-MNIST test, 10,000 28x28 (Debian package dataset-fashion-mnist)",
}

T = TypeVar("T")
R = TypeVar("R")


class DatasetError(UserError, ValueError):
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


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer images -> L; Pillow's own convert would clip them to white."""
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img).astype(np.int64) >> 8  # 16-bit range -> 8-bit
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        return Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L")
    return img


def square_resize(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """Center-crop to a square, resize, return uint8 [C, size, size]."""
    img = _to_8bit(ImageOps.exif_transpose(img))
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        # transparent pixels would otherwise come out as whatever colour they hide: use white
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
                # libjpeg scales by 1/2..1/8 while decoding: big photos decode several times faster
                img.draft("RGB" if channels == 3 else "L", (size * 2, size * 2))
            img.load()  # forces a full decode: truncated files fail here
            return square_resize(img, size, channels)
    except Exception as exc:  # any decoder failure on one file is a skip, never a crash
        log.debug("cannot decode %s: %s", path, exc)
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


def _reserve(fd: int, nbytes: int, cache_dir: Path) -> None:
    """Allocate the cache file's blocks now: a full disk is a clear error, not a SIGBUS later."""
    if not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DatasetError(
                f"not enough disk space in {cache_dir} for the decode cache ({nbytes:,} bytes); "
                "set DCGAN_CACHE_DIR or --cache-dir to a larger disk"
            ) from None
        # other errors (a file system without fallocate): the sparse file still works


def _shrink_npy(path: Path, n: int) -> None:
    """Keep the first n rows of a .npy file: rewrite its header in place and cut the tail."""
    if not _shrink_npy_in_place(path, n):
        # header size changed (an old numpy without spare header room): copy instead
        smaller = path.with_name(path.name + ".npy")
        np.save(smaller, np.load(path, mmap_mode="r")[:n])
        os.replace(smaller, path)


def _shrink_npy_in_place(path: Path, n: int) -> bool:
    fmt = np.lib.format
    with open(path, "r+b") as fh:
        version = fmt.read_magic(fh)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(fh)
        offset = fh.tell()
        header = io.BytesIO()
        write = fmt.write_array_header_1_0 if version == (1, 0) else fmt.write_array_header_2_0
        new_shape = (n, *shape[1:])
        write(
            header,
            {"descr": fmt.dtype_to_descr(dtype), "fortran_order": fortran, "shape": new_shape},
        )
        # numpy pads the header so that the first axis can change without moving the data
        if len(header.getvalue()) != offset:
            return False
        fh.seek(0)
        fh.write(header.getvalue())
        fh.truncate(offset + int(np.prod(new_shape)) * dtype.itemsize)
    return True


def _write_cache(path: Path, arrays: Iterable[np.ndarray | None], shape: tuple[int, ...]) -> int:
    """Stream decoded images into a new .npy file; returns how many were written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    except OSError as exc:
        raise DatasetError(
            f"cannot write the decode cache in {path.parent}: {exc}; "
            "set DCGAN_CACHE_DIR or --cache-dir"
        ) from None
    n = 0
    try:
        with open(tmp, "r+b") as fh:
            _reserve(fh.fileno(), os.fstat(fh.fileno()).st_size, path.parent)
        for arr in arrays:
            if arr is not None:
                out[n] = arr
                n += 1
        out.flush()
        del out
        if n < shape[0]:  # some files were skipped
            _shrink_npy(tmp, n)
        os.replace(tmp, path)  # atomic: an interrupted decode never leaves a half cache
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _open_cache(path: Path) -> np.ndarray | None:
    """The cached array, or None (and the file removed) when it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        images: np.ndarray = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        log.warning("decode cache %s is unreadable (%s); decoding again", path, exc)
        path.unlink(missing_ok=True)
        return None
    log.info("using decode cache %s", path)
    return images


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
    images = _open_cache(path)
    if images is None:
        _decode_folder(folder, files, path, size, channels, progress)
        images = np.load(path, mmap_mode="r")
    skipped = len(files) - len(images)
    desc = f"image folder {folder} ({len(images):,} images" + (
        f", {skipped:,} skipped)" if skipped else ")"
    )
    return ImageData(images, str(folder), desc, skipped)


def _decode_folder(
    folder: Path, files: Sequence[Path], path: Path, size: int, channels: int, progress: bool
) -> None:
    log.info("decoding %d images from %s into %s", len(files), folder, path)
    failed: list[Path] = []
    decoded = _track_failures(_decode_all(files, size, channels, progress), files, failed)
    n = _write_cache(path, decoded, (len(files), channels, size, size))
    if failed:
        examples = ", ".join(str(p) for p in failed[:3])
        warnings.warn(
            f"skipped {len(failed)} unreadable or truncated image(s) under {folder}, "
            f"e.g. {examples}",
            stacklevel=4,  # points at the caller of load_images
        )
    if n == 0:
        path.unlink(missing_ok=True)
        raise DatasetError(f"none of the {len(files)} image files under {folder} could be read")


def _size_mtime(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int) -> Iterator[R]:
    """Like pool.map, in input order, but with at most `window` tasks queued: memory stays
    bounded on 200k-file folders and Ctrl-C does not wait for every queued file."""
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _decode_all(
    files: Sequence[Path], size: int, channels: int, progress: bool
) -> Iterator[np.ndarray | None]:
    """Decode in threads (Pillow releases the GIL while decoding), in file order."""
    workers = min(8, os.cpu_count() or 2)
    results = ordered_map(lambda f: decode_file(f, size, channels), files, workers, workers * 16)
    if not progress:
        return results
    from tqdm import tqdm

    return iter(tqdm(results, total=len(files), desc="decoding", unit="img"))


def _track_failures(
    arrays: Iterable[np.ndarray | None], files: Sequence[Path], failed: list[Path]
) -> Iterator[np.ndarray | None]:
    for path, arr in zip(files, arrays, strict=True):
        if arr is None:
            failed.append(path)
        yield arr


# ---- idx files (MNIST / Fashion-MNIST) ------------------------------------------------------


def _read_idx_bytes(path: Path) -> bytes:
    """An idx file's bytes, gunzipped when gzipped (the name need not end in .gz)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == b"\x1f\x8b":  # gzip magic
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read idx file {path}: {exc}") from None
    return raw


def read_idx_labels(path: Path) -> np.ndarray:
    """An idx1 labels file (gzipped or not) -> int64 [N]."""
    raw = _read_idx_bytes(path)
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != IDX_LABELS_MAGIC:
        raise DatasetError(f"{path} is not an idx1 labels file (bad magic number)")
    n = int.from_bytes(raw[4:8], "big")
    if len(raw) != 8 + n:
        raise DatasetError(f"{path} is truncated: header says {n} labels, file is {len(raw)} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def read_idx_images(path: Path) -> np.ndarray:
    """An idx3 images file (gzipped or not) -> uint8 [N, H, W]."""
    raw = _read_idx_bytes(path)
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
    if image_size < 1:
        raise DatasetError(f"image_size must be >= 1, got {image_size}")
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
        if path.name.lower().endswith(IMAGE_EXTENSIONS):
            raise DatasetError(
                f"{path} is a single image: pass the folder that holds the training images"
            )
        images = from_gray_array(read_idx_images(path), image_size, channels, limit)
        return ImageData(images, name, f"idx file {path} ({len(images):,} images)")
    return load_folder(
        path, image_size, channels, cache_dir or default_cache_dir(), limit, progress
    )
