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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def wait_for(check: Any, seconds: float, describe: Any = lambda: "") -> Any:
    """Poll `check` every 0.5 s until it returns something true; that is returned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise TimeoutError(f"gave up after {seconds} s: {describe()}")


@dataclass
class Running:
    url: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def rss_kb(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        return self._status_kb("VmRSS")

    def peak_rss_kb(self) -> int:
        """The most resident memory the server process has had (Linux /proc)."""
        return self._status_kb("VmHWM")

    def _status_kb(self, field: str) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field)))


@contextmanager
def running_server(
    models_dir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[Running]:
    """Start the service, wait for /readyz, yield it; the log is shown if it fails."""
    port = port or free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--port", str(port), "--models-dir", str(models_dir)],
            stdout=log,  # a file, not a pipe: a full pipe would block the server
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        running = Running(f"http://127.0.0.1:{port}", proc, log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{running.url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, f"server exited:\n{running.output()}"
                time.sleep(0.2)
            else:
                raise TimeoutError(f"server did not become ready:\n{running.output()}")
            yield running
        finally:
            stop(proc)


@contextmanager
def server(models_dir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the service, wait for /readyz, yield its URL."""
    with running_server(models_dir, env) as running:
        yield running.url
