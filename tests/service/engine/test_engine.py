"""The shared engine (DCGAN_ENGINE=shared) against real process trees: same bytes as in
process, and the faults of the issue: the engine killed, a worker killed, a stuck batch."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.core.settings import Settings
from service.engine.mode import choose_engine
from testkit.servers import Running, running_server, wait_for
from tests.helpers import make_tiny_model
from tests.service.runtime.test_workers import (
    both_workers_up,
    children,
    cmdline,
    pids_that_served,
    worker_processes,
)

SHARED = {"DCGAN_ENGINE": "shared", "DCGAN_CACHE_MB": "0"}


def engine_pid(srv: Running) -> int:
    """The engine: the parent's child running ``service.engine``."""
    found = [p for p in children(srv.proc.pid) if "service.engine" in cmdline(p)]
    assert len(found) == 1, found
    return found[0]


def ready_reason(srv: Running) -> tuple[int, str]:
    reply = httpx.get(f"{srv.url}/readyz", timeout=5)
    body = reply.json()
    return reply.status_code, str(body.get("error", {}).get("code", body.get("status")))


BODIES: list[dict[str, object]] = [
    {"seed": 7},
    {"seeds": [1, 2, 3, 4, 5], "grid": True},
    {"seeds": [9, 10, 11], "format": "json"},
    {"seed": 40, "count": 33, "format": "json"},  # more than one batch of 32
]


def answers(srv: Running) -> list[bytes]:
    got = [
        httpx.post(f"{srv.url}/generate?model=tiny&version=2", json=b, timeout=30).content
        for b in BODIES
    ]
    walk = httpx.get(f"{srv.url}/interpolate?model=tiny&seed_a=1&seed_b=2&steps=5", timeout=30)
    return [*got, walk.content]


def test_the_shared_engine_answers_the_same_bytes_as_the_worker_itself(models_dir: Path) -> None:
    with running_server(models_dir, {"DCGAN_ENGINE": "inprocess"}) as srv:
        alone = answers(srv)
    env = {**SHARED, "DCGAN_WORKERS": "2"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)
        shared = answers(srv)
        assert "inference engine: shared (DCGAN_ENGINE=shared)" in srv.output()
    assert [len(a) > 100 for a in alone] == [True] * len(alone)
    assert shared == alone


def test_workers_never_open_a_session_and_the_engine_merges_their_batches(
    models_dir: Path,
) -> None:
    # one runner: what arrives while it is busy waits, and goes together into the next run
    env = {**SHARED, "DCGAN_WORKERS": "2", "DCGAN_ENGINE_RUNNERS": "1"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)

        def one(i: int) -> httpx.Response:  # both versions, so runs could mix them up
            url = f"{srv.url}/generate?model=tiny&version={1 + i % 2}"
            return httpx.post(url, json={"seed": i}, timeout=30)

        engine = engine_pid(srv)
        with ThreadPoolExecutor(32) as pool:
            # the engine paused while both workers send: on a run as short as this model's
            # the requests would otherwise seldom meet
            os.kill(engine, signal.SIGSTOP)
            pending = [pool.submit(one, i) for i in range(256)]
            time.sleep(1.0)
            os.kill(engine, signal.SIGCONT)
            replies = [p.result() for p in pending]
        assert {r.status_code for r in replies} == {200}
        # each request got its own rows of the merged run, from its own version: the same
        # bytes as the same request alone
        assert len({r.content for r in replies}) == 256
        alone = range(0, 256, 17)
        for i in alone:
            assert one(i).content == replies[i].content, i
        assert len(pids_that_served(srv, "tiny")) == 2
        text = httpx.get(f"{srv.url}/metrics").text
        # only the engine loaded models (the registry's line per loaded version)
        assert srv.output().count("model tiny v2 runs on") == 1
        runs = sum_of(text, "dcgan_engine_batch_size_count", 'model="tiny"')
        merged = sum_of(text, "dcgan_engine_merged_batches_sum", 'model="tiny"')
        images = sum_of(text, "dcgan_engine_images_total", 'model="tiny"')
        assert images == 256 + len(alone)
        assert merged > runs, "no run merged batches from two workers"
        assert sum_of(text, "dcgan_engine_workers", "") == 2


