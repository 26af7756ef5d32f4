"""service/http/protocols.py against a real server: one client holding thousands of sockets.

Before the guards, ~1,100 silent sockets from one client (re-opened as the server closed
them) or ~1,100 slowloris sockets (a header byte at a time, never finished) made uvicorn's
``limit_concurrency`` answer every request, health probes included, with a plain-text 503.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import resource
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.servers import running_server, wait_for
from tests.helpers import make_tiny_model

SILENT, SLOW = 1100, 1100
HEADER_TIMEOUT_S = 3


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < needed:
        # the server process, started after this, inherits the raised limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class Flood:
    """SILENT sockets that never send (re-opened when the server closes one) and SLOW ones
    that send a request line and then one header byte every 0.5 s. It runs in a process of
    its own (:func:`flood`): in a thread of the test process, its loop over 2,200 sockets
    would compete for the GIL with the probes whose latency the test measures."""

    def __init__(self, port: int, slow_closed: Any, reopened: Any) -> None:
        self.port = port
        self.silent: list[socket.socket] = []
        self.slow: list[socket.socket] = []
        self.slow_closed = slow_closed  # slowloris sockets the server closed (shared counter)
        self.reopened = reopened

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        return sock

    def open(self) -> None:
        for _ in range(SILENT):
            self.silent.append(self.connect())
        for _ in range(SLOW):
            sock = self.connect()
            sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            self.slow.append(sock)

    @staticmethod
    def closed_by_server(sock: socket.socket) -> bool:
        try:
            return sock.recv(1024) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def run(self, stop: Any) -> None:
        while not stop.wait(0.5):
            for sock in list(self.slow):
                if self.closed_by_server(sock):
                    self.slow.remove(sock)
                    sock.close()
                    self.slow_closed.value += 1
                    continue
                with contextlib.suppress(OSError):
                    sock.send(b"X")  # one more byte of a header that never ends
            for i, sock in enumerate(self.silent):
                if self.closed_by_server(sock):
                    sock.close()
                    with contextlib.suppress(OSError):
                        self.silent[i] = self.connect()
                        self.reopened.value += 1
        for sock in self.silent + self.slow:
            sock.close()


def _flood_process(port: int, started: Any, stop: Any, slow_closed: Any, reopened: Any) -> None:
    f = Flood(port, slow_closed, reopened)
    f.open()
    started.set()
    f.run(stop)


@dataclass
class FloodCounts:
    slow_closed: Any
    reopened: Any


@contextlib.contextmanager
def flood(port: int) -> Iterator[FloodCounts]:
    """The flood, from another process; yields its live counters (``.value``)."""
    ctx = multiprocessing.get_context("spawn")
    started, stop = ctx.Event(), ctx.Event()
    counts = FloodCounts(ctx.Value("i", 0), ctx.Value("i", 0))
    proc = ctx.Process(
        target=_flood_process,
        args=(port, started, stop, counts.slow_closed, counts.reopened),
        daemon=True,
    )
    proc.start()
    try:
        if not started.wait(60):
            raise TimeoutError("the flood process did not open its sockets")
        yield counts
    finally:
        stop.set()
        proc.join(20)
        if proc.is_alive():
            proc.kill()


def metric(text: str, reason: str) -> float:
    found = re.search(rf'^dcgan_connections_closed_total\{{reason="{reason}"\}} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


def test_health_answers_while_one_client_holds_2200_sockets(
    models_dir: Path, heavy_engine_env: dict[str, str]
) -> None:
    raise_fd_limit(2 * (SILENT + SLOW) + 512)
    env = {
        "DCGAN_TIMEOUT_HEADERS_S": str(HEADER_TIMEOUT_S),
        "DCGAN_TIMEOUT_KEEP_ALIVE_S": "2",
        "DCGAN_DEFAULT_MODEL": "tiny",
        **heavy_engine_env,
    }
    with running_server(models_dir, env) as srv, flood(srv.port) as f:
        # the probes start once the server has taken the flood's first 2,200 connects (a
        # burst of its own, ~0.3 s of accepts here); the silent sockets' re-open waves every
        # DCGAN_TIMEOUT_KEEP_ALIVE_S fall inside the probing window
        time.sleep(1.0)
        probes: list[tuple[str, int, float]] = []
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 4
        while time.monotonic() < deadline:
            for path in ("/healthz", "/readyz"):
                t0 = time.perf_counter()
                r = httpx.get(srv.url + path, timeout=5)
                probes.append((path, r.status_code, time.perf_counter() - t0))
            time.sleep(0.1)
        generated = httpx.post(srv.url + "/generate", json={"seed": 1}, timeout=10)
        text = httpx.get(srv.url + "/metrics", timeout=5).text
        slow_closed, reopened = f.slow_closed.value, f.reopened.value
    print(  # the numbers docs/benchmarks.md quotes (pytest -s)
        f"\n{len(probes)} probes under {SILENT} silent + {SLOW} slowloris sockets: "
        f"slowest {max(p[2] for p in probes) * 1000:.0f} ms; slowloris closed {slow_closed}, "
        f"silent re-opened {reopened}"
    )
    bad = [p for p in probes if p[1] != 200]
    assert not bad, f"{len(bad)} of {len(probes)} probes failed: {bad[:3]}"
    slowest = max(p[2] for p in probes)
    assert slowest < 0.25, f"slowest probe took {slowest * 1000:.0f} ms"
    assert generated.status_code == 200
    # every slowloris socket was closed after the header timeout, and counted
    assert slow_closed == SLOW and metric(text, "header_timeout") >= SLOW
    # the silent ones were closed after the keep-alive timeout (and re-opened by the client)
    assert reopened >= SILENT


def test_requests_beyond_the_limit_get_the_json_503_but_probes_do_not(
    models_dir: Path, engine_env: dict[str, str]
) -> None:
    """DCGAN_LIMIT_CONCURRENCY=1: a request held open fills it; the next one is refused with
    the documented error shape, and /healthz, /readyz, /metrics still answer."""
    env = {"DCGAN_LIMIT_CONCURRENCY": "1", "DCGAN_DEFAULT_MODEL": "tiny", **engine_env}
    with running_server(models_dir, env) as srv:
        port = srv.port
        held = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:  # headers complete, body never sent: this request stays in flight
            held.sendall(
                b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10\r\n\r\n{"
            )
            time.sleep(0.3)
            refused = httpx.post(srv.url + "/generate", json={}, timeout=5)
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "overloaded"
            assert refused.headers["retry-after"] == "1"
            for path in ("/healthz", "/readyz", "/metrics"):
                assert httpx.get(srv.url + path, timeout=5).status_code == 200, path
            text = httpx.get(srv.url + "/metrics", timeout=5).text
            assert 'reason="concurrency_limit"' in text
        finally:
            held.close()
        time.sleep(0.3)
        assert httpx.post(srv.url + "/generate", json={}, timeout=5).status_code == 200


def test_a_body_that_stops_arriving_is_cut_off(models_dir: Path) -> None:
    env = {"DCGAN_TIMEOUT_BODY_S": "1", "DCGAN_DEFAULT_MODEL": "tiny"}
    with running_server(models_dir, env) as srv:
        port = srv.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 10\r\n\r\n{"
            )
            t0 = time.monotonic()
            sock.settimeout(5)
            data = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(4096):
                    data += chunk
            waited = time.monotonic() - t0
        assert 0.8 < waited < 3, waited  # closed by the server after ~1 s
        text = httpx.get(srv.url + "/metrics", timeout=5).text
        assert metric(text, "body_timeout") == 1


def test_connections_beyond_the_cap_are_closed_at_once_and_counted(models_dir: Path) -> None:
    env = {"DCGAN_MAX_CONNECTIONS": "50", "DCGAN_TIMEOUT_KEEP_ALIVE_S": "30"}
    with running_server(models_dir, env) as srv:
        port = srv.port
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(60)]
        try:
            time.sleep(0.5)
            closed = 0
            for sock in socks:
                sock.setblocking(False)
                closed += Flood.closed_by_server(sock)
            assert closed == 10  # the 51st to the 60th
        finally:
            for sock in socks:
                sock.close()
        time.sleep(0.3)  # the server sees them go: room again
        text = httpx.get(srv.url + "/metrics", timeout=5).text
        assert metric(text, "too_many_connections") == 10


def test_a_client_that_stops_reading_is_dropped_and_counted(tmp_path: Path) -> None:
    """A 4096² grid (16 MB) asked for and never read: after DCGAN_TIMEOUT_SEND_S the
    connection is aborted (the buffer it pinned is freed), counted, and the service serves on.
    Before, it was held until the kernel gave up (~150 s, ~190 MB)."""
    make_tiny_model(tmp_path, "big", 1, image_size=64)
    env = {"DCGAN_TIMEOUT_SEND_S": "1", "DCGAN_DEFAULT_MODEL": "big"}
    body = b'{"count": 64, "grid": true, "upscale": 8, "upscale_filter": "lanczos", "seed": 1}'
    with running_server(tmp_path, env) as srv:
        port = srv.port
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: kept small
        sock.connect(("127.0.0.1", port))
        sock.sendall(
            b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        wait_for(
            lambda: metric(httpx.get(srv.url + "/metrics").text, "send_timeout") == 1,
            30,
            lambda: "the client that reads nothing is still held",
        )
        sock.settimeout(5)
        received = 0
        with contextlib.suppress(OSError):  # aborted: a reset, or the end of what was sent
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        sock.close()
        assert received < 8 << 20, f"{received} bytes: the whole answer came after all"
        assert httpx.post(srv.url + "/generate", json={"seed": 1}, timeout=5).status_code == 200
