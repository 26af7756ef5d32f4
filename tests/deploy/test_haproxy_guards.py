"""deploy/haproxy/haproxy.cfg guards the service against one misbehaving client: one source
address flooding it with silent and slowloris connections is capped and timed out at the
proxy, while another address is served. (Loopback has a whole /8: the flood comes from
127.0.0.3, the well-behaved client from 127.0.0.2.)"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import httpx

from testkit.servers import running_server
from tests.deploy.conftest import tool
from tests.deploy.test_multi_replica import haproxy
from tests.helpers import make_tiny_model

PER_SOURCE_CAP = 100  # the shipped file's `sc0_conn_cur gt 100`
FLOOD = 150
HEADER_TIMEOUT_S = 2  # the test's `timeout http-request` (the shipped file says 10 s)


def connect_from(source: str, url: str) -> socket.socket | None:
    """A connection from ``source``; None when the proxy reset it as it was made."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    try:
        sock.connect((host, int(port)))
    except ConnectionResetError:
        sock.close()
        return None
    return sock


def closed(sock: socket.socket | None) -> bool:
    if sock is None:
        return True
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
        return data == b"" or data.startswith(b"HTTP/1.1 408")
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_one_address_flooding_the_proxy_is_capped_and_timed_out(tmp_path: Path) -> None:
    tool("haproxy")
    models = tmp_path / "models"
    make_tiny_model(models, "tiny", 1)
    edits = {"timeout http-request 10s": f"timeout http-request {HEADER_TIMEOUT_S}s"}
    with (
        running_server(models, {"DCGAN_DEFAULT_MODEL": "tiny"}) as replica,
        haproxy(tmp_path, [replica.port] * 3, edits) as (balancer, _),
    ):
        flood = []
        for i in range(FLOOD):
            sock = connect_from("127.0.0.3", balancer)
            if sock is not None and i % 2:  # slowloris: headers that never end
                with contextlib.suppress(OSError):
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            flood.append(sock)
        time.sleep(0.5)
        refused = sum(closed(sock) for sock in flood)
        # the other address is served through the proxy while the flood is held
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as client:
            started = time.monotonic()
            probe = client.get(f"{balancer}/healthz", timeout=5)
            image = client.post(f"{balancer}/generate", json={"seed": 1}, timeout=10)
            took = time.monotonic() - started
        time.sleep(HEADER_TIMEOUT_S + 1)
        timed_out = sum(closed(sock) for sock in flood)
        for sock in flood:
            if sock is not None:
                sock.close()
    assert refused == FLOOD - PER_SOURCE_CAP, refused
    assert probe.status_code == 200 and image.status_code == 200
    assert took < 1.0, f"{took:.2f} s for a probe and an image beside the flood"
    assert timed_out == FLOOD, f"{FLOOD - timed_out} flood connections still held"