def sum_of(text: str, name: str, label: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label in line and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def hammer(srv: Running, seconds: float, counts: Counter[str]) -> None:
    """Requests one after another for ``seconds``: each must come back, 200 or JSON 503."""
    end = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < end:
            reply = client.post(f"{srv.url}/generate?model=tiny", json={})
            if reply.status_code == 200:
                counts["ok"] += 1
            else:
                assert reply.status_code == 503, reply.text
                assert reply.headers["retry-after"] == "1"
                counts[reply.json()["error"]["code"]] += 1


def test_a_killed_engine_fails_waiting_requests_at_once_and_comes_back(
    models_dir: Path,
) -> None:
    env = {**SHARED, "DCGAN_WORKERS": "2"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)
        first = engine_pid(srv)
        # the parent is held so it cannot restart the engine yet: what the workers do alone
        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            os.kill(first, signal.SIGKILL)
            start = time.monotonic()
            reply = httpx.post(f"{srv.url}/generate?model=tiny", json={"seed": 1}, timeout=10)
            assert time.monotonic() - start < 2
            assert reply.status_code == 503
            assert reply.json()["error"]["code"] == "engine_unavailable"
            wait_for(lambda: ready_reason(srv) == (503, "engine_unavailable"), 10)
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
        wait_for(lambda: ready_reason(srv) == (200, "ready"), 20, lambda: srv.output()[-3000:])
        assert engine_pid(srv) != first
        with ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(
                    lambda i: httpx.post(
                        f"{srv.url}/generate?model=tiny", json={"seed": 1}, timeout=10
                    ),
                    range(16),
                )
            )
        assert {r.status_code for r in replies} == {200}
        assert "was killed by signal 9: starting a new one" in srv.output()
        text = httpx.get(f"{srv.url}/metrics").text
        assert sum_of(text, "dcgan_engine_generation", "") == 2


def test_requests_under_load_when_the_engine_dies_all_come_back(models_dir: Path) -> None:
    env = {**SHARED, "DCGAN_WORKERS": "2", "DCGAN_MAX_WAIT_MS": "20"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)
        counts: Counter[str] = Counter()
        with ThreadPoolExecutor(8) as pool:
            loads = [pool.submit(hammer, srv, 4.0, counts) for _ in range(8)]
            time.sleep(1.0)
            os.kill(engine_pid(srv), signal.SIGKILL)
            for load in loads:
                load.result(timeout=30)  # a hang fails here
        assert counts["ok"] > 0 and set(counts) <= {"ok", "engine_unavailable"}, counts
        # the new engine may still be loading on a busy machine: ready again, not at once
        wait_for(lambda: ready_reason(srv) == (200, "ready"), 20, lambda: ready_reason(srv))


