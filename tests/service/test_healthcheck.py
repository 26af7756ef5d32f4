"""`python -m service.healthcheck` (the container HEALTHCHECK) against a real server."""

import os
import subprocess
import sys
from pathlib import Path

from testkit.servers import free_port, server


def healthcheck(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_healthy_server_exits_0_using_the_port_setting(models_dir: Path) -> None:
    with server(models_dir) as url:
        port = url.rsplit(":", 1)[1]
        result = healthcheck(env={"DCGAN_PORT": port})
    assert result.returncode == 0, result.stderr
    assert f"127.0.0.1:{port}/healthz: HTTP 200" in result.stdout


def test_nothing_listening_exits_1_with_the_reason() -> None:
    result = healthcheck("--url", f"http://127.0.0.1:{free_port()}/healthz", "--timeout", "2")
    assert result.returncode == 1
    assert "refused" in result.stderr.lower()


def test_an_error_status_is_unhealthy(models_dir: Path) -> None:
    with server(models_dir) as url:
        result = healthcheck("--url", f"{url}/models/nope")
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr
