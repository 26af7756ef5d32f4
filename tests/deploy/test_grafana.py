"""deploy/grafana: the dashboard parses, covers what operators watch, and uses real metrics."""

from __future__ import annotations

import json
from typing import Any

import httpx
import yaml

from tests.deploy.conftest import DEPLOY
from tests.deploy.promql import exported_series_names, used_metric_names

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "dcgan.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "dcgan.yml"


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def expressions() -> list[str]:
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard()["templating"]["list"]]
    return exprs


def test_dashboard_uses_only_metrics_the_running_service_exports(service_url: str) -> None:
    exported = exported_series_names(httpx.get(f"{service_url}/metrics").text)
    used = set().union(*(used_metric_names(e) for e in expressions()))
    assert used, "no dcgan_ metrics in the dashboard"
    assert not used - exported, f"not exported by the service: {sorted(used - exported)}"


def test_dashboard_has_the_panels_operators_need() -> None:
    exprs = "\n".join(expressions())
    # request rate by status, latency percentiles, batch sizes, queue depth, images/s, provider
    assert "sum by (status) (rate(dcgan_http_requests_total" in exprs
    assert all(f"histogram_quantile({q}" in exprs for q in ("0.5", "0.9", "0.99"))
    assert "dcgan_batch_size_images_bucket" in exprs
    assert "dcgan_queue_depth_requests" in exprs
    assert "rate(dcgan_images_generated_total" in exprs
    assert "dcgan_model_info" in exprs


def test_panels_point_at_the_provisioned_datasource() -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090"  # the compose service name
    for panel in dashboard()["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_provider_reads_the_mounted_folder() -> None:
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
