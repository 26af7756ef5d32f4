"""Limits and edges of the HTTP API, in process: output budget, deadlines, early 503, auth."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from service.api import deps, generate, interpolate
from service.core.settings import Settings
from service.http.app import create_app


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_latents_and_rendering_never_run_on_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CPU work of a request (latents, upscale, grid, encode) runs in worker threads."""
    calls: list[tuple[str, bool, str]] = []

    def spy(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, on_event_loop(), threading.current_thread().name))
            return real(*args, **kwargs)

        return wrapper

    for module, names in (
        (deps, ("latents_for_seeds",)),  # what a /generate job's latent_source calls
        (generate, ("render_images",)),
        (interpolate, ("latent_path", "render_frames")),
    ):
        for name in names:
            monkeypatch.setattr(module, name, spy(name, getattr(module, name)))
    light = {"seed": 1}
    heavy = {"seed": 1, "count": 64, "upscale": 8, "upscale_filter": "lanczos", "format": "json"}
    for body in (light, heavy):
        assert client.post("/generate?model=tiny", json=body).status_code == 200
    for fmt in ("png", "gif"):
        r = client.get(f"/interpolate?model=tiny&seed_a=1&seed_b=2&steps=4&format={fmt}")
        assert r.status_code == 200
    assert len(calls) == 8
    assert not [c for c in calls if c[1]], calls
    # light renders share the batch's thread; heavy ones leave it free for the next batch
    assert calls[1][2].startswith("batch-tiny") and not calls[3][2].startswith("batch-tiny")


def test_an_output_over_the_pixel_budget_is_422_before_any_work(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []
    monkeypatch.setattr(deps, "latents_for_seeds", lambda seeds, nz: ran.append(1))
    settings = Settings(models_dir=models_dir, max_count=1024, max_output_pixels=1 << 16)
    with TestClient(create_app(settings)) as client:
        body = {"count": 962, "grid": True, "upscale": 8, "format": "webp"}
        r = client.post("/generate?model=tiny", json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == "output_too_large"
        assert "DCGAN_MAX_OUTPUT_PIXELS=65,536" in r.json()["error"]["message"]
        frames = client.get("/interpolate?model=tiny&seed_a=1&seed_b=2&steps=1024")
        assert frames.status_code == 422 and frames.json()["error"]["code"] == "output_too_large"
        # 64 frames enlarged 2× are exactly the budget (64 × 32² px); 3× are over it
        walk = "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=64&format=gif"
        assert client.get(walk + "&upscale=2").status_code == 200
        upscaled = client.get(walk + "&upscale=3")
        assert upscaled.status_code == 422
        assert "(64 × 48×48)" in upscaled.json()["error"]["message"]
    assert ran == []


def test_a_request_past_its_deadline_is_dropped_with_503(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=models_dir, max_wait_ms=300))
    with TestClient(app) as client:
        r = client.post(
            "/generate?model=tiny", json={"seed": 1}, headers={"X-Request-Timeout-Ms": "1"}
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "deadline_exceeded"
        fine = client.post(
            "/generate?model=tiny", json={"seed": 1}, headers={"X-Request-Timeout-Ms": "5000"}
        )
        assert fine.status_code == 200
        bad = client.post("/generate?model=tiny", headers={"X-Request-Timeout-Ms": "0"})
        assert bad.status_code == 422


def test_a_full_queue_is_refused_before_the_body_is_read(models_dir: Path) -> None:
    """503 with the computed Retry-After, even for a body that would be a 422."""
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        manager = client.app.state.manager  # type: ignore[attr-defined]
        manager.saturated = lambda name, version=None: 7 if name in (None, "tiny") else None
        r = client.post("/generate?model=tiny", content=b"{not json")
        assert r.status_code == 503 and r.headers["retry-after"] == "7"
        assert r.json()["error"]["code"] == "overloaded"
        assert client.post("/generate?model=gray", json={"seed": 1}).status_code == 200
        text = client.get("/metrics").text
        assert 'dcgan_rejected_requests_total{model="tiny",reason="queue_full"} 1.0' in text
        assert 'dcgan_http_requests_total{endpoint="/generate",model="",status="503"}' in text


CAP = Settings().max_body_bytes  # 1 MiB


def padded(size: int) -> bytes:
    """A valid body of exactly ``size`` bytes: {"seed": 1} and spaces."""
    body = b'{"seed": 1}'
    return body + b" " * (size - len(body))


def chunks(data: bytes) -> Iterator[bytes]:
    """The body as a stream (chunked: no Content-Length to refuse it by)."""
    for i in range(0, len(data), 4096):
        yield data[i : i + 4096]


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "chunked"])
def test_the_body_cap_is_exact(client: TestClient, streamed: bool) -> None:
    """DCGAN_MAX_BODY_BYTES itself is accepted; one byte more is 413, declared or streamed."""
    for size, status in ((CAP, 200), (CAP + 1, 413)):
        body = padded(size)
        content = chunks(body) if streamed else body
        r = client.post("/generate?model=tiny", content=content)
        assert r.status_code == status, (size, r.text)
        if status == 413:
            assert r.json()["error"]["code"] == "body_too_large"


