"""Three `dcgan-serve` processes behind HAProxy (deploy/haproxy/haproxy.cfg), on loopback.

Under bounded load from hey: one replica is stopped with SIGTERM and started again, then a
new model version lands in the shared models folder and every replica reloads it; neither
loses a request. The same seed gives the same bytes from every replica, and one Prometheus
scraping all three answers the prometheus-adapter's query for the HPA metric with a value
per replica (deploy/k8s/prometheus-adapter/values.yaml, filled in as the adapter does).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.load import LoadResult, hey
from testkit.servers import Running, free_port, running_server, stop, wait_for
from tests.deploy.conftest import DEPLOY, tool
from tests.deploy.prometheus_server import prometheus, query
from tests.deploy.test_k8s import adapter_rules, adapter_series
from tests.helpers import make_tiny_model

HAPROXY_CFG = DEPLOY / "haproxy" / "haproxy.cfg"
REPLICAS = 3
LOAD_SECONDS = 8
CONNECTIONS = 8
NAMESPACE = "dcgan"
REPLICA_ENV = {
    "DCGAN_DEFAULT_MODEL": "tiny",
    "DCGAN_WATCH": "true",  # a new export is picked up by every replica on its own
    "DCGAN_LOG_LEVEL": "warning",
    "DCGAN_SHUTDOWN_GRACE_S": "5",
}


def haproxy_config(
    front: int, stats: int, backends: list[int], edits: dict[str, str] | None = None
) -> str:
    """The shipped file with only its ports changed (and ``edits``: old line -> new line)."""
    text = HAPROXY_CFG.read_text()
    for old, new in (edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    text = text.replace("bind 127.0.0.1:8000", f"bind 127.0.0.1:{front}")
    text = text.replace("bind 127.0.0.1:8404", f"bind 127.0.0.1:{stats}")
    for i, port in enumerate(backends, start=1):
        text = text.replace(f"127.0.0.1:800{i} check", f"127.0.0.1:{port} check")
    assert text.count(" check\n") == len(backends), text
    return text


def server_states(stats_url: str) -> dict[str, str]:
    """HAProxy's view of each backend server (UP, DOWN, ...) from its CSV stats page."""
    rows = httpx.get(f"{stats_url};csv", timeout=2).text.splitlines()
    header = rows[0].lstrip("# ").split(",")
    states = {}
    for row in rows[1:]:
        cells = dict(zip(header, row.split(","), strict=False))
        if cells.get("pxname") == "dcgan" and cells["svname"] not in {"FRONTEND", "BACKEND"}:
            states[cells["svname"]] = cells["status"]
    return states


