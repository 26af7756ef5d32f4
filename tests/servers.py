"""Real processes for tests: `python -m service` on a loopback port, stopped whatever happens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def server(models_dir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the service, wait for /readyz, yield its URL; the log is shown if it fails."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--models-dir", str(models_dir)],
            stdout=log,  # a file, not a pipe: a full pipe would block the server
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        url = f"http://127.0.0.1:{port}"

        def output() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")

        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, f"server exited:\n{output()}"
                time.sleep(0.2)
            else:
                raise TimeoutError(f"server did not become ready:\n{output()}")
            yield url
        finally:
            stop(proc)
