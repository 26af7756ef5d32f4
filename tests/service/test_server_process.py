"""Real servers: `python -m service` on loopback ports, talked to over HTTP."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(models_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port), "--models-dir", str(models_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.2)
        else:
            raise TimeoutError("server did not become ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