def segments_mapped_by(pid: int, owner: int) -> int:
    """How many of ``owner``'s shared-memory segments ``pid`` has mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sum(f"/dcgan-{owner}-" in line for line in maps.splitlines())


def test_a_killed_worker_gives_its_channels_back_and_the_other_serves_on(
    models_dir: Path,
) -> None:
    env = {**SHARED, "DCGAN_WORKERS": "2"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: httpx.post(
                        f"{srv.url}/generate?model=tiny", json={"seed": i}, timeout=30
                    ),
                    range(48),
                )
            )
        engine = engine_pid(srv)
        held = {w: segments_mapped_by(engine, w) for w in worker_processes(srv.proc.pid)}
        victim = max(held, key=lambda w: held[w])
        assert held[victim] >= 1, held
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: segments_mapped_by(engine, victim) == 0, 10, lambda: "still mapped")
        for i in range(10):
            reply = httpx.post(f"{srv.url}/generate?model=tiny", json={"seed": i}, timeout=10)
            assert reply.status_code == 200
        assert engine_pid(srv) == engine  # the engine went on
        assert not list(Path("/dev/shm").glob(f"dcgan-{victim}-*"))  # nothing left behind


def test_a_stuck_batch_trips_the_watchdog(models_dir: Path) -> None:
    env = {**SHARED, "DCGAN_ENGINE_WATCHDOG_S": "1"}
    with running_server(models_dir, env) as srv:
        stuck = engine_pid(srv)
        os.kill(stuck, signal.SIGSTOP)  # a batch that never ends, for all anyone can tell
        start = time.monotonic()
        reply = httpx.post(f"{srv.url}/generate?model=tiny", json={"seed": 1}, timeout=20)
        took = time.monotonic() - start
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "engine_unavailable"
        assert took < 5, f"{took:.1f} s"
        assert "has not beaten for" in srv.output()
        wait_for(lambda: ready_reason(srv) == (200, "ready"), 20)
        assert engine_pid(srv) != stuck
        ok = httpx.post(f"{srv.url}/generate?model=tiny", json={"seed": 1}, timeout=10)
        assert ok.status_code == 200


def test_a_reload_reaches_every_worker_through_the_engine(models_dir: Path) -> None:
    env = {**SHARED, "DCGAN_WORKERS": "2"}
    with running_server(models_dir, env) as srv:
        both_workers_up(srv)
        make_tiny_model(models_dir, "late", 1)
        diff = httpx.post(f"{srv.url}/admin/reload", timeout=30).json()
        assert diff["added"] == ["late/1"]

        def everywhere() -> bool:
            with ThreadPoolExecutor(16) as pool:
                codes = pool.map(
                    lambda _: (
                        httpx.post(
                            f"{srv.url}/generate?model=late", json={"seed": 1}, timeout=10
                        ).status_code
                    ),
                    range(32),
                )
                return set(codes) == {200}

        wait_for(everywhere, 5)
        assert len(pids_that_served(srv, "late")) == 2
        # the engine loaded it once for both
        assert srv.output().count("model late v1 runs on") == 1
        listed = httpx.get(f"{srv.url}/models/late").json()
        assert listed["versions"][0]["status"] == "ready"


def test_a_start_up_error_in_the_engine_is_exit_code_2(models_dir: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, **SHARED, "DCGAN_REQUIRE_CUDA": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "service", "--port", "1", "--models-dir", str(models_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "DCGAN_REQUIRE_CUDA is set" in done.stderr


@pytest.mark.parametrize(
    ("env", "available", "mode"),
    [
        ({}, ["CPUExecutionProvider"], "inprocess"),
        ({"workers": 2}, ["CPUExecutionProvider"], "inprocess"),  # measured faster
        ({"workers": 2}, ["CUDAExecutionProvider", "CPUExecutionProvider"], "shared"),
        ({}, ["CUDAExecutionProvider", "CPUExecutionProvider"], "shared"),
        ({"providers": ["CPUExecutionProvider"]}, ["CUDAExecutionProvider"], "inprocess"),
        ({"engine": "inprocess", "workers": 4}, ["CUDAExecutionProvider"], "inprocess"),
        ({"engine": "shared"}, ["CPUExecutionProvider"], "shared"),
    ],
)
def test_auto_picks_the_shared_engine_for_cuda(
    env: dict[str, object], available: list[str], mode: str
) -> None:
    chosen, why = choose_engine(Settings.model_validate(env), available)
    assert chosen == mode and why


def test_a_bad_engine_setting_names_its_variable(models_dir: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "service", "--models-dir", str(models_dir)],
        env={**os.environ, "DCGAN_ENGINE": "gpu"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DCGAN_ENGINE" in done.stderr and "'gpu'" in done.stderr


def test_metrics_of_the_engine_are_documented_as_json_free_text(models_dir: Path) -> None:
    """The engine's /metrics series carry HELP lines (and the engine's own lines in the
    log are plain text, not access-log JSON)."""
    with running_server(models_dir, SHARED) as srv:
        httpx.post(f"{srv.url}/generate?model=tiny", json={"seed": 1})
        text = httpx.get(f"{srv.url}/metrics").text
        for name in ("engine_batch_size", "engine_inference_duration_seconds", "engine_workers"):
            assert f"# HELP dcgan_{name} " in text
        engine_lines = [line for line in srv.output().splitlines() if "service.engine" in line]
        assert engine_lines and not any(line.startswith("{") for line in engine_lines)
        assert all(json.loads(line) for line in srv.output().splitlines() if line[:1] == "{")
