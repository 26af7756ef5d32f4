import io
import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.core.settings import Settings
from service.http.app import create_app
from testkit.servers import running_server
from training.generators.model_card import record_quality


def png(response) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"] == ["gray", "tiny"]


def test_seeded_generate_is_deterministic_with_etag_and_304(client: TestClient) -> None:
    first = client.post("/generate?model=tiny", json={"seed": 5})
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert png(first).shape == (16, 16, 3)
    assert first.headers["x-model-version"] == "2" and first.headers["x-seeds"] == "5"
    again = client.post("/generate?model=tiny", json={"seed": 5})
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    cached = client.post(
        "/generate?model=tiny", json={"seed": 5}, headers={"If-None-Match": first.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""
    other = client.post("/generate?model=tiny&version=1", json={"seed": 5})
    assert other.headers["x-model-version"] == "1" and other.content != first.content


def test_unseeded_requests_report_their_seeds(client: TestClient) -> None:
    r = client.post("/generate")  # default model, no body
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    seed = int(r.headers["x-seeds"])
    assert client.post("/generate", json={"seed": seed}).content == r.content


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_image_formats(client: TestClient, fmt: str) -> None:
    r = client.post("/generate", json={"seed": 1, "format": fmt})
    assert r.headers["content-type"] == f"image/{fmt}"
    assert Image.open(io.BytesIO(r.content)).format == fmt.upper()


def test_grid_and_json(client: TestClient) -> None:
    grid = client.post("/generate", json={"seeds": [1, 2, 3, 4], "grid": True})
    assert png(grid).shape == (38, 38, 3)
    body = client.post("/generate", json={"seed": 10, "count": 3, "format": "json"}).json()
    assert [i["seed"] for i in body["images"]] == [10, 11, 12]
    single = client.post("/generate", json={"seed": 11})
    import base64

    assert base64.b64decode(body["images"][1]["png"]) == single.content


def test_gray_model(client: TestClient) -> None:
    assert png(client.post("/generate?model=gray", json={"seed": 1})).shape == (16, 16)


def test_unknown_model_is_404_naming_the_available_ones(client: TestClient) -> None:
    r = client.post("/generate?model=simpsons")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    assert r.json()["error"]["details"]["available"] == ["gray", "tiny"]
    hint = r.json()["error"]["details"]["hint"]
    # the preset is named: without --preset, training would silently build dcgan64
    assert "dcgan train --preset PRESET --data IMAGE_FOLDER --run-dir runs/simpsons" in hint
    assert "dcgan export runs/simpsons" in hint
    bad = client.post("/generate?model=../models")
    assert bad.status_code == 404
    assert "hint" not in bad.json()["error"]["details"]  # never echo a path into a command


@pytest.mark.parametrize("name", ["corrupt", "tampered", "nomanifest"])
def test_broken_models_are_unavailable_with_a_reason(client: TestClient, name: str) -> None:
    r = client.post(f"/generate?model={name}")
    assert r.status_code == 503 and "retry-after" in r.headers
    info = client.get(f"/models/{name}").json()
    assert info["versions"][0]["status"] == "unavailable" and info["versions"][0]["reason"]


def test_models_listing(client: TestClient) -> None:
    models = client.get("/models").json()["models"]
    assert "Bad Name" not in models
    tiny = models["tiny"]
    assert tiny["default_version"] == 2
    v2 = tiny["versions"][1]
    assert v2["provider"] == "CPUExecutionProvider"
    assert v2["output"]["shape"] == ["N", 3, 16, 16]
    assert "sha256 of generator.onnx does not match" in models["tampered"]["versions"][0]["reason"]
    assert client.get("/models/nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "query", "parameter"),
    [
        ({"count": 0}, "", "count"),
        ({"count": 65, "grid": True}, "", "count"),
        ({"seed": -1}, "", "seed"),
        ({"seed": 2**64}, "", "seed"),
        ({"seed": "x"}, "", "seed"),
        ({"format": "bmp"}, "", "format"),
        ({"count": 2}, "", "grid"),
        ({"seed": 1, "seeds": [2]}, "", "both"),
        ({}, "&version=0", "version"),
        ({"seeds": []}, "", "seeds"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    client: TestClient, body: dict[str, object], query: str, parameter: str
) -> None:
    r = client.post(f"/generate?model=tiny{query}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_parameter"
    assert parameter in r.text


def test_malformed_json_body_is_422(client: TestClient) -> None:
    r = client.post("/generate", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameter"


def test_metrics_count_requests_and_images(client: TestClient) -> None:
    client.post("/generate?model=tiny", json={"seeds": [1, 2], "grid": True})
    client.post("/generate?model=nope")
    text = client.get("/metrics").text
    assert 'dcgan_http_requests_total{endpoint="/generate",model="tiny",status="200"}' in text
    assert 'dcgan_http_requests_total{endpoint="/generate",model="",status="404"}' in text
    assert 'dcgan_images_generated_total{model="tiny"} 2.0' in text
    assert 'dcgan_model_info{model="tiny",provider="CPUExecutionProvider",version="2"} 1.0' in text
    assert "dcgan_http_request_duration_seconds_bucket" in text


@pytest.mark.parametrize(
    ("given", "echoed"),
    [
        (b"abc-123", True),
        (b"a" * 64, True),  # the longest kept
        (b"a" * 65, False),
        (b"bad id!", False),
        (b"", False),
    ],
)
def test_request_id_is_echoed_or_made(client: TestClient, given: bytes, echoed: bool) -> None:
    answered = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]
    if echoed:
        assert answered == given.decode()
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", answered), answered


def test_a_non_ascii_request_id_is_replaced_on_the_wire(models_dir: Path) -> None:
    """ "café" in Latin-1 is letters, but not ASCII: the access log and the echoed header stay
    ASCII (a real server: the in-process client re-encodes header bytes)."""
    import socket

    with running_server(models_dir) as srv:
        port = srv.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: caf\xe9\r\n\r\n")
            head = sock.recv(65536).partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    echoed = re.search(r"^x-request-id: (.*)$", head, re.M)
    assert echoed and re.fullmatch(r"[0-9a-f]{32}", echoed[1].strip()), head


def test_unmatched_urls_share_one_metric_label(client: TestClient) -> None:
    """Label values must stay bounded: a scanner's random URLs all count as "unmatched"."""
    for path in ("/wp-login.php", "/no/such/path/123"):
        assert client.get(path).status_code == 404
    text = client.get("/metrics").text
    assert 'endpoint="unmatched",model="",status="404"} 2.0' in text
    assert "wp-login" not in text and "/no/such" not in text


def test_empty_models_dir_is_not_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from service.core.settings import Settings
    from service.http.app import create_app

    with TestClient(create_app(Settings(models_dir=tmp_path))) as c:
        assert c.get("/readyz").status_code == 503
        assert c.post("/generate?model=x").status_code == 404
        assert c.get("/healthz").status_code == 200  # alive, only not ready


@pytest.mark.parametrize("method", ["nearest", "lanczos"])
def test_upscaling(client: TestClient, method: str) -> None:
    small = png(client.post("/generate?model=tiny", json={"seed": 4}))
    r = client.post(
        "/generate?model=tiny", json={"seed": 4, "upscale": 4, "upscale_filter": method}
    )
    big = png(r)
    assert big.shape == (64, 64, 3)
    if method == "nearest":
        assert np.array_equal(big[::4, ::4], small)
    plain = client.post("/generate?model=tiny", json={"seed": 4})
    assert r.headers["etag"] != plain.headers["etag"]
    assert client.post("/generate?model=tiny", json={"upscale": 9}).status_code == 422


def test_truncation_changes_the_bytes_and_the_etag_and_is_deterministic(
    client: TestClient,
) -> None:
    # the untruncated response comes first, so it sits in the response cache
    plain = client.post("/generate?model=tiny", json={"seed": 5})
    truncated = client.post("/generate?model=tiny", json={"seed": 5, "truncation": 0.5})
    assert truncated.status_code == 200 and truncated.headers["x-seeds"] == "5"
    assert truncated.content != plain.content
    assert truncated.headers["etag"] != plain.headers["etag"]
    again = client.post("/generate?model=tiny", json={"seed": 5, "truncation": 0.5})
    assert again.content == truncated.content and again.headers["etag"] == truncated.headers["etag"]
    # an untruncated ETag never answers a truncated request with a 304, nor the other way round
    stale = client.post(
        "/generate?model=tiny",
        json={"seed": 5, "truncation": 0.5},
        headers={"If-None-Match": plain.headers["etag"]},
    )
    assert stale.status_code == 200 and stale.content == truncated.content
    fresh = client.post(
        "/generate?model=tiny",
        json={"seed": 5, "truncation": 0.5},
        headers={"If-None-Match": truncated.headers["etag"]},
    )
    assert fresh.status_code == 304
    other = client.post("/generate?model=tiny", json={"seed": 5, "truncation": 0.8})
    assert other.headers["etag"] not in (plain.headers["etag"], truncated.headers["etag"])
    # 1 and 1.0 are the same ψ: one ETag
    one = client.post("/generate?model=tiny", json={"seed": 5, "truncation": 1})
    assert (
        one.headers["etag"]
        == client.post("/generate?model=tiny", json={"seed": 5, "truncation": 1.0}).headers["etag"]
    )


def test_truncation_of_a_version_without_a_center_is_a_422_naming_the_fix(
    models_dir: Path,
) -> None:
    """A version exported before truncation centers existed: ψ is refused with the command
    that adds a center; everything else it serves as before."""
    manifest = models_dir / "tiny" / "2" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["truncation"]
    manifest.write_text(json.dumps(data))
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        for r in (
            client.post("/generate?model=tiny", json={"seed": 1, "truncation": 0.7}),
            client.get("/models/tiny/images/1.png?truncation=0.7"),
            client.get("/interpolate?model=tiny&seed_a=1&seed_b=2&truncation=0.7"),
        ):
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == "invalid_parameter"
            assert error["details"]["parameter"] == "truncation"
            assert "dcgan truncation-center models/tiny/2" in error["message"]
        assert client.post("/generate?model=tiny", json={"seed": 1}).status_code == 200
        pinned = client.post("/generate?model=tiny&version=1", json={"seed": 1, "truncation": 0.7})
        assert pinned.status_code == 200


def test_the_etag_of_a_truncated_image_names_the_center(models_dir: Path) -> None:
    """Same seed, ψ and version, another center (`dcgan truncation-center` run again after a
    change): other bytes, so another ETag."""
    manifest = models_dir / "tiny" / "2" / "manifest.json"
    body = {"seed": 3, "truncation": 0.3}
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        first = client.post("/generate?model=tiny", json=body)
    data = json.loads(manifest.read_text())
    data["truncation"]["center"] = [-v for v in data["truncation"]["center"]]
    manifest.write_text(json.dumps(data))
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        second = client.post("/generate?model=tiny", json=body)
        plain = client.post("/generate?model=tiny", json={"seed": 3})
    assert first.status_code == second.status_code == 200
    assert first.content != second.content
    assert first.headers["etag"] != second.headers["etag"]
    assert plain.headers["etag"] not in (first.headers["etag"], second.headers["etag"])


def test_null_truncation_is_off_with_todays_bytes_and_etag(client: TestClient) -> None:
    plain = client.post("/generate?model=tiny", json={"seed": 9, "count": 2, "format": "json"})
    off = client.post(
        "/generate?model=tiny", json={"seed": 9, "count": 2, "format": "json", "truncation": None}
    )
    assert off.content == plain.content and off.headers["etag"] == plain.headers["etag"]


def test_truncated_images_are_the_model_run_on_the_documented_truncated_latents(
    client: TestClient,
) -> None:
    from contract.latents import latents_for_seeds
    from service.inference.rendering import ImageOptions, render_images

    r = client.post(
        "/generate?model=tiny", json={"seeds": [3, 4], "truncation": 0.3, "format": "json"}
    )
    entry = client.app.state.manager.resolve("tiny", None)  # type: ignore[attr-defined]
    m = entry.manifest
    images = entry.run(latents_for_seeds([3, 4], m.nz, 0.3, m.truncation.center))
    expected = render_images(
        entry.pixels(images), ImageOptions("json"), [3, 4], "tiny", entry.version
    )
    assert r.content == expected


def test_unseeded_truncated_requests_report_reproducible_seeds(
    client: TestClient,
) -> None:
    r = client.post("/generate?model=tiny", json={"truncation": 0.8})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    seed = int(r.headers["x-seeds"])
    assert client.post("/generate?model=tiny", json={"seed": seed, "truncation": 0.8}).content == (
        r.content
    )


@pytest.mark.parametrize("value", [-0.001, -1, 1.001, 4, 100, "0.5", True, [0.5]])
def test_truncation_out_of_range_is_422_naming_it(client: TestClient, value: object) -> None:
    r = client.post("/generate?model=tiny", json={"seed": 1, "truncation": value})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter" and "truncation" in error["message"]
    assert [e["parameter"] for e in error["details"]["errors"]] == ["truncation"]


def test_openapi_documents_parameters_and_image_media_types(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    generate = spec["paths"]["/generate"]["post"]
    assert {"image/png", "image/jpeg", "image/webp"} <= set(generate["responses"]["200"]["content"])
    interp = spec["paths"]["/interpolate"]["get"]
    assert {p["name"] for p in interp["parameters"]} >= {
        "seed_a",
        "seed_b",
        "steps",
        "method",
        "format",
    }
    assert "image/gif" in interp["responses"]["200"]["content"]
    body = spec["components"]["schemas"]["GenerateRequest"]["properties"]["truncation"]
    (query,) = [p for p in interp["parameters"] if p["name"] == "truncation"]
    for schema in (body, query["schema"]):
        assert {"type": "number", "minimum": 0.0, "maximum": 1.0} in schema["anyOf"]
        assert "truncation center" in schema["description"]
    assert not query["required"]
    assert "PCG64" in spec["info"]["description"]


def test_models_route_returns_the_recorded_quality(models_dir: Path) -> None:
    quality = {
        "features": "features/digits",
        "samples": 500,
        "metrics": {"fd": {"value": 3.2, "floor": 0.4, "better": "lower"}},
        "command": "dcgan evaluate models/tiny/2 --data digits",
        "table": "printed only",
    }
    record_quality(models_dir / "tiny" / "2", quality)
    with running_server(models_dir) as srv:
        versions = httpx.get(f"{srv.url}/models/tiny", timeout=10).json()["versions"]
    recorded = {v["version"]: v["manifest"].get("quality") for v in versions}
    assert recorded[1] is None  # never evaluated
    assert recorded[2] == {k: v for k, v in quality.items() if k != "table"}


def test_if_none_match_takes_star_lists_and_weak_tags(client: TestClient) -> None:
    etag = client.post("/generate?model=tiny", json={"seed": 5}).headers["etag"]

    def status(value: str, body: dict[str, object] | None = None) -> int:
        headers = {"If-None-Match": value}
        return client.post(
            "/generate?model=tiny", json={"seed": 5} if body is None else body, headers=headers
        ).status_code

    assert status("*") == 304  # RFC 9110: any current representation matches
    assert status(f'"other", {etag}') == 304
    assert status(f"W/{etag}") == 304  # If-None-Match compares weakly
    assert status('"other"') == 200
    assert status(etag[:-2] + '"') == 200  # a prefix of the tag is another tag
    assert status("*", {}) == 200  # unseeded: no ETag, nothing to match
