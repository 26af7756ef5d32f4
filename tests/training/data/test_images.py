import gzip
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import training.data.images as data_module
from training.data.images import DatasetError, load_images, ordered_map, read_idx_images


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A nested folder with several sizes and modes (Kaggle-like layout)."""
    root = tmp_path / "simpsons_dataset"
    (root / "homer").mkdir(parents=True)
    (root / "marge" / "deeper").mkdir(parents=True)
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (100, 0, 200, 100))  # red center square, blue sides
    wide.save(root / "homer" / "wide.jpg", quality=95)
    Image.new("L", (40, 90), 200).save(root / "marge" / "gray.png")
    Image.new("RGBA", (64, 64), (0, 255, 0, 0)).save(root / "marge" / "deeper" / "clear.PNG")
    Image.new("P", (20, 20), 3).save(root / "palette.gif")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "skip.png")
    Image.new("RGB", (8, 8)).save(root / ".skip.png")
    return root


def load(path: Path, size: int, channels: int, cache: Path, limit: int | None = None) -> np.ndarray:
    return load_images(path, size, channels, cache_dir=cache, limit=limit, progress=False).images


def test_folder_of_any_depth_decodes_to_uint8_nchw(folder: Path, tmp_path: Path) -> None:
    data = load_images(folder, 32, 3, cache_dir=tmp_path / "cache", progress=False)
    assert data.images.shape == (4, 3, 32, 32) and data.images.dtype == np.uint8
    assert data.skipped == 0 and len(data) == 4
    assert "4 images" in data.description and str(folder) in data.description


def test_center_crop_keeps_the_middle(folder: Path, tmp_path: Path) -> None:
    wide = np.asarray(load(folder, 16, 3, tmp_path / "c")[0], dtype=int)  # homer/wide.jpg
    assert wide[0].mean() > 200 and wide[2].mean() < 50  # red, not blue


def test_phone_photos_are_turned_upright_by_their_exif_orientation(tmp_path: Path) -> None:
    """A camera stores a portrait photo as landscape pixels plus EXIF Orientation 6 (turn
    90° clockwise to view). Stored: red left half, blue right half; viewed upright: red top,
    blue bottom. Read without the tag, the square crop would be red left, blue right."""
    photos = tmp_path / "photos"
    photos.mkdir()
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW
    stored.save(photos / "IMG_0001.JPG", quality=95, exif=exif)
    (image,) = load(photos, 16, 3, tmp_path / "c")
    red, blue = image[0].astype(int), image[2].astype(int)
    assert red[:6].mean() > 200 and blue[:6].mean() < 50, "top rows are not red"
    assert blue[-6:].mean() > 200 and red[-6:].mean() < 50, "bottom rows are not blue"


def test_transparent_images_sit_on_white_and_gray_is_replicated(
    folder: Path, tmp_path: Path
) -> None:
    images = load(folder, 8, 3, tmp_path / "c")
    assert images[1].min() >= 250  # marge/deeper/clear.PNG: fully transparent -> white
    gray = images[2]  # marge/gray.png
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])
    assert abs(int(gray.mean()) - 200) <= 2


def test_single_channel_output_uses_luminance(folder: Path, tmp_path: Path) -> None:
    images = load(folder, 8, 1, tmp_path / "c")
    assert images.shape == (4, 1, 8, 8)
    assert 70 <= np.median(images[0]) <= 82  # pure red in Pillow "L" is 76


def test_palette_transparency_and_16_bit_png(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    pal = Image.new("P", (10, 10), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.save(root / "a.png", transparency=1)  # every pixel is the transparent index
    ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # 0..65472
    Image.fromarray(ramp).save(root / "b.png")
    images = load(root, 16, 3, tmp_path / "c")
    assert images[0].min() >= 250
    assert 100 < images[1].mean() < 155  # scaled, not clipped to white


def test_corrupt_and_truncated_images_are_skipped_and_counted(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.jpg").write_text("this is not a jpeg")
    good = (folder / "homer" / "wide.jpg").read_bytes()
    (folder / "homer" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="skipped 2 unreadable") as record:
        data = load_images(folder, 16, 3, cache_dir=tmp_path / "cache", progress=False)
    assert len(record) == 1 and "broken.jpg" in str(record[0].message)
    assert len(data) == 4 and data.skipped == 2 and "2 skipped" in data.description
    # the shrunk cache reads back with the same count and no second warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_images(folder, 16, 3, cache_dir=tmp_path / "cache", progress=False)
    assert again.skipped == 2 and np.array_equal(again.images, data.images)


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DatasetError, match=re.escape(f"data path does not exist: {missing}")):
        load_images(missing, 32, 3, cache_dir=tmp_path)


def test_empty_folder_names_it(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.md").write_text("x")
    expected = f"no images found under {tmp_path / 'empty'} (looked for .jpg"
    with pytest.raises(DatasetError, match=re.escape(expected)):
        load_images(tmp_path / "empty", 32, 3, cache_dir=tmp_path / "c")


def test_folder_of_only_broken_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.jpg").write_text("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'f'} could be read")):
            load_images(tmp_path / "f", 8, 3, cache_dir=tmp_path / "c", progress=False)
    assert not list((tmp_path / "c").iterdir())  # no cache, no temp file left


def test_a_single_image_file_is_an_error(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="single image"):
        load_images(folder / "marge" / "gray.png", 8, 1, cache_dir=tmp_path / "c")


def test_unwritable_cache_dir_is_an_error(folder: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match=re.escape(f"decode cache in {blocker}")):
        load_images(folder, 8, 3, cache_dir=blocker, progress=False)


def test_cache_is_decoded_once_and_invalidated_by_changes(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = load(folder, 16, 3, cache)
    (cached,) = cache.glob("*.npy")

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(data_module, "decode_file", no_decoding)
    again = load(folder, 16, 3, cache)
    assert isinstance(again, np.memmap) and not again.flags.writeable
    assert np.array_equal(first, again)
    # another size, channel count or limit is another cache entry
    with pytest.raises(AssertionError, match="decoded again"):
        load(folder, 8, 3, cache)
    monkeypatch.undo()

    # a changed file (same name, new content and mtime) is decoded again
    gray = folder / "marge" / "gray.png"
    Image.new("L", (40, 90), 10).save(gray)
    os.utime(gray, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = load(folder, 16, 3, cache)
    assert changed[2].mean() < 20 and first[2].mean() > 190
    # a new file too
    Image.new("RGB", (16, 16), (1, 2, 3)).save(folder / "new.png")
    assert len(load(folder, 16, 3, cache)) == 5
    assert cached.exists() and len(list(cache.glob("*.npy"))) == 3  # old entries are kept
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]


def test_unreadable_cache_file_is_rebuilt(folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = np.array(load(folder, 16, 3, cache))
    (cached,) = cache.glob("*.npy")
    cached.write_bytes(b"garbage")
    assert np.array_equal(load(folder, 16, 3, cache), first)


def test_limit_keeps_the_first_images(folder: Path, tmp_path: Path) -> None:
    all_images = load(folder, 8, 3, tmp_path / "c")
    two = load(folder, 8, 3, tmp_path / "c", limit=2)
    assert np.array_equal(two, all_images[:2])


def test_ordered_map_keeps_input_order() -> None:
    def slow_square(x: int) -> int:
        time.sleep(0.002 * ((x * 7) % 5))  # later items often finish first
        return x * x

    assert list(ordered_map(slow_square, range(40), workers=4, window=6)) == [
        x * x for x in range(40)
    ]


def write_idx(path: Path, images: np.ndarray, magic: int = 0x803, gz: bool = False) -> None:
    n, h, w = images.shape
    raw = b"".join(x.to_bytes(4, "big") for x in (magic, n, h, w)) + images.tobytes()
    path.write_bytes(gzip.compress(raw) if gz or path.suffix == ".gz" else raw)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_files_gzipped_or_not(tmp_path: Path, name: str) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    assert np.array_equal(read_idx_images(tmp_path / name), images)
    data = load_images(tmp_path / name, 28, 1, cache_dir=tmp_path / "c")
    assert np.array_equal(data.images[:, 0], images)
    rgb = load_images(tmp_path / name, 14, 3, cache_dir=tmp_path / "c", limit=3).images
    assert rgb.shape == (3, 3, 14, 14) and np.array_equal(rgb[:, 0], rgb[:, 2])


def test_gzipped_idx_without_gz_suffix(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "imgs-idx3-ubyte", images, gz=True)
    assert np.array_equal(read_idx_images(tmp_path / "imgs-idx3-ubyte"), images)


def test_idx_with_bad_magic_or_truncation_is_an_error(tmp_path: Path) -> None:
    images = np.zeros((2, 4, 4), np.uint8)
    write_idx(tmp_path / "bad", images, magic=0x801)
    with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'bad'} is not an idx3")):
        load_images(tmp_path / "bad", 4, 1, cache_dir=tmp_path / "c")
    write_idx(tmp_path / "short", images)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-5])
    with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'short'} is truncated")):
        read_idx_images(tmp_path / "short")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(b"x" * 100)[:20])
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "broken.gz"))):
        read_idx_images(tmp_path / "broken.gz")


@pytest.mark.parametrize("channels", [1, 3])
def test_builtin_digits(channels: int, tmp_path: Path) -> None:
    data = load_images("digits", 28, channels, cache_dir=tmp_path)
    assert data.images.shape == (1797, channels, 28, 28) and data.images.dtype == np.uint8
    assert data.images.min() == 0 and data.images.max() > 200
    assert set(data_module.BUILTIN_DATASETS) >= {"digits", "fashion-mnist"}


def test_fashion_mnist_from_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DCGAN_FASHION_MNIST_DIR", raising=False)
    if not (data_module.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(
            f"{data_module.FASHION_MNIST_DIR} absent: apt-get install dataset-fashion-mnist"
        )
    data = load_images("fashion-mnist", 28, 1, cache_dir=tmp_path, limit=100)
    assert data.images.shape == (100, 1, 28, 28) and data.images.max() > 200


def test_fashion_mnist_missing_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCGAN_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_images("fashion-mnist", 28, 1, cache_dir=tmp_path)


def test_default_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path))
    assert data_module.default_cache_dir() == tmp_path
    monkeypatch.delenv("DCGAN_CACHE_DIR")
    assert data_module.default_cache_dir() == Path.home() / ".cache" / "dcgan"


def test_idx_labels_are_read_gzipped_and_checked(tmp_path: Path) -> None:
    import gzip

    from training.data.images import read_idx_labels

    good = tmp_path / "labels.gz"
    good.write_bytes(
        gzip.compress((0x801).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([7, 0, 9]))
    )
    assert read_idx_labels(good).tolist() == [7, 0, 9]
    short = tmp_path / "short"
    short.write_bytes((0x801).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes([1]))
    with pytest.raises(DatasetError, match=re.escape(f"{short} is truncated")):
        read_idx_labels(short)
    images = tmp_path / "images"
    images.write_bytes((0x803).to_bytes(4, "big") + bytes(12))
    with pytest.raises(DatasetError, match="not an idx1 labels file"):
        read_idx_labels(images)
