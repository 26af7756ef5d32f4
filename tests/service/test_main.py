"""`dcgan-serve` as a process: start-up errors, exit codes, the access log, SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import onnxruntime as ort
import pytest
from fastapi import FastAPI

from service.__main__ import main
from service.core.settings import Settings
from service.http import protocols
from service.http.app import create_app
from service.inference.registry import ModelVersion, Registry
from service.process.server import Server, uvicorn_config, warn_if_workers_share_a_gpu
from testkit.servers import free_port, running_server


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def assert_user_error(result: subprocess.CompletedProcess[str], starts: str) -> list[str]:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    assert lines[0].startswith(starts), result.stderr
    return lines


# ---- start-up errors: one line each, exit code 2 -------------------------------------------


def test_a_bad_port_variable_is_one_error_line(tmp_path: Path) -> None:
    result = serve("--models-dir", str(tmp_path), env={"DCGAN_PORT": "notaport"})
    lines = assert_user_error(result, "error: DCGAN_PORT: Input should be a valid integer")
    assert len(lines) == 1


def test_an_empty_api_key_is_refused(tmp_path: Path) -> None:
    result = serve("--models-dir", str(tmp_path), env={"DCGAN_API_KEY": ""})
    lines = assert_user_error(result, "error: DCGAN_API_KEY: ")
    assert "unset DCGAN_API_KEY" in lines[0]


def test_an_out_of_range_port_option_names_the_option(tmp_path: Path) -> None:
    result = serve("--models-dir", str(tmp_path), "--port", "99999")
    assert assert_user_error(result, "error: --port: ") == [
        "error: --port: Input should be less than or equal to 65535 (got 99999)"
    ]


def test_several_bad_settings_give_one_line_each(tmp_path: Path) -> None:
    env = {"DCGAN_MAX_COUNT": "0", "DCGAN_LOG_LEVEL": "loud"}
    lines = assert_user_error(serve("--models-dir", str(tmp_path), env=env), "error: DCGAN_")
    assert len(lines) == 2
    assert {line.split(":")[1].strip() for line in lines} == {"DCGAN_MAX_COUNT", "DCGAN_LOG_LEVEL"}


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here"
)
def test_require_cuda_without_cuda_is_a_user_error(models_dir: Path) -> None:
    result = serve("--models-dir", str(models_dir), env={"DCGAN_REQUIRE_CUDA": "true"})
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and "DCGAN_REQUIRE_CUDA" in lines[0]


def test_a_taken_port_exits_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = serve("--models-dir", str(tmp_path), "--port", port)
    assert result.returncode == 3, result.stderr
    assert "address already in use" in result.stderr


# ---- uvicorn's configuration and the exit hook ---------------------------------------------


@pytest.mark.parametrize(("provider", "warned"), [("CUDAExecutionProvider", True), ("", False)])
def test_workers_sharing_a_gpu_are_warned_about(
    provider: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    version = ModelVersion("faces", 1, Path("models/faces/1"), "ready", provider=provider)
    cpu = ModelVersion(
        "digits", 1, Path("models/digits/1"), "ready", provider="CPUExecutionProvider"
    )
    registry = Registry({"faces": {1: version}, "digits": {1: cpu}})
    with caplog.at_level(logging.WARNING, logger="service"):
        warn_if_workers_share_a_gpu(Settings(workers=4), registry)
    assert ("DCGAN_WORKERS=4 workers share the GPU" in caplog.text) is warned


def test_uvicorn_config_comes_from_the_settings() -> None:
    settings = Settings.model_validate(
        {
            "host": "127.0.0.2",
            "port": 8123,
            "limit_concurrency": 7,
            "timeout_keep_alive_s": 2.5,
            "shutdown_grace_s": 12,
            "backlog": 16,
            "log_level": "DEBUG",
        }
    )
    config = uvicorn_config(FastAPI(), settings)
    assert (config.host, config.port) == ("127.0.0.2", 8123)
    # requests in flight are limited by the protocol (service.http.protocols), not by uvicorn, whose
    # limit counts idle connections too
    assert config.limit_concurrency is None
    create_app(settings)
    assert protocols._limits.max_requests == 7
    assert config.timeout_keep_alive == 3  # whole seconds, rounded up
    assert config.timeout_graceful_shutdown == 12
    assert config.backlog == 16
    assert config.access_log is False
    assert config.log_level == "debug"
    assert config.lifespan == "on"  # a failing lifespan must stop start-up
    # X-Forwarded-Proto/-For are not taken from local peers: nothing here needs them
    assert config.proxy_headers is False


def server_with(manager: object) -> Server:
    app = FastAPI()
    app.state.manager = manager
    return Server(uvicorn_config(app, Settings()), app)


def test_a_signal_marks_the_app_not_ready_then_stops_the_server() -> None:
    calls: list[str] = []
    server = server_with(SimpleNamespace(begin_shutdown=lambda: calls.append("begin")))
    server.handle_exit(signal.SIGTERM, None)
    assert calls == ["begin"]
    assert server.should_exit


def test_a_failing_begin_shutdown_still_stops_the_server() -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    server = server_with(SimpleNamespace(begin_shutdown=broken))
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit


def test_a_server_that_never_started_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # main() configures logging: give the other tests their loggers back afterwards
    for logger in (logging.getLogger(), logging.getLogger("service.access")):
        monkeypatch.setattr(logger, "handlers", list(logger.handlers))
        monkeypatch.setattr(logger, "propagate", logger.propagate)
        monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(Server, "run", lambda self: None)  # returns with started still False
    with pytest.raises(SystemExit) as exc:
        main(["--models-dir", str(tmp_path), "--port", str(free_port())])
    assert exc.value.code == 3


# ---- a real server: access log, SIGTERM ----------------------------------------------------


def test_sigterm_stops_an_idle_server_with_exit_code_0(models_dir: Path) -> None:
    with running_server(models_dir) as srv:
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        returncode = srv.proc.wait(10)
        elapsed = time.monotonic() - start
        assert returncode == 0, srv.output()
    assert elapsed < 5, f"took {elapsed:.1f} s to stop"


def test_the_access_log_is_json_lines(models_dir: Path) -> None:
    with running_server(models_dir) as srv:
        for _ in range(2):
            assert httpx.get(f"{srv.url}/healthz", timeout=5).status_code == 200
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(10)
        text = srv.output()
    access = [line for line in text.splitlines() if '"request_id"' in line]
    records = [json.loads(line) for line in access]  # the whole line, no prefix
    assert [r["path"] for r in records].count("/healthz") == 2, text
    assert all(isinstance(r, dict) and r["request_id"] for r in records)
    # the other loggers keep their prefix
    assert re.search(r"^\S+ \S+ INFO service: serving ", text, re.MULTILINE), text
