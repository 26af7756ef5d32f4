"""deploy/prometheus: promtool checks, rule unit tests, a real Prometheus scraping the service."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from testkit.servers import free_port, wait_for
from tests.deploy.conftest import DEPLOY, tool
from tests.deploy.prometheus_server import prometheus, query
from tests.deploy.promql import exported_series_names, used_metric_names

PROMETHEUS_DIR = DEPLOY / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "alerts_test.yml"


def alert_rules() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULES.read_text())["groups"][0]["rules"])


def local_config(target: str) -> dict[str, Any]:
    """The repo's config with only the target changed and 1 s intervals, for a test run."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["scrape_configs"][0]["static_configs"] = [{"targets": [target]}]
    config["rule_files"] = [str(RULES)]
    return dict(config)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS_DIR
    )


def test_promtool_accepts_the_config_and_its_rule_file() -> None:
    result = promtool("check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_promtool_accepts_the_alerting_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_issue_s_four_alerts_exist() -> None:
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    assert {
        "DCGANServiceDown",
        "DCGANHigh5xxRatio",
        "DCGANHighP99Latency",
        "DCGANQueueSaturated",
    } <= names
    assert all(rule.get("for") and rule["labels"].get("severity") for rule in rules)


def test_compose_config_scrapes_the_service_every_5_s() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["global"]["scrape_interval"] == "5s"
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "dcgan"
    assert job["static_configs"] == [{"targets": ["service:8000"]}]


def test_alerts_use_only_metrics_the_service_exports(service_url: str) -> None:
    exported = exported_series_names(httpx.get(f"{service_url}/metrics").text)
    for rule in alert_rules():
        unknown = used_metric_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} uses {unknown}, not exported"


# ---- a real Prometheus ------------------------------------------------------------------


def test_real_prometheus_scrapes_counter_and_histogram_with_labels(
    service_url: str, tmp_path: Path
) -> None:
    """The repo's config with only the target and interval changed, against a live service."""
    with prometheus(local_config(service_url.removeprefix("http://")), tmp_path) as prom:
        for seed in range(5):
            httpx.post(f"{service_url}/generate?model=tiny", json={"seed": seed}).raise_for_status()
        assert httpx.post(f"{service_url}/generate?model=nope").status_code == 404
        ok = 'dcgan_http_requests_total{job="dcgan", endpoint="/generate", status="200"}'
        series = wait_for(
            lambda: query(prom, f"{ok} >= 8"),  # 3 from the fixture + 5 here
            30,
            lambda: query(prom, "dcgan_http_requests_total"),
        )
        assert series[0]["metric"]["model"] == "tiny"
        assert series[0]["metric"]["instance"] == service_url.removeprefix("http://")

        not_found = wait_for(lambda: query(prom, 'dcgan_http_requests_total{status="404"}'), 15)
        assert not_found[0]["metric"]["endpoint"] == "/generate"

        buckets = query(
            prom, 'dcgan_http_request_duration_seconds_bucket{endpoint="/generate", status="200"}'
        )
        bounds = {b["metric"]["le"] for b in buckets}
        assert {"0.001", "0.1", "1.0", "+Inf"} <= bounds
        assert {b["metric"]["model"] for b in buckets} == {"tiny"}
        p99 = query(
            prom,
            "histogram_quantile(0.99, sum by (le) "
            '(dcgan_http_request_duration_seconds_bucket{endpoint="/generate"}))',
        )
        assert 0 < float(p99[0]["value"][1]) < 10

        assert float(query(prom, 'up{job="dcgan"}')[0]["value"][1]) == 1

        def evaluated_rules() -> list[dict[str, Any]] | None:
            groups = httpx.get(f"{prom}/api/v1/rules").json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(r["health"] != "unknown" for r in rules) else None

        rules = wait_for(evaluated_rules, 15)
        assert len(rules) == len(alert_rules())
        assert all(r["health"] == "ok" for r in rules), rules


def test_service_down_alert_goes_pending_when_the_target_is_gone(tmp_path: Path) -> None:
    """Nothing listens on the target: `up` is 0 and the alert waits out its `for: 1m`."""
    with prometheus(local_config(f"127.0.0.1:{free_port()}"), tmp_path) as prom:
        alerts = wait_for(lambda: httpx.get(f"{prom}/api/v1/alerts").json()["data"]["alerts"], 30)
        assert [a["labels"]["alertname"] for a in alerts] == ["DCGANServiceDown"]
        assert alerts[0]["state"] == "pending"