def test_routes_off_the_fast_path_cap_a_streamed_body_too(models_dir: Path) -> None:
    """The middleware's cap guards every route that reads a body, not only the hot ones."""
    app = create_app(Settings(models_dir=models_dir))

    @app.post("/echo-length")
    async def echo_length(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    with TestClient(app) as client:
        ok = client.post("/echo-length", content=chunks(b"x" * CAP))
        assert ok.status_code == 200 and ok.json() == {"length": CAP}
        too_big = client.post("/echo-length", content=chunks(b"x" * (CAP + 1)))
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "body_too_large"


def test_an_unexpected_error_is_a_json_500_with_an_access_log_line(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(generate, "render_images", broken)
    with caplog.at_level(logging.INFO, logger="service.access"):
        r = client.post("/generate?model=tiny", json={"seed": 1})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
    assert "encoder exploded" not in r.text  # no internals leak to the client
    lines = [json.loads(m) for m in caplog.messages if m.startswith("{")]
    assert any(line["status"] == 500 and line["path"] == "/generate" for line in lines)
    monkeypatch.undo()
    assert client.post("/generate?model=tiny", json={"seed": 1}).status_code == 200


def test_readyz_is_503_once_shutdown_begins(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    client.app.state.manager.begin_shutdown()  # type: ignore[attr-defined]
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "shutting_down"


@pytest.fixture
def keyed(models_dir: Path) -> TestClient:
    settings = Settings(models_dir=models_dir, api_key="gen-key", admin_api_key="admin-key")
    return TestClient(create_app(settings))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-API-Key": "gen-key"}, 200),
        ({"Authorization": "Bearer gen-key"}, 200),
        ({"Authorization": "bearer gen-key"}, 200),  # RFC 6750: the scheme is case-insensitive
        ({"Authorization": "BEARER gen-key"}, 200),
        ({"Authorization": "gen-key"}, 401),  # a bare key is not a credential
        ({"Authorization": "Basic gen-key"}, 401),
        ({"X-API-Key": "admin-key"}, 401),  # the admin key does not generate
    ],
)
def test_generation_key(keyed: TestClient, headers: dict[str, str], status: int) -> None:
    with keyed as client:
        r = client.post("/generate?model=tiny", headers=headers)
        assert r.status_code == status
        if status == 401:
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"


def test_admin_routes_take_the_admin_key_only(keyed: TestClient) -> None:
    with keyed as client:
        assert client.post("/admin/reload", headers={"X-API-Key": "gen-key"}).status_code == 401
        assert client.post("/admin/reload").status_code == 401
        ok = client.post("/admin/reload", headers={"Authorization": "Bearer admin-key"})
        assert ok.status_code == 200 and "added" in ok.json()
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200


def test_without_an_admin_key_the_api_key_guards_admin(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir, api_key="k"))) as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": "k"}).status_code == 200


def test_openapi_shows_the_security_schemes(keyed: TestClient) -> None:
    spec = keyed.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert spec["paths"]["/generate"]["post"]["security"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_a_body_that_is_not_text_is_400_invalid_body(client: TestClient) -> None:
    r = client.post(
        "/generate?model=tiny", content=b"\x05n\xff", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body"


def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_header(client: TestClient) -> None:
    r = client.get("/healthz/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert r.json()["error"]["code"] == "not_found"
