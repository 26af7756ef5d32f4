"""docker-compose.yml (+ the GPU override): validated by docker-compose, then its content."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from testkit.images import image_environment
from tests.deploy.conftest import ROOT, tool

COMPOSE = ROOT / "docker-compose.yml"
GPU_OVERRIDE = ROOT / "docker-compose.gpu.yml"


def compose_config(*files: str) -> dict[str, Any]:
    args = [a for f in files for a in ("-f", f)]
    result = subprocess.run(
        [tool("docker-compose"), *args, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def test_compose_file_is_valid_and_starts_service_prometheus_grafana() -> None:
    config = compose_config("docker-compose.yml")
    assert set(config["services"]) == {"service", "prometheus", "grafana"}
    service = config["services"]["service"]
    assert service["build"]["target"] == "cpu"
    assert {"published": 8000, "target": 8000} in [
        {k: p[k] for k in ("published", "target")} for p in service["ports"]
    ]
    # the models folder is the image's (the Dockerfile sets it, once)
    inside = image_environment()["DCGAN_MODELS_DIR"]
    models = next(v for v in service["volumes"] if v.endswith(f":{inside}:ro"))
    assert models.startswith(str(ROOT / "models"))
    assert not {"DCGAN_HOST", "DCGAN_PORT", "DCGAN_MODELS_DIR"} & set(service["environment"])
    assert service["healthcheck"]["test"][-1] == "service.healthcheck"
    # tracing is off unless the caller's environment names a collector
    assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert service["restart"] == "unless-stopped"
    for name, svc in config["services"].items():
        assert svc["deploy"]["resources"]["limits"]["memory"], name


def test_every_image_is_pinned() -> None:
    for name, service in compose_config("docker-compose.yml")["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image}"


def test_prometheus_and_grafana_get_the_repo_config_read_only() -> None:
    services = compose_config("docker-compose.yml")["services"]
    assert f"{ROOT}/deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    grafana = services["grafana"]["volumes"]
    assert f"{ROOT}/deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert f"{ROOT}/deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana


def test_gpu_override_builds_cuda_and_reserves_a_gpu() -> None:
    service = compose_config("docker-compose.yml", "docker-compose.gpu.yml")["services"]["service"]
    assert service["build"]["target"] == "cuda"
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert service["environment"]["DCGAN_REQUIRE_CUDA"] == "true"
    # the override keeps the rest: same port, same read-only models mount
    assert any(v.endswith(":/app/models:ro") for v in service["volumes"])
