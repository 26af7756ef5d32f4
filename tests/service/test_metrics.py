"""service/metrics.py through a real server: the requests-in-flight gauge the HPA scales on."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx

from tests.servers import server, wait_for


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