@contextmanager
def haproxy(
    workdir: Path, backends: list[int], edits: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    front, stats = free_port(), free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(front, stats, backends, edits))
    log = (workdir / "haproxy.log").open("wb")
    proc = subprocess.Popen(
        [tool("haproxy"), "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    stats_url = f"http://127.0.0.1:{stats}/stats"
    try:
        wait_for(
            lambda: _all_up(stats_url, len(backends)),
            30,
            lambda: (workdir / "haproxy.log").read_text(),
        )
        yield f"http://127.0.0.1:{front}", stats_url
    finally:
        stop(proc)
        log.close()


def _all_up(stats_url: str, count: int) -> bool:
    try:
        states = server_states(stats_url)
    except httpx.HTTPError:
        return False
    return len(states) == count and all(s == "UP" for s in states.values())


class Load:
    """bench_gpu's hey run (POST /generate {}) against the balancer in a thread, for
    LOAD_SECONDS; `result` once the block has ended."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/generate?model=tiny"
        self.result: LoadResult | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        self.result = hey(self.url, CONNECTIONS, LOAD_SECONDS)

    def __enter__(self) -> Load:
        self.thread.start()
        time.sleep(1.5)  # the load is going before anything happens to the replicas
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()


def default_version(url: str) -> int | None:
    version = httpx.get(f"{url}/models/tiny", timeout=5).json()["default_version"]
    return int(version) if version is not None else None


def adapter_query(rule: dict[str, Any], pods: list[str]) -> str:
    """The rule's metricsQuery as prometheus-adapter fills it in for an HPA asking about
    these pods of one namespace (its <<.Series>>, <<.LabelMatchers>>, <<.GroupBy>>)."""
    series = adapter_series(rule)
    matchers = f'namespace="{NAMESPACE}",pod=~"{"|".join(pods)}"'
    filled = rule["metricsQuery"].replace("<<.Series>>", series)
    filled = filled.replace("<<.LabelMatchers>>", matchers)
    return str(filled.replace("<<.GroupBy>>", "pod"))


def scrape_config(replicas: list[Running], pods: list[str]) -> dict[str, Any]:
    """One job, one target per replica, labelled as the Prometheus Operator labels pods."""
    targets = [
        {"targets": [r.url.removeprefix("http://")], "labels": {"namespace": NAMESPACE, "pod": p}}
        for r, p in zip(replicas, pods, strict=True)
    ]
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "dcgan", "static_configs": targets}],
    }


def add_version(models: Path, version: int) -> None:
    """Export into a staging folder, then one rename: replicas never see half a model."""
    staging = models.parent / "staging"
    made = make_tiny_model(staging, "tiny", version, seed=version)
    made.rename(models / "tiny" / str(version))
    shutil.rmtree(staging)


@pytest.mark.slow
def test_replicas_restart_and_reload_under_load_without_a_failed_request(
    tmp_path: Path,
) -> None:
    for name in ("haproxy", "hey", "prometheus"):
        tool(name)
    models = tmp_path / "models"
    make_tiny_model(models, "tiny", 1)
    ports = [free_port() for _ in range(REPLICAS)]
    pods = [f"dcgan-{i}" for i in range(REPLICAS)]
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(running_server(models, REPLICA_ENV, port)) for port in ports
        ]
        prom = stack.enter_context(prometheus(scrape_config(replicas, pods), tmp_path))
        balancer, stats = stack.enter_context(haproxy(tmp_path, ports))

        # (a) SIGTERM one replica under load; it drains, exits 0, and is started again
        with Load(balancer) as load:
            replicas[1].proc.terminate()
            assert replicas[1].proc.wait(15) == 0, replicas[1].output()
            wait_for(lambda: server_states(stats)["dcgan2"] == "DOWN", 10)
            replicas[1] = stack.enter_context(running_server(models, REPLICA_ENV, ports[1]))
            wait_for(lambda: _all_up(stats, REPLICAS), 20, lambda: server_states(stats))
        restart = load.result
        assert restart is not None and restart.requests_per_s > 0, restart
        assert restart.non_200 == 0, restart

        # (b) a new version lands in the shared folder; every replica reloads it
        with Load(balancer) as load:
            add_version(models, 2)
            for replica in replicas:
                wait_for(lambda r=replica: default_version(r.url) == 2, 20)
        rollout = load.result
        assert rollout is not None and rollout.requests_per_s > 0, rollout
        assert rollout.non_200 == 0, rollout

        # the same seed: the same bytes from every replica, and through the balancer
        bodies = {
            httpx.post(f"{url}/generate?model=tiny&version=2", json={"seed": 7}, timeout=10).content
            for url in [r.url for r in replicas] + [balancer] * 3
        }
        assert len(bodies) == 1

        # the HPA metric, as the adapter asks Prometheus for it: one value per replica
        for rule in adapter_rules():
            promql = adapter_query(rule, pods)
            series = wait_for(lambda q=promql: _per_pod(prom, q, len(pods)), 30)
            assert {s["metric"]["pod"] for s in series} == set(pods), promql
            assert all(float(s["value"][1]) >= 0 for s in series)
        # the in-flight gauge saw the load: at 8 connections some scrape caught requests
        in_flight = f'dcgan_http_requests_in_flight{{namespace="{NAMESPACE}"}}'
        busiest = query(prom, f"max_over_time({in_flight}[5m])")
        assert max(float(s["value"][1]) for s in busiest) >= 1


def _per_pod(prom: str, promql: str, count: int) -> list[dict[str, Any]] | None:
    series = query(prom, promql)
    return series if len(series) == count else None


def test_haproxy_config_is_valid_and_lists_three_replicas(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(free_port(), free_port(), [free_port() for _ in range(3)]))
    check = subprocess.run(
        [tool("haproxy"), "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    text = HAPROXY_CFG.read_text()
    assert re.search(r"option httpchk GET /readyz", text)
    assert len(re.findall(r"^\s+server dcgan\d 127\.0\.0\.1:800\d check$", text, re.M)) == 3
