import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import training.data as data_module
from training.data import DatasetError, load_images, read_idx_images


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
    return root


def test_folder_of_any_depth_decodes_to_uint8_nchw(folder: Path, tmp_path: Path) -> None:
    data = load_images(folder, 32, 3, cache_dir=tmp_path / "cache", progress=False)
    assert data.images.shape == (4, 3, 32, 32) and data.images.dtype == np.uint8
    assert data.skipped == 0
    assert "4 images" in data.description


def test_center_crop_keeps_the_middle(folder: Path, tmp_path: Path) -> None:
    data = load_images(folder, 16, 3, cache_dir=tmp_path / "cache", progress=False)
    wide = np.asarray(data.images[0], dtype=int)  # homer/wide.jpg sorts first
    assert wide[0].mean() > 200 and wide[2].mean() < 50  # red, not blue


def test_transparent_images_sit_on_white_and_gray_is_replicated(
    folder: Path, tmp_path: Path
) -> None:
    data = load_images(folder, 8, 3, cache_dir=tmp_path / "cache", progress=False)
    clear = data.images[1]  # marge/deeper/clear.PNG
    assert clear.min() >= 250
    gray = data.images[2]
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])


def test_single_channel_output(folder: Path, tmp_path: Path) -> None:
    assert load_images(folder, 8, 1, cache_dir=tmp_path / "c", progress=False).images.shape[1] == 1


def test_corrupt_and_truncated_images_are_skipped_and_counted(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.jpg").write_text("this is not a jpeg")
    good = (folder / "homer" / "wide.jpg").read_bytes()
    (folder / "homer" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        data = load_images(folder, 16, 3, cache_dir=tmp_path / "cache", progress=False)
    assert len(data) == 4 and data.skipped == 2


def test_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=str(tmp_path / "nope")):
        load_images(tmp_path / "nope", 32, 3, cache_dir=tmp_path)


def test_empty_folder_names_it(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(DatasetError, match=f"no images found under {tmp_path / 'empty'}"):
        load_images(tmp_path / "empty", 32, 3, cache_dir=tmp_path / "c")


def test_folder_of_only_broken_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.jpg").write_text("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match="could be read"):
            load_images(tmp_path / "f", 8, 3, cache_dir=tmp_path / "c", progress=False)
    assert not list((tmp_path / "c").glob("*.npy"))


def test_cache_is_decoded_once_and_invalidated_by_changes(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = load_images(folder, 16, 3, cache_dir=cache, progress=False)

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(data_module, "decode_file", no_decoding)
    again = load_images(folder, 16, 3, cache_dir=cache, progress=False)
    assert isinstance(again.images, np.memmap)
    assert np.array_equal(first.images, again.images)
    monkeypatch.undo()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(folder / "new.png")
    assert len(load_images(folder, 16, 3, cache_dir=cache, progress=False)) == 5
    assert len(list(cache.glob("*.npy"))) == 2


def test_limit_keeps_the_first_images(folder: Path, tmp_path: Path) -> None:
    assert len(load_images(folder, 8, 3, cache_dir=tmp_path, limit=2, progress=False)) == 2


def write_idx(path: Path, images: np.ndarray, magic: int = 0x803) -> None:
    n, h, w = images.shape
    raw = b"".join(x.to_bytes(4, "big") for x in (magic, n, h, w)) + images.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_files_gzipped_or_not(tmp_path: Path, name: str) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    assert np.array_equal(read_idx_images(tmp_path / name), images)
    data = load_images(tmp_path / name, 28, 1, cache_dir=tmp_path)
    assert np.array_equal(data.images[:, 0], images)


def test_idx_with_bad_magic_or_truncation_is_an_error(tmp_path: Path) -> None:
    images = np.zeros((2, 4, 4), np.uint8)
    write_idx(tmp_path / "bad", images, magic=0x801)
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx_images(tmp_path / "bad")
    write_idx(tmp_path / "short", images)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-5])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx_images(tmp_path / "short")


@pytest.mark.parametrize("channels", [1, 3])
def test_builtin_digits(channels: int) -> None:
    data = load_images("digits", 28, channels)
    assert data.images.shape == (1797, channels, 28, 28)
    assert data.images.max() > 200


def test_fashion_mnist_from_the_debian_package() -> None:
    if not data_module.FASHION_MNIST_DIR.exists():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    data = load_images("fashion-mnist", 28, 1, limit=100)
    assert data.images.shape == (100, 1, 28, 28)


def test_fashion_mnist_missing_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCGAN_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_images("fashion-mnist", 28, 1)
