import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image


def test_png_strip_goes_from_seed_a_to_seed_b(client: TestClient) -> None:
    r = client.get("/interpolate?model=tiny&seed_a=1&seed_b=2&steps=5")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    strip = Image.open(io.BytesIO(r.content))
    assert strip.size == (2 + 5 * 18, 2 + 18)
    first = client.post("/generate?model=tiny", json={"seed": 1})
    tile = strip.crop((2, 2, 18, 18))
    assert list(tile.getdata()) == list(Image.open(io.BytesIO(first.content)).getdata())


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animations_loop(client: TestClient, fmt: str) -> None:
    r = client.get(f"/interpolate?model=tiny&seed_a=1&seed_b=2&steps=4&format={fmt}&frame_ms=50")
    assert r.headers["content-type"] == f"image/{fmt}"
    anim = Image.open(io.BytesIO(r.content))
    assert anim.is_animated and anim.n_frames == 6  # 4 frames there and 2 back
    assert anim.info.get("loop") == 0


def test_json_frames_and_lerp_differs_from_slerp(client: TestClient) -> None:
    base = "/interpolate?model=tiny&seed_a=3&seed_b=4&steps=4&format=json"
    slerp = client.get(base).json()["frames"]
    lerp = client.get(base + "&method=lerp").json()["frames"]
    assert len(slerp) == 4 and slerp[0] == lerp[0] and slerp[1] != lerp[1]


def test_same_request_same_bytes_and_304(client: TestClient) -> None:
    url = "/interpolate?model=tiny&seed_a=1&seed_b=9&steps=3&format=gif"
    a, b = client.get(url), client.get(url)
    assert a.content == b.content
    assert client.get(url, headers={"If-None-Match": a.headers["etag"]}).status_code == 304


def test_truncation_truncates_both_ends_and_changes_the_etag(client: TestClient) -> None:
    base = "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=4&format=json&method=lerp"
    plain = client.get(base)
    truncated = client.get(base + "&truncation=0.5")
    assert truncated.status_code == 200
    assert truncated.headers["etag"] != plain.headers["etag"]
    frames, plain_frames = truncated.json()["frames"], plain.json()["frames"]
    assert frames != plain_frames
    again = client.get(base + "&truncation=0.5")
    assert again.content == truncated.content and again.headers["etag"] == truncated.headers["etag"]
    # the ends are /generate's truncated images of seed_a and seed_b
    ends = client.post(
        "/generate?model=tiny", json={"seeds": [1, 2], "truncation": 0.5, "format": "json"}
    ).json()["images"]
    assert [frames[0], frames[-1]] == [ends[0]["png"], ends[1]["png"]]
    stale = client.get(base + "&truncation=0.5", headers={"If-None-Match": plain.headers["etag"]})
    assert stale.status_code == 200 and stale.content == truncated.content


@pytest.mark.parametrize(("fmt", "factor"), [("gif", 2), ("webp", 3), ("png", 4)])
def test_upscaled_animations_have_enlarged_frames(
    client: TestClient, fmt: str, factor: int
) -> None:
    base = f"/interpolate?model=tiny&seed_a=1&seed_b=2&steps=3&format={fmt}"
    r = client.get(f"{base}&upscale={factor}")
    assert r.status_code == 200 and r.headers["content-type"] == f"image/{fmt}"
    picture = Image.open(io.BytesIO(r.content))
    side = 16 * factor
    # a strip keeps its 2 px padding; an animation is one frame a picture
    assert picture.size == ((2 + 3 * (side + 2), 2 + side + 2) if fmt == "png" else (side, side))
    assert r.headers["etag"] != client.get(base).headers["etag"]


@pytest.mark.parametrize("method", ["nearest", "lanczos"])
def test_upscaled_frames_are_the_upscaled_images_of_the_ends(
    client: TestClient, method: str
) -> None:
    url = (
        "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=3&format=json"
        f"&upscale=3&upscale_filter={method}"
    )
    frames = client.get(url).json()["frames"]
    ends = client.post(
        "/generate?model=tiny",
        json={"seeds": [1, 2], "format": "json", "upscale": 3, "upscale_filter": method},
    ).json()["images"]
    assert [frames[0], frames[-1]] == [ends[0]["png"], ends[1]["png"]]


def test_the_upscale_filter_is_part_of_the_etag(client: TestClient) -> None:
    base = "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=3&format=gif&upscale=2"
    nearest, lanczos = client.get(base), client.get(base + "&upscale_filter=lanczos")
    assert nearest.content != lanczos.content
    assert nearest.headers["etag"] != lanczos.headers["etag"]
    stale = client.get(
        base + "&upscale_filter=lanczos", headers={"If-None-Match": nearest.headers["etag"]}
    )
    assert stale.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "seed_a=1&seed_b=2&steps=1",
        "seed_a=1&seed_b=2&steps=65",
        "seed_a=1",
        "seed_a=-1&seed_b=2",
        "seed_a=1&seed_b=2&method=cubic",
        "seed_a=1&seed_b=2&format=bmp",
        "seed_a=1&seed_b=2&frame_ms=1",
        "seed_a=1&seed_b=2&upscale=0",
        "seed_a=1&seed_b=2&upscale=9",
        "seed_a=1&seed_b=2&upscale=2&upscale_filter=bicubic",
        "seed_a=1&seed_b=2&truncation=-0.01",
        "seed_a=1&seed_b=2&truncation=1.01",
        "seed_a=1&seed_b=2&truncation=4.5",
        "seed_a=1&seed_b=2&truncation=nan",
        "seed_a=1&seed_b=2&truncation=inf",
        "seed_a=1&seed_b=2&truncation=half",
    ],
)
def test_bad_parameters_are_422(client: TestClient, query: str) -> None:
    r = client.get(f"/interpolate?model=tiny&{query}")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameter"
    if "truncation" in query:
        assert "truncation" in r.json()["error"]["message"]


def test_unknown_model_is_404(client: TestClient) -> None:
    assert client.get("/interpolate?model=nope&seed_a=1&seed_b=2").status_code == 404


def test_the_pixel_budget_counts_the_upscaled_frames(models_dir: Path) -> None:
    """steps × (side × upscale)²: exactly the budget is served, one frame more is 422, and the
    same walk without upscale fits easily (16 px frames; budget 10 frames of 64 px)."""
    from service.core.settings import Settings
    from service.http.app import create_app

    budget = 10 * 64 * 64
    app = create_app(
        Settings(models_dir=models_dir, default_model="tiny", max_output_pixels=budget)
    )
    base = "/interpolate?model=tiny&seed_a=1&seed_b=2&format=gif"
    with TestClient(app) as client:
        assert client.get(f"{base}&steps=10&upscale=4").status_code == 200
        over = client.get(f"{base}&steps=11&upscale=4")
        assert client.get(f"{base}&steps=11").status_code == 200
    assert over.status_code == 422, over.text
    error = over.json()["error"]
    assert error["code"] == "output_too_large"
    assert "DCGAN_MAX_OUTPUT_PIXELS" in error["message"] and "11 × 64×64" in error["message"]
