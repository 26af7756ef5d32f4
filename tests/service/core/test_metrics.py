"""service/core/metrics.py through a real server: the requests-in-flight gauge the HPA scales on."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from testkit.servers import server, wait_for


def in_flight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    (value,) = re.findall(r"^dcgan_http_requests_in_flight (\S+)$", text, re.M)
    return float(value)


def test_in_flight_counts_a_started_request_until_it_ends(prepared_models: Path) -> None:
    with server(prepared_models, {"DCGAN_DEFAULT_MODEL": "tiny"}) as url:
        assert in_flight(url) == 0  # the scrape does not count itself
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as held:
            # headers and half the body: the request is in the app, waiting for the rest
            body = b'{"seed": 1}'
            held.sendall(
                b"POST /generate?model=tiny HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:5]
            )
            wait_for(lambda: in_flight(url) == 1, 10, lambda: in_flight(url))
            held.sendall(body[5:])
            assert held.recv(65536).startswith(b"HTTP/1.1 200")
        wait_for(lambda: in_flight(url) == 0, 10, lambda: in_flight(url))
        httpx.post(f"{url}/generate?model=tiny", json={"seed": 2}, timeout=10).raise_for_status()
        assert in_flight(url) == 0


def test_in_flight_returns_to_zero_after_a_server_error(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that ends in a 500 leaves the gauge too (else the HPA sees load for ever)."""
    from fastapi.testclient import TestClient

    from service.api import generate
    from service.core.settings import Settings
    from service.http.app import create_app

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(generate, "render_images", broken)
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        for _ in range(3):
            assert client.post("/generate?model=tiny", json={"seed": 1}).status_code == 500
        text = client.get("/metrics").text
    assert re.findall(r"^dcgan_http_requests_in_flight (\S+)$", text, re.M) == ["0.0"]


def test_in_flight_adds_up_over_worker_processes() -> None:
    """With DCGAN_WORKERS > 1 every worker writes its own value: the scrape must sum the live
    ones (two workers with one request each are 2 in flight, not 1)."""
    from prometheus_client import CollectorRegistry

    from service.core.metrics import build_metrics

    gauge = build_metrics(CollectorRegistry()).in_flight
    assert gauge._multiprocess_mode == "livesum"
