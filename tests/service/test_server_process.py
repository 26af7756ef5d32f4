"""Real servers: `python -m service` on loopback ports, talked to over HTTP."""

from pathlib import Path

import httpx

from tests.servers import server


def test_same_seed_same_bytes_from_two_server_processes(models_dir: Path) -> None:
    body = {"seeds": [0, 1, 2, 3], "grid": True}
    with server(models_dir) as url:
        first = httpx.post(f"{url}/generate?model=tiny", json=body, timeout=10)
    with server(models_dir) as url:
        second = httpx.post(f"{url}/generate?model=tiny", json=body, timeout=10)
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
