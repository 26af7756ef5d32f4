"""GET /models/{name}/images/{seed}.{format} and GET /models/{name}/files/{file}, over HTTP
against a real server (the tiny test models), plus one with DCGAN_API_KEY set."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.core.settings import Settings
from service.http.app import create_app
from testkit.servers import running_server

KEY = "images-test-key"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def url(prepared_models: Path) -> Iterator[str]:
    with running_server(prepared_models, {"DCGAN_DEFAULT_MODEL": "tiny"}) as running:
        yield running.url


@pytest.fixture(scope="module")
def keyed_url(prepared_models: Path) -> Iterator[str]:
    with running_server(prepared_models, {"DCGAN_API_KEY": KEY}) as running:
        yield running.url


def get(url: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url + path, timeout=30, **kwargs)


def images_generated(url: str) -> float:
    text = get(url, "/metrics").text
    match = re.search(r'^dcgan_images_generated_total\{model="tiny"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/models/tiny/images/5.png", {"seed": 5}),
        ("/models/tiny/images/5.webp", {"seed": 5, "format": "webp"}),
        ("/models/tiny/images/5.jpeg", {"seed": 5, "format": "jpeg"}),
        ("/models/tiny/images/0.png?version=1", {"seed": 0}),
        ("/models/tiny/images/7.png?truncation=0.5", {"seed": 7, "truncation": 0.5}),
        (
            "/models/tiny/images/7.png?upscale=3&upscale_filter=lanczos",
            {"seed": 7, "upscale": 3, "upscale_filter": "lanczos"},
        ),
        ("/models/gray/images/18446744073709551615.png", {"seed": 2**64 - 1}),
    ],
)
def test_same_bytes_and_etag_as_post_generate_with_that_seed(
    url: str, path: str, body: dict[str, Any]
) -> None:
    model = path.split("/")[2]
    query = "&version=1" if "version=1" in path else ""
    posted = httpx.post(f"{url}/generate?model={model}{query}", json=body, timeout=30)
    got = get(url, path)
    assert got.status_code == 200, got.text
    assert got.content == posted.content and len(got.content) > 100
    assert got.headers["etag"] == posted.headers["etag"]
    for header in ("content-type", "x-seeds", "x-model-name", "x-model-version"):
        assert got.headers[header] == posted.headers[header], header
    assert Image.open(io.BytesIO(got.content)).format == path.split(".")[1].split("?")[0].upper()


def test_immutable_with_a_version_and_revalidated_without_one(url: str) -> None:
    pinned = get(url, "/models/tiny/images/3.png?version=2")
    assert pinned.headers["cache-control"] == IMMUTABLE
    # without a version the default one answers, and it changes when a new version appears
    default = get(url, "/models/tiny/images/3.png")
    assert default.headers["cache-control"] == "no-cache"
    assert default.headers["etag"] == pinned.headers["etag"] and default.content == pinned.content
    assert get(url, "/models/tiny/images/3.png?version=1").headers["etag"] != pinned.headers["etag"]


def test_interpolations_are_immutable_only_for_a_pinned_version(url: str) -> None:
    query = "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=3"
    pinned = get(url, query + "&version=2")
    assert pinned.headers["cache-control"] == IMMUTABLE
    default = get(url, query)
    assert default.headers["cache-control"] == "no-cache"
    assert default.headers["etag"] == pinned.headers["etag"] and default.content == pinned.content


def test_if_none_match_is_a_304_that_runs_nothing(url: str) -> None:
    first = get(url, "/models/tiny/images/11.webp?version=2")
    before = images_generated(url)
    again = get(
        url,
        "/models/tiny/images/11.webp?version=2",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == IMMUTABLE
    assert images_generated(url) == before
    other = get(url, "/models/tiny/images/12.webp?version=2", headers={"If-None-Match": '"x"'})
    assert other.status_code == 200 and images_generated(url) == before + 1


def test_unknown_model_or_version_is_a_404_naming_what_exists(url: str) -> None:
    r = get(url, "/models/simpsons/images/1.png")
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "model_not_found" and error["details"]["available"] == ["gray", "tiny"]
    r = get(url, "/models/tiny/images/1.png?version=9")
    assert r.status_code == 404 and r.json()["error"]["details"]["versions"] == [1, 2]
    r = get(url, "/models/corrupt/images/1.png")
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/models/tiny/images/-1.png", "seed"),
        ("/models/tiny/images/18446744073709551616.png", "seed"),
        ("/models/tiny/images/abc.png", "seed"),
        ("/models/tiny/images/05.png", "seed"),  # one URL per image: no zeros in front
        ("/models/tiny/images/+5.png", "seed"),
        ("/models/tiny/images/5.0.png", "seed"),
        ("/models/tiny/images/5_0.png", "seed"),
        ("/models/tiny/images/%205.png", "seed"),
        ("/models/tiny/images/5.bmp", "format"),
        ("/models/tiny/images/5.PNG", "format"),
        ("/models/tiny/images/5.png?upscale=9", "upscale"),
        ("/models/tiny/images/5.png?upscale_filter=cubic", "upscale_filter"),
        ("/models/tiny/images/5.png?truncation=-0.1", "truncation"),
        ("/models/tiny/images/5.png?truncation=1.01", "truncation"),
        ("/models/tiny/images/5.png?truncation=nan", "truncation"),
        ("/models/tiny/images/5.png?version=0", "version"),
    ],
)
def test_bad_parameters_are_a_422_naming_them(url: str, path: str, parameter: str) -> None:
    r = get(url, path)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_parameter" and parameter in error["message"]


def test_the_api_key_is_required_when_set(keyed_url: str) -> None:
    path = "/models/tiny/images/1.png"
    refused = get(keyed_url, path)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert get(keyed_url, path, headers={"X-API-Key": "wrong"}).status_code == 401
    assert get(keyed_url, path, headers={"X-API-Key": KEY}).status_code == 200
    assert get(keyed_url, path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert get(keyed_url, "/models/tiny/files/samples.png").status_code == 401
    ok = get(keyed_url, "/models/tiny/files/samples.png", headers={"X-API-Key": KEY})
    assert ok.status_code == 200
    # the page itself is open: it is where the key is typed in
    page = get(keyed_url, "/")
    assert page.status_code == 200 and 'data-key-required="true"' in page.text
    assert get(keyed_url, "/static/app.js").status_code == 200


def test_model_files_are_served_with_an_etag_and_listed(url: str, prepared_models: Path) -> None:
    r = get(url, "/models/tiny/files/samples.png?version=1")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == (prepared_models / "tiny" / "1" / "samples.png").read_bytes()
    assert r.headers["x-model-version"] == "1" and r.headers["cache-control"] == "no-cache"
    again = get(
        url,
        "/models/tiny/files/samples.png?version=1",
        headers={"If-None-Match": r.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""
    for tags in ("*", f'"other", {r.headers["etag"]}'):  # any, or one of a list
        listed = get(
            url, "/models/tiny/files/samples.png?version=1", headers={"If-None-Match": tags}
        )
        assert listed.status_code == 304, tags
    assert get(url, "/models/tiny/files/samples.png").content != r.content  # v2's own
    versions = get(url, "/models/tiny").json()["versions"]
    assert [v["files"] for v in versions] == [["samples.png"], ["samples.png"]]
    missing = get(url, "/models/tiny/files/losses.png")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "file_not_found",
        "message": "tiny v2 has no losses.png",
        "details": {"available": ["samples.png"]},
    }


@pytest.mark.parametrize(
    "file", ["manifest.json", "generator.onnx", "card.md", "..%2Fmanifest.json", "%2e%2e"]
)
def test_only_the_card_pictures_are_served(url: str, file: str) -> None:
    r = get(url, f"/models/tiny/files/{file}")
    # another name is a 422 naming the three (README); "../x" reaches no route at all
    if file.startswith(".."):
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        return
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_parameter" and b"onnx_sha256" not in r.content
    for picture in ("samples.png", "training.gif", "losses.png"):
        assert picture in r.text


def test_a_card_picture_that_points_outside_the_models_folder_is_not_served(
    models_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    losses = models_dir / "tiny" / "2" / "losses.png"
    losses.symlink_to(outside)
    gif = models_dir / "tiny" / "2" / "training.gif"
    gif.mkdir()  # not a regular file
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        assert client.get("/models/tiny").json()["versions"][1]["files"] == ["samples.png"]
        for name in ("losses.png", "training.gif"):
            r = client.get(f"/models/tiny/files/{name}")
            assert r.status_code == 404 and b"secret" not in r.content


def test_openapi_documents_the_get_routes(url: str) -> None:
    spec = get(url, "/openapi.json").json()
    image = spec["paths"]["/models/{name}/images/{seed}.{format}"]["get"]
    params = {p["name"]: p for p in image["parameters"]}
    assert set(params) == {
        *("name", "seed", "format"),  # path
        *("version", "upscale", "upscale_filter", "truncation"),  # query
        "x-request-timeout-ms",  # header, as for POST /generate
    }
    assert params["seed"]["in"] == "path" and params["seed"]["schema"]["type"] == "integer"
    assert params["seed"]["schema"]["maximum"] == 2**64 - 1
    assert params["format"]["schema"]["enum"] == ["png", "webp", "jpeg"]
    assert set(image["responses"]["200"]["content"]) == {"image/png", "image/webp", "image/jpeg"}
    assert {"304", "401", "404", "422", "503"} <= set(image["responses"])
    files = spec["paths"]["/models/{name}/files/{file}"]["get"]
    (file_param,) = [p for p in files["parameters"] if p["name"] == "file"]
    assert file_param["schema"]["enum"] == ["samples.png", "training.gif", "losses.png"]
    assert "/" not in spec["paths"] and "/static/{file}" not in spec["paths"]


def test_a_large_card_file_is_streamed_not_held_whole(tmp_path: Path) -> None:
    """8 clients at once fetch a 96 MB training animation: the bytes and the ETag are right,
    the server's peak memory grows by far less than one copy (before: each request read the
    whole file, 8 × 96 MB), and rewriting the file changes its ETag."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from tests.helpers import make_tiny_model

    folder = make_tiny_model(tmp_path, "tiny", 1)
    big = folder / "training.gif"
    data = bytes(range(256)) * (96 * 4096)  # 96 MB
    big.write_bytes(data)
    with running_server(tmp_path) as srv:
        path = "/models/tiny/files/training.gif"
        first = get(srv.url, path)  # tags the file (read once, in chunks)
        assert first.content == data
        before = srv.peak_rss_kb()

        def fetch(_: int) -> str:
            with httpx.stream("GET", srv.url + path, timeout=60) as reply:
                digest = hashlib.sha256()
                for chunk in reply.iter_bytes():
                    digest.update(chunk)
                assert reply.headers["etag"] == first.headers["etag"]
                assert reply.headers["content-length"] == str(len(data))
            return digest.hexdigest()

        with ThreadPoolExecutor(8) as pool:
            digests = set(pool.map(fetch, range(8)))
        grown_mb = (srv.peak_rss_kb() - before) / 1024
        assert digests == {hashlib.sha256(data).hexdigest()}
        assert grown_mb < 48, f"peak memory grew by {grown_mb:.0f} MB for a 96 MB file"
        big.write_bytes(data[::-1])
        again = get(srv.url, path)
        assert again.content == data[::-1] and again.headers["etag"] != first.headers["etag"]
