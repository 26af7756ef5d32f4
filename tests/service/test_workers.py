"""DCGAN_WORKERS=2 against a real server: one service, whichever process answers."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.helpers import make_tiny_model
from tests.servers import Running, running_server, wait_for
from tests.service.test_reliability import metric

REQUESTS = 40


def spread(srv: Running, path: str, body: dict[str, object]) -> list[httpx.Response]:
    """Concurrent requests, each on a new connection, so both workers take some."""

    def one(_: int) -> httpx.Response:
        return httpx.post(f"{srv.url}{path}", json=body, timeout=30)

    with ThreadPoolExecutor(16) as pool:  # enough at once that one worker cannot take all
        return list(pool.map(one, range(REQUESTS)))


def pids_that_served(srv: Running, model: str) -> set[int]:
    lines = [line for line in srv.output().splitlines() if line.startswith("{")]
    return {
        record["pid"]
        for record in map(json.loads, lines)
        if record.get("model") == model and record["status"] == 200
    }


def both_workers_up(srv: Running) -> None:
    """/readyz answers once one worker is up; the other may still be loading its models."""
    wait_for(
        lambda: "dcgan_worker_processes 2.0" in httpx.get(f"{srv.url}/metrics").text,
        30,
        lambda: "the second worker did not start",
    )


def test_two_workers_are_one_service(models_dir: Path) -> None:
    with running_server(models_dir, {"DCGAN_WORKERS": "2", "DCGAN_CACHE_MB": "0"}) as srv:
        both_workers_up(srv)
        answers = spread(srv, "/generate?model=tiny", {"seeds": [3, 4], "grid": True})
        assert {r.status_code for r in answers} == {200}
        assert len({r.content for r in answers}) == 1  # same seed, same bytes, any worker
        assert len(pids_that_served(srv, "tiny")) == 2, "one worker took every request"
        # /metrics, whichever worker answers it, counts the requests of both
        text = httpx.get(f"{srv.url}/metrics").text
        assert metric(text, "dcgan_http_requests_total", endpoint="/generate") == REQUESTS
        assert metric(text, "dcgan_images_generated_total", model="tiny") == 2 * REQUESTS
        assert "dcgan_worker_processes 2.0" in text
        # a reload answered by one worker reaches the other
        make_tiny_model(models_dir, "late", 1)
        assert httpx.post(f"{srv.url}/admin/reload").json()["added"] == ["late/1"]
        time.sleep(1.0)
        late = spread(srv, "/generate?model=late", {"seed": 1})
        assert {r.status_code for r in late} == {200}
        assert len(pids_that_served(srv, "late")) == 2
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(20) == 0


def test_a_new_export_reaches_every_worker_through_the_file_watch(models_dir: Path) -> None:
    env = {"DCGAN_WORKERS": "2", "DCGAN_WATCH": "true"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)
        make_tiny_model(models_dir, "watched", 1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answers = spread(srv, "/generate?model=watched", {"seed": 1})
            if {r.status_code for r in answers} == {200}:
                break
            time.sleep(0.5)
        assert {r.status_code for r in answers} == {200}
        assert len(pids_that_served(srv, "watched")) == 2
