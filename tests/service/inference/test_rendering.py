import io

import numpy as np
import pytest
from PIL import Image

from contract.imaging import make_grid
from service.inference.rendering import (
    MAX_SIDE,
    ImageOptions,
    grid_side,
    is_heavy,
    output_problem,
    render_images,
)


def test_grid_side_matches_the_grid_that_is_drawn() -> None:
    for count in (1, 2, 5, 16, 17):
        grid = make_grid(np.zeros((count, 8, 8, 3), np.uint8))
        assert grid_side(count, 8) == (grid.shape[1], grid.shape[0])


def test_the_pixel_budget_counts_images_times_upscaled_area() -> None:
    options = ImageOptions("png", grid=True, upscale=8)
    assert output_problem(64, 64, options, 64 * 512 * 512) is None
    problem = output_problem(65, 64, options, 64 * 512 * 512)
    assert problem and "DCGAN_MAX_OUTPUT_PIXELS" in problem


@pytest.mark.parametrize(("fmt", "fits"), [("webp", False), ("jpeg", True), ("png", True)])
def test_encoder_side_limits_are_checked_before_encoding(fmt: str, fits: bool) -> None:
    # 100 tiles of 256 px: a 2,582 px wide grid fits WebP; 4,096 tiles of 256 px do not
    big = ImageOptions(fmt, grid=True, upscale=4)  # type: ignore[arg-type]
    problem = output_problem(4096, 64, big, 2**30)
    assert (problem is None) == fits, problem
    if not fits:
        assert f"{MAX_SIDE['webp']} px" in problem  # type: ignore[operator]
    assert output_problem(100, 64, big, 2**30) is None


def test_webp_really_refuses_what_the_check_refuses() -> None:
    """The limit is WebP's own: Pillow cannot encode a side over 16,383 px."""
    too_wide = Image.new("RGB", (MAX_SIDE["webp"] + 1, 1))
    with pytest.raises((OSError, ValueError), match=r"WebP|16383"):
        too_wide.save(io.BytesIO(), format="WEBP")
    Image.new("RGB", (MAX_SIDE["webp"], 1)).save(io.BytesIO(), format="WEBP")


def test_heavy_requests_are_marked_heavy() -> None:
    assert not is_heavy(1, 64, ImageOptions())
    assert is_heavy(64, 64, ImageOptions("json"))
    assert is_heavy(1, 16, ImageOptions(upscale=2, upscale_filter="lanczos"))


def test_json_bodies_hold_one_png_per_seed() -> None:
    import base64
    import json

    pixels = np.zeros((2, 4, 4, 3), np.uint8)
    body = json.loads(render_images(pixels, ImageOptions("json"), [5, 6], "m", 1))
    assert [i["seed"] for i in body["images"]] == [5, 6]
    png = Image.open(io.BytesIO(base64.b64decode(body["images"][0]["png"])))
    assert png.size == (4, 4)


@pytest.mark.parametrize("fmt", ["json", "png"])
def test_a_job_whose_request_is_gone_stops_rendering_at_the_next_step(fmt: str) -> None:
    """A job's render asks its ``stop`` between steps: once set, the next step raises
    Abandoned instead of upscaling and encoding the rest (no timing involved)."""
    import functools

    from service.inference.batching import Job
    from service.inference.rendering import Abandoned

    steps: list[int] = []
    leave_at = 2  # the client leaves while the second image is upscaled

    def finish(images: np.ndarray, check: object) -> bytes:
        def counting_check() -> None:
            steps.append(len(steps))
            if len(steps) == leave_at:
                job.stop.set()
            check()  # type: ignore[operator]

        options = ImageOptions(fmt, grid=fmt == "png", upscale=2)  # type: ignore[arg-type]
        return render_images(images, options, [1] * len(images), "m", 1, counting_check)

    job = Job(latents=functools.partial(np.zeros, (8, 4)), size=8, finish=finish)
    pixels = np.zeros((8, 4, 4, 3), np.uint8)
    with pytest.raises(Abandoned):
        job.render(pixels)
    assert len(steps) == 2, f"{len(steps) - 2} steps ran after the stop"
    # the same job, not stopped, renders to the end
    steps.clear()
    job.stop.clear()
    leave_at = 0  # never
    assert job.render(pixels)
    assert len(steps) > 8  # every image upscaled, then encoded
