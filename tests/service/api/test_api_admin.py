import asyncio
import shutil
from pathlib import Path

import httpx

from service.core.settings import Settings
from service.http.app import create_app
from tests.helpers import make_tiny_model


def test_reload_adds_changes_and_removes_models(models_dir: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        before = client.post("/generate?model=tiny", json={"seed": 3})
        assert before.headers["x-model-version"] == "2"
        make_tiny_model(models_dir, "tiny", 3, seed=7)
        make_tiny_model(models_dir, "fresh", 1)
        shutil.rmtree(models_dir / "gray")
        report = client.post("/admin/reload").json()
        assert report["added"] == ["fresh/1", "tiny/3"]
        assert report["removed"] == ["gray/1"]
        assert {f["model"] for f in report["failed"]} == {"corrupt", "tampered", "nomanifest"}
        after = client.post("/generate?model=tiny", json={"seed": 3})
        assert after.headers["x-model-version"] == "3" and after.content != before.content
        assert client.post("/generate?model=fresh").status_code == 200
        assert client.post("/generate?model=gray").status_code == 404
        again = client.post("/admin/reload").json()
        assert again["added"] == again["removed"] == again["reloaded"] == []  # sessions reused
        # a version re-exported under the same number is reloaded; the old one is retired
        shutil.rmtree(models_dir / "tiny" / "3")
        make_tiny_model(models_dir, "tiny", 3, seed=8)
        old = client.app.state.manager.registry.models["tiny"][3]  # type: ignore[attr-defined]
        assert client.post("/admin/reload").json()["reloaded"] == ["tiny/3"]
        assert old.retired and old.batcher is None  # no request held it: closed at once
        new = client.post("/generate?model=tiny", json={"seed": 3})
        assert new.headers["x-model-version"] == "3" and new.content != after.content


def test_reload_under_concurrent_requests_fails_no_request(models_dir: Path) -> None:
    app = create_app(Settings(models_dir=models_dir, max_wait_ms=2))

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            statuses: list[int] = []

            async def load() -> None:
                for i in range(30):
                    r = await client.post("/generate?model=tiny", json={"seed": i})
                    statuses.append(r.status_code)

            async def reloads() -> None:
                for version in (3, 4, 5):
                    await asyncio.to_thread(
                        make_tiny_model, models_dir, "tiny", version, seed=version
                    )
                    assert (await client.post("/admin/reload")).status_code == 200

            await asyncio.gather(load(), load(), load(), reloads())
            final = await client.post("/generate?model=tiny", json={"seed": 1})
            assert final.headers["x-model-version"] == "5"
            return statuses

    statuses = asyncio.run(scenario())
    assert len(statuses) == 90 and set(statuses) == {200}


def test_watch_serves_a_new_export_without_a_reload_call(models_dir: Path) -> None:
    import time

    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(models_dir=models_dir, watch=True))) as client:
        assert client.post("/generate?model=late").status_code == 404
        make_tiny_model(models_dir, "late", 1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.post("/generate?model=late").status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("new model was not picked up by the file watcher")


def test_new_weights_under_the_same_version_change_the_bytes_and_the_etag(
    models_dir: Path,
) -> None:
    """Seeded responses are cached for a year by their ETag: it must follow the weights."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        before = client.post("/generate?model=tiny&version=2", json={"seed": 5})
        shutil.rmtree(models_dir / "tiny" / "2")
        make_tiny_model(models_dir, "tiny", 2, seed=99)  # same name and version, new weights
        assert client.post("/admin/reload").json()["reloaded"] == ["tiny/2"]
        after = client.post("/generate?model=tiny&version=2", json={"seed": 5})
        stale = client.post(
            "/generate?model=tiny&version=2",
            json={"seed": 5},
            headers={"If-None-Match": before.headers["etag"]},
        )
    assert before.status_code == after.status_code == 200
    assert after.content != before.content
    assert after.headers["etag"] != before.headers["etag"]
    assert stale.status_code == 200  # the old ETag no longer matches
