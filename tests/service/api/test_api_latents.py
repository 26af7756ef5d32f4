"""Explicit latents in the image API: `latents` in POST /generate, `z_a`/`z_b` in
GET /interpolate. A seed's latent, computed here from the documented formula (NumPy's PCG64),
must give the seed's bytes."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

NZ = 8  # the tiny test model's


def seed_latent(seed: int) -> list[float]:
    """The documented contract, independently of contract.latents."""
    z = np.random.Generator(np.random.PCG64(seed)).standard_normal(NZ, dtype=np.float32)
    return [float(v) for v in z]


@pytest.mark.parametrize("truncation", [None, 0.6])
def test_a_seeds_latent_gives_the_seeds_bytes(client: TestClient, truncation: float | None) -> None:
    extra = {} if truncation is None else {"truncation": truncation}
    seeded = client.post("/generate?model=tiny", json={"seed": 5, **extra})
    sent = client.post("/generate?model=tiny", json={"latents": [seed_latent(5)], **extra})
    assert sent.status_code == 200 and sent.headers["content-type"] == "image/png"
    assert sent.content == seeded.content
    assert "x-seeds" not in sent.headers  # there are none
    many = client.post(
        "/generate?model=tiny",
        json={"latents": [seed_latent(s) for s in (3, 9, 4)], "format": "json", **extra},
    ).json()["images"]
    by_seed = client.post(
        "/generate?model=tiny", json={"seeds": [3, 9, 4], "format": "json", **extra}
    ).json()["images"]
    assert [i["png"] for i in many] == [i["png"] for i in by_seed]
    assert [i["seed"] for i in many] == [None, None, None]


def test_the_etag_names_the_float32_bytes(client: TestClient) -> None:
    z = seed_latent(5)
    first = client.post("/generate?model=tiny", json={"latents": [z]})
    again = client.post(
        "/generate?model=tiny",
        json={"latents": [z]},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert first.headers["cache-control"] == "no-cache"  # the default version: revalidate
    # the same float32 written another way: the same bytes, the same tag
    near = [v + abs(v) * 1e-12 for v in z]
    assert np.array_equal(np.float32(near), np.float32(z))
    same = client.post("/generate?model=tiny", json={"latents": [near]})
    assert same.headers["etag"] == first.headers["etag"]
    # one float32 step in one number: another tag
    nudged = list(z)
    nudged[3] = float(np.nextafter(np.float32(z[3]), np.float32(np.inf)))
    other = client.post("/generate?model=tiny", json={"latents": [nudged]})
    assert other.status_code == 200 and other.headers["etag"] != first.headers["etag"]
    # and not the tag of the seed that has this latent
    seeded = client.post("/generate?model=tiny", json={"seed": 5})
    assert seeded.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(
    ("latents", "said"),
    [
        ([[0.0] * (NZ - 1)], "8 numbers per latent"),
        ([[0.0] * NZ, [0.0] * (NZ + 1)], "latent 1 has 9"),
        ([], "latents"),
        ([["0.5"] * NZ], "latents"),
        ([[True] * NZ], "latents"),
        ([[1001.0] + [0.0] * (NZ - 1)], "latents"),
        ([[0.0] * NZ] * 65, "count must be in 1..64"),
    ],
)
def test_bad_latents_are_422_naming_them(client: TestClient, latents: list, said: str) -> None:
    r = client.post("/generate?model=tiny", json={"latents": latents, "format": "json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_parameter" and said in r.text


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_latents_are_422(client: TestClient, token: str) -> None:
    body = '{"latents": [[' + ", ".join([token] + ["0"] * (NZ - 1)) + "]]}"
    r = client.post(
        "/generate?model=tiny", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and "finite" in r.text


def test_1000_is_the_largest_number_allowed(client: TestClient) -> None:
    edge = client.post("/generate?model=tiny", json={"latents": [[1000.0, -1000.0] + [0.0] * 6]})
    assert edge.status_code == 200


def joined(z: list[float]) -> str:
    return ",".join(repr(v) for v in z)


@pytest.mark.parametrize("truncation", ["", "&truncation=0.5"])
def test_walk_ends_given_as_latents_walk_as_their_seeds(
    client: TestClient, truncation: str
) -> None:
    base = f"/interpolate?model=tiny&steps=4&format=json{truncation}"
    seeded = client.get(f"{base}&seed_a=3&seed_b=8")
    mixed = client.get(f"{base}&z_a={joined(seed_latent(3))}&seed_b=8")
    both = client.get(f"{base}&z_a={joined(seed_latent(3))}&z_b={joined(seed_latent(8))}")
    assert mixed.status_code == 200 and both.status_code == 200, (mixed.text, both.text)
    assert mixed.json()["frames"] == seeded.json()["frames"] == both.json()["frames"]
    tags = {r.headers["etag"] for r in (seeded, mixed, both)}
    assert len(tags) == 3  # each names what it was asked
    nudged = seed_latent(8)
    nudged[0] = float(np.nextafter(np.float32(nudged[0]), np.float32(-np.inf)))
    moved = client.get(f"{base}&z_a={joined(seed_latent(3))}&z_b={joined(nudged)}")
    assert moved.headers["etag"] != both.headers["etag"]


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("seed_b=2", "give seed_a or z_a"),
        (f"seed_a=1&z_a={','.join(['0'] * NZ)}&seed_b=2", "not both"),
        ("seed_a=1&z_b=0,1", "z_b must hold 8 numbers"),
        ("seed_a=1&z_b=" + ",".join(["x"] * NZ), "z_b"),
        ("seed_a=1&z_b=" + ",".join(["nan"] * NZ), "z_b"),
        ("seed_a=1&z_b=" + ",".join(["2000"] * NZ), "z_b"),
    ],
)
def test_bad_walk_ends_are_422_naming_them(client: TestClient, query: str, said: str) -> None:
    r = client.get(f"/interpolate?model=tiny&{query}")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_parameter" and said in r.text


def test_latents_in_json_output_round_trip_through_base64(client: TestClient) -> None:
    r = client.post(
        "/generate?model=tiny", json={"latents": [seed_latent(1)], "format": "json"}
    ).json()
    png = base64.b64decode(r["images"][0]["png"])
    assert png == client.post("/generate?model=tiny", json={"seed": 1}).content
    assert json.dumps(r["images"][0]["seed"]) == "null"


def test_64_latents_of_a_100_number_z_fit_the_default_body_limit() -> None:
    from service.core.settings import Settings

    z = np.random.default_rng(0).standard_normal((64, 100)).astype(np.float32)
    body = json.dumps({"latents": [[float(v) for v in row] for row in z]})
    assert len(body) <= Settings().max_body_bytes


def test_a_walk_between_opposite_latents_is_the_straight_line_through_zero(
    client: TestClient,
) -> None:
    """z to -z (a latent and its negation, as latent arithmetic makes) has no one great
    circle: the 5-step walk is z, z/2, 0, -z/2, -z (the spherical formula, dividing by
    sin(π), would give 0.71·z at the second step, or overflow)."""
    import base64
    import io

    from PIL import Image

    def pixels(png_b64: str) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(png_b64))), dtype=np.int16)

    z = seed_latent(5)
    walk = client.get(
        f"/interpolate?model=tiny&steps=5&format=json&z_a={joined(z)}&z_b={joined([-v for v in z])}"
    )
    assert walk.status_code == 200, walk.text
    frames = [pixels(f) for f in walk.json()["frames"]]
    for step, scale in ((1, 0.5), (2, 0.0), (3, -0.5)):
        body = {"latents": [[scale * v for v in z]], "format": "json"}
        expected = pixels(client.post("/generate?model=tiny", json=body).json()["images"][0]["png"])
        # float32 rounding of (1 - t)·z + t·(-z) against scale·z: at most one level apart
        assert np.abs(frames[step] - expected).max() <= 1, step
