import io

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
    ],
)
def test_bad_parameters_are_422(client: TestClient, query: str) -> None:
    r = client.get(f"/interpolate?model=tiny&{query}")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameter"


def test_unknown_model_is_404(client: TestClient) -> None:
    assert client.get("/interpolate?model=nope&seed_a=1&seed_b=2").status_code == 404
