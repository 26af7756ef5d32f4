import io

import numpy as np
from PIL import Image

from service.imaging import encode, make_grid, to_pil, to_uint8


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
    rgb = to_pil(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    gray = to_pil(np.zeros((8, 8, 1), np.uint8))
    assert gray.mode == "L" and rgb.mode == "RGB"
    for fmt in ("png", "jpeg", "webp"):
        data = encode(rgb, fmt)  # type: ignore[arg-type]
        assert data == encode(rgb, fmt)  # type: ignore[arg-type]
        assert Image.open(io.BytesIO(data)).size == (8, 8)
