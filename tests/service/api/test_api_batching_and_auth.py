import asyncio
import re
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from service.core.settings import Settings
from service.http.app import create_app


def count(text: str, metric: str) -> float:
    return sum(
        float(m)
        for m in re.findall(rf"^{metric}\{{[^}}]*model=\"tiny\"[^}}]*\}} (\S+)", text, re.M)
    )


def test_concurrent_http_requests_are_batched_visibly_in_metrics(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=models_dir, max_wait_ms=50, max_batch_size=32))

    async def scenario() -> str:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            responses = await asyncio.gather(
                *(client.post("/generate?model=tiny", json={"seed": i}) for i in range(16))
            )
            assert all(r.status_code == 200 for r in responses)
            return (await client.get("/metrics")).text

    text = asyncio.run(scenario())
    runs = count(text, "dcgan_inference_duration_seconds_count")
    assert count(text, "dcgan_batch_size_images_sum") == 16
    assert 1 <= runs < 16  # 16 requests, fewer onnxruntime runs


def test_overload_is_503_with_retry_after(models_dir: Path) -> None:
    app = create_app(
        Settings(models_dir=models_dir, queue_size=1, max_wait_ms=200, max_batch_size=64)
    )

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            return list(
                await asyncio.gather(
                    *(client.post("/generate?model=tiny", json={"seed": i}) for i in range(12))
                )
            )

    responses = asyncio.run(scenario())
    refused = [r for r in responses if r.status_code == 503]
    assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert refused[0].json()["error"]["code"] == "overloaded"
    assert any(r.status_code == 200 for r in responses)


def test_api_key(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=models_dir, api_key="s3cret"))
    with TestClient(app) as client:
        assert client.post("/generate?model=tiny").status_code == 401
        assert client.post("/generate?model=tiny", headers={"X-API-Key": "nope"}).status_code == 401
        assert (
            client.post("/generate?model=tiny", headers={"X-API-Key": "s3cret"}).status_code == 200
        )
        ok = client.get("/models", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200
        # the API's description stays open (README): it holds no data, and the Swagger
        # page's Authorize button is where a user enters the key
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert set(schemes) == {"ApiKey", "Bearer"}
        assert client.get("/models").json()["error"]["code"] == "unauthorized"
        # near misses: a prefix, an extension, another case, the key with another scheme
        for given in ("s3cre", "s3cret!", "S3CRET", ""):
            for headers in ({"X-API-Key": given}, {"Authorization": f"Bearer {given}"}):
                r = client.post("/generate?model=tiny", headers=headers)
                assert r.status_code == 401, (headers, r.status_code)
        assert client.get("/models", headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert client.get("/models", headers={"Authorization": "bearer s3cret"}).status_code == 200


def test_batching_off_runs_each_request_alone(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=models_dir, batching=False))
    with TestClient(app) as client:
        for i in range(3):
            assert client.post("/generate?model=tiny", json={"seed": i}).status_code == 200
        assert count(client.get("/metrics").text, "dcgan_inference_duration_seconds_count") == 3
