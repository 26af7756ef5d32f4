"""training.loop.report: the training GIF and its compact preview."""

from pathlib import Path

import numpy as np
from PIL import Image

from contract.imaging import make_grid
from training.loop.report import preview_crop, write_training_gif


def epoch_grids(tmp_path: Path, image_size: int, epochs: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for epoch in range(epochs):
        faces = rng.integers(0, 256, (64, image_size, image_size, 3), dtype=np.uint8)
        path = tmp_path / f"epoch_{epoch + 1:04d}.png"
        Image.fromarray(make_grid(faces, nrow=8)).save(path)
        paths.append(path)
    return paths


def test_preview_keeps_whole_top_left_cells_at_full_resolution(tmp_path: Path) -> None:
    frames = epoch_grids(tmp_path, 64, 3)
    box = preview_crop(64)
    assert box == (0, 0, 2 + 4 * 66, 2 + 4 * 66)  # 4×4 faces of 64 px, 2 px padding
    write_training_gif(frames, tmp_path / "preview.gif", crop=box)
    write_training_gif(frames, tmp_path / "full.gif")
    with Image.open(tmp_path / "preview.gif") as gif:
        assert gif.size == (266, 266) and gif.n_frames == 3
        first = np.asarray(gif.convert("RGB"), dtype=np.int16)
    source = np.asarray(Image.open(frames[0]).convert("RGB").crop(box), dtype=np.int16)
    assert np.abs(first - source).mean() < 40  # the same pixels, up to GIF quantisation
    assert (tmp_path / "preview.gif").stat().st_size < (tmp_path / "full.gif").stat().st_size / 2


def test_small_images_keep_the_whole_grid() -> None:
    assert preview_crop(28) == (0, 0, 2 + 8 * 30, 2 + 8 * 30)
    assert preview_crop(128)[2] == 2 + 2 * 130
