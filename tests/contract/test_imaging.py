import io

import numpy as np
import pytest
from PIL import Image

from contract import imaging
from contract.imaging import encode, make_grid, to_pil, to_uint8


def test_to_uint8_maps_the_value_range_and_clips() -> None:
    images = np.array([[[[-1.0, 0.0], [1.0, 5.0]]]], np.float32)  # [1, 1, 2, 2]
    out = to_uint8(images)
    assert out.shape == (1, 2, 2, 1) and out.dtype == np.uint8
    assert out[0, :, :, 0].tolist() == [[0, 128], [255, 255]]


def test_grid_layout_and_padding() -> None:
    tiles = np.stack([np.full((4, 4, 3), i * 40, np.uint8) for i in range(5)])
    grid = make_grid(tiles, nrow=3, padding=1)
    assert grid.shape == (1 + 2 * 5, 1 + 3 * 5, 3)
    assert grid[1, 1, 0] == 0 and grid[1, 6, 0] == 40 and grid[6, 1, 0] == 120
    assert grid[0, 0, 0] == 0  # padding


def test_encoding_is_deterministic_and_decodes() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    gray = np.zeros((8, 8, 1), np.uint8)
    assert to_pil(gray).mode == "L" and to_pil(rgb).mode == "RGB"
    for fmt in ("png", "jpeg", "webp"):
        data = encode(rgb, fmt)  # type: ignore[arg-type]
        assert data == encode(rgb.copy(), fmt)  # type: ignore[arg-type]
        assert Image.open(io.BytesIO(data)).size == (8, 8)


def decoded(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    pixels = np.asarray(image)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


# sides around FAST_PNG_MAX_PIXELS (2**18 = 512²): the last size fpng takes and the first it
# does not; non-square so a swapped width/height shows
SIDES = [(1, 1), (28, 28), (64, 48), (512, 512), (513, 512), (512, 513)]


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize(("height", "width"), SIDES)
def test_png_decodes_to_exactly_the_array(height: int, width: int, channels: int) -> None:
    rng = np.random.default_rng(height * 1000 + width + channels)
    # noise and flat areas: both compress differently, and every value 0..255 occurs
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    pixels[: height // 2, : width // 2] = 7
    data = imaging.encode_png(pixels)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    np.testing.assert_array_equal(decoded(data), pixels)


def test_png_of_a_non_contiguous_array() -> None:
    """Generator output is transposed (a view): encoded as the pixels it shows."""
    chw = np.random.default_rng(1).integers(0, 256, (3, 20, 30), dtype=np.uint8)
    hwc = chw.transpose(1, 2, 0)
    assert not hwc.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(decoded(imaging.encode_png(hwc)), hwc)


def spy_encoders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    used: list[str] = []
    fast, zlib_writer, to_pil_real = imaging._fpng, imaging._png_with_zlib, imaging.to_pil
    assert fast is not None, "fpng is a dependency of the service"

    class Fpng:
        @staticmethod
        def from_ndarray(a: np.ndarray) -> bytes:
            used.append("fpng")
            return bytes(fast.from_ndarray(a))

    def zlib_spy(a: np.ndarray) -> bytes:
        used.append("zlib")
        return zlib_writer(a)

    def pil_spy(a: np.ndarray) -> Image.Image:
        used.append("pillow")
        return to_pil_real(a)

    large = imaging._large_png

    def large_spy(a: np.ndarray, check: object) -> bytes:
        used.append("blocks")
        return large(a, check)  # type: ignore[arg-type]

    monkeypatch.setattr(imaging, "_fpng", Fpng)
    monkeypatch.setattr(imaging, "_png_with_zlib", zlib_spy)
    monkeypatch.setattr(imaging, "_large_png", large_spy)
    monkeypatch.setattr(imaging, "to_pil", pil_spy)
    return used


@pytest.mark.parametrize(
    ("shape", "encoder"),
    [
        ((64, 64, 3), "fpng"),
        ((512, 512, 3), "fpng"),  # FAST_PNG_MAX_PIXELS exactly
        ((512, 513, 3), "blocks"),  # one column more: fpng would hold the GIL too long
        ((513, 512, 4), "blocks"),
        ((28, 28, 1), "zlib"),  # fpng has no grayscale mode
        ((512, 512, 1), "zlib"),
        ((512, 513, 1), "blocks"),
    ],
)
def test_png_encoder_choice_by_channels_and_size(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int, int], encoder: str
) -> None:
    used = spy_encoders(monkeypatch)
    imaging.encode_png(np.zeros(shape, np.uint8))
    assert used == [encoder]


def test_without_fpng_pillow_encodes_rgb_and_the_etag_tag_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    monkeypatch.setattr(imaging, "_fpng", None)
    np.testing.assert_array_equal(decoded(imaging.encode_png(pixels)), pixels)
    # the tag that joins every seeded ETag names the encoder this process would use
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "fpng", None)  # import fpng now fails
    reloaded = importlib.reload(imaging)
    try:
        assert reloaded.PNG_ENCODER == "pillow" and "pillow" in reloaded.ENCODER_TAG
    finally:
        monkeypatch.delitem(sys.modules, "fpng")
        importlib.reload(imaging)
    assert imaging.PNG_ENCODER == "fpng" and "fpng" in imaging.ENCODER_TAG


@pytest.mark.parametrize("channels", [1, 3])
def test_gif_keeps_every_frame_and_grayscale_exactly(channels: int) -> None:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (4, 16, 12, channels), dtype=np.uint8)
    data = imaging.encode_animation(frames, "gif", 40)
    gif = Image.open(io.BytesIO(data))
    assert gif.n_frames == 4 + 2  # there and back: 0 1 2 3 2 1
    assert gif.info["duration"] == 40 and gif.info["loop"] == 0
    for index, expected in enumerate([0, 1, 2, 3, 2, 1]):
        gif.seek(index)
        got = np.asarray(gif.convert("RGB"))
        want = np.repeat(frames[expected], 3, axis=2) if channels == 1 else frames[expected]
        if channels == 1:  # 256 gray levels fit GIF's palette: lossless
            np.testing.assert_array_equal(got, want)
        else:  # 256 colours for 192 pixels of noise: each frame's own palette holds them all
            assert np.abs(got.astype(int) - want).mean() < 8


def test_a_large_png_stops_between_blocks_of_rows() -> None:
    """``check`` runs before each block of rows: a render whose request is gone stops there."""
    pixels = np.random.default_rng(4).integers(0, 256, (1000, 600, 3), dtype=np.uint8)
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        imaging.encode_png(pixels, check)
    assert calls == 3  # the third block never started
    whole = imaging.encode_png(pixels, lambda: None)
    np.testing.assert_array_equal(decoded(whole), pixels)
    assert whole == imaging.encode_png(pixels.copy())  # the same bytes with or without check
