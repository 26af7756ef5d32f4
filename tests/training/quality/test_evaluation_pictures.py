from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.quality.evaluation_pictures import (
    GAP,
    NEAREST_REAL,
    REAL_VS_GENERATED,
    TEXT_HEIGHT,
    TRUNCATION_PLOT,
    captioned,
    display_scale,
    nearest_real,
    nearest_real_sheet,
    real_vs_generated,
    write_pictures,
)

rng = np.random.default_rng(0)


def images(n: int, channels: int = 3, side: int = 16, high: int = 256) -> np.ndarray:
    return rng.integers(0, high, (n, channels, side, side), dtype=np.uint8)


def test_a_planted_copy_comes_first_with_its_twin() -> None:
    real, fake = images(40), images(30)
    fake[5] = real[17]
    found = nearest_real(real, fake, rows=6, k=3)
    assert found.fake_index[0] == 5 and found.real_index[0][0] == 17
    assert found.distance[0][0] == 0.0
    assert len(found.fake_index) == 6 and all(len(r) == 3 for r in found.real_index)
    assert all(row == sorted(row) for row in found.distance)
    # each row's neighbours are the real images nearest to its generated image
    i = found.fake_index[1]
    d = np.linalg.norm(real.reshape(40, -1) / 255.0 - fake[i].reshape(-1) / 255.0, axis=1)
    assert found.real_index[1] == list(np.argsort(d)[:3])


def test_a_dark_image_near_many_dark_ones_does_not_hide_a_noisy_copy() -> None:
    """By raw distance the dark image is nearest (dark real images are close to it); by the
    ratio to its median distance it is ordinary, and the noisy copy is the twin."""
    dark_real = images(30, high=6)
    bright_real = images(20)
    real = np.concatenate([dark_real, bright_real])
    copy = np.clip(real[35].astype(int) + rng.integers(-20, 21, real[35].shape), 0, 255)
    fake = np.stack([images(1, high=4)[0], copy.astype(np.uint8)])
    found = nearest_real(real, fake, rows=2, k=1)
    assert found.distance[0][0] > found.distance[1][0]  # the copy is not the nearest by L2
    assert found.fake_index == [1, 0] and found.real_index[0] == [35]


@pytest.mark.parametrize(("channels", "side"), [(1, 28), (3, 64)])
def test_real_and_generated_sit_side_by_side_at_one_scale(channels: int, side: int) -> None:
    real, fake = images(40, channels, side), images(40, channels, side)
    sheet = np.asarray(real_vs_generated(real, fake, "somewhere"))
    scale = display_scale(side)
    shown = side * scale
    assert scale == (3 if side == 28 else 1)
    panel = 2 + 8 * (shown + 2)  # eight columns with make_grid's padding
    assert sheet.shape[1] == 3 * GAP + 2 * panel
    top = GAP // 2 + TEXT_HEIGHT + 2
    for array, left in ((real, GAP + 2), (fake, 2 * GAP + panel + 2)):
        tile = sheet[top : top + shown, left : left + shown]
        expected = np.asarray(
            Image.fromarray(array[0].transpose(1, 2, 0).squeeze())
            .resize((shown, shown), Image.Resampling.NEAREST)
            .convert("RGB")
        )
        assert np.array_equal(tile, expected)


def test_the_nearest_sheet_shows_each_generated_image_beside_its_neighbours() -> None:
    real, fake = images(40), images(30)
    fake[3] = real[9]
    sheet, found = nearest_real_sheet(real, fake, "somewhere")
    pixels = np.asarray(sheet)
    top = GAP // 2 + TEXT_HEIGHT + 2
    shown = 16 * display_scale(16)
    # below the seed's tag, the first row's generated image and its first neighbour: the twin
    generated = pixels[top + 20 : top + shown, GAP + 2 : GAP + 2 + shown]
    twin_left = GAP + (2 + shown + 2) + GAP + 2
    twin = pixels[top + 20 : top + shown, twin_left : twin_left + shown]
    assert found.fake_index[0] == 3 and np.array_equal(generated, twin)
    enlarged = fake[3].transpose(1, 2, 0).repeat(4, axis=0).repeat(4, axis=1)
    assert np.array_equal(generated, enlarged[20:])


def test_the_plot_comes_only_with_a_truncation_curve(tmp_path: Path) -> None:
    real, fake = images(40), images(40)
    metrics = {"precision": 0.8, "recall": 0.3, "fd": 20.0}
    written = write_pictures(tmp_path / "a", real, fake, "d", metrics, [])
    assert [p.name for p in written] == [REAL_VS_GENERATED, NEAREST_REAL]
    curve = [{"psi": 0.5, "precision": 0.9, "recall": 0.1, "fd": 40.0}]
    written = write_pictures(tmp_path / "b", real, fake, "d", metrics, curve)
    assert [p.name for p in written] == [REAL_VS_GENERATED, NEAREST_REAL, TRUNCATION_PLOT]
    assert all(Image.open(p).format == "PNG" for p in written)


def test_a_caption_wider_than_its_panel_widens_its_slot() -> None:
    """Before: "generated (seed)" over a one-column panel ran into the next caption."""
    narrow = Image.new("RGB", (20, 20), (255, 0, 0))
    caption = "a caption much wider than twenty"
    sheet = np.asarray(captioned([(caption, narrow), ("b", narrow)]))
    red = np.argwhere((sheet == (255, 0, 0)).all(axis=2))
    second_panel_left = red[:, 1].max() - 19
    caption_width = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(caption)
    assert caption_width > 20 and second_panel_left >= GAP + caption_width + GAP
