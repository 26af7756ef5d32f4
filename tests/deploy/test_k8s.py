"""deploy/k8s: every overlay renders with kustomize, validates against a pinned Kubernetes
version's schemas, and says what the service itself does (ports, probes, shutdown, metrics)."""

from __future__ import annotations

import copy
import functools
import json
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.core.settings import Settings
from testkit.images import image_environment
from tests.deploy.conftest import DEPLOY, ROOT, tool
from tests.deploy.promql import exported_series_names

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.32.0"  # the oldest release the manifests are checked against
OVERLAYS = ("overlays/cpu", "overlays/gpu", "training")
MODEL_COMPONENTS = ("components/models-volume", "components/models-init")
COMPONENTS = (*MODEL_COMPONENTS, "components/tracing")
ADAPTER_VALUES = K8S / "prometheus-adapter" / "values.yaml"
Doc = dict[str, Any]


def kustomize(directory: Path) -> str:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@functools.cache
def rendered(target: str) -> tuple[Doc, ...]:
    return tuple(d for d in yaml.safe_load_all(kustomize(K8S / target)) if d)


def with_component(tmp_path: Path, component: str) -> str:
    """The cpu overlay with a component added, as a user's overlay would add it (kustomize
    refuses absolute paths, so the tree is copied and the overlay sits inside it)."""
    tree = tmp_path / f"k8s-{Path(component).name}"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "mine"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": ["../cpu"], "components": [f"../../{component}"]})
    )
    return kustomize(overlay)


def one(docs: tuple[Doc, ...] | list[Doc], kind: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def container(docs: tuple[Doc, ...] | list[Doc]) -> Doc:
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(c)


def env_of(c: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", [])}


def validate(manifest: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "manifest.yaml"
    path.write_text(manifest)
    command = [tool("kubernetes-validate"), "-k", KUBERNETES_VERSION, "--strict", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


# ---- rendering and schemas --------------------------------------------------------------


@pytest.mark.parametrize("target", OVERLAYS)
def test_overlay_validates_against_the_pinned_kubernetes_schemas(
    target: str, tmp_path: Path
) -> None:
    result = validate(kustomize(K8S / target), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    # the two Prometheus Operator kinds have no schema there; tests below check them
    missing = [line for line in out.splitlines() if "find schema" in line]
    unknown = {line.split("kind ")[1].split()[0] for line in missing}
    assert unknown <= {"ServiceMonitor", "PrometheusRule"}, out
    assert "passed" in out


@pytest.mark.parametrize("component", MODEL_COMPONENTS)
def test_each_models_component_renders_and_validates(component: str, tmp_path: Path) -> None:
    manifest = with_component(tmp_path, component)
    result = validate(manifest, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in container(docs)["volumeMounts"]}
    assert mounts["/app/models"]["readOnly"] is True  # the server never writes models
    models = next(v for v in pod["volumes"] if v["name"] == mounts["/app/models"]["name"])
    if component.endswith("models-volume"):
        claim = one(docs, "PersistentVolumeClaim")
        assert models["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
        assert env_of(container(docs))["DCGAN_WATCH"] == "true"
    else:
        (init,) = pod["initContainers"]
        assert "emptyDir" in models
        assert {m["mountPath"] for m in init["volumeMounts"]} == {"/app/models"}


def test_the_tracing_component_sets_the_endpoint_and_opens_only_its_egress(
    tmp_path: Path,
) -> None:
    """Without it the base policy allows no egress, so exported spans would be dropped; with
    it the endpoint is set and the pods may reach that port and DNS, nothing more."""
    from urllib.parse import urlsplit

    base = rendered("overlays/cpu")
    assert env_of(container(base))["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""  # off by default
    assert one(base, "NetworkPolicy")["spec"]["egress"] == []
    manifest = with_component(tmp_path, "components/tracing")
    result = validate(manifest, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    endpoint = urlsplit(env_of(container(docs))["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.scheme == "http" and endpoint.port
    deployment = one(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["dcgan"] == one(base, "NetworkPolicy")  # the base policy is unchanged
    tracing = policies.pop("dcgan-tracing")
    assert tracing["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert tracing["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert tracing["spec"]["policyTypes"] == ["Egress"] and "ingress" not in tracing["spec"]
    opened = {
        (p["port"], p["protocol"]) for rule in tracing["spec"]["egress"] for p in rule["ports"]
    }
    # the collector's port (and namespace: the endpoint's host is <service>.<namespace>)
    assert opened == {(endpoint.port, "TCP"), (53, "UDP"), (53, "TCP")}
    (collector,) = [
        rule for rule in tracing["spec"]["egress"] if rule["ports"][0]["port"] == endpoint.port
    ]
    namespace = str(endpoint.hostname).split(".")[1]
    (peer,) = collector["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": namespace}


def test_the_validator_rejects_a_misspelt_field(tmp_path: Path) -> None:
    # the schema check above must be able to fail: `replica` is not a Deployment field
    docs = copy.deepcopy(list(rendered("overlays/cpu")))  # the cached render stays as it was
    one(docs, "Deployment")["spec"]["replica"] = 3
    result = validate(yaml.safe_dump_all(docs), tmp_path)
    assert result.returncode != 0, result.stdout


# ---- what the serving manifests say -------------------------------------------------------


@pytest.mark.parametrize("overlay", ["overlays/cpu", "overlays/gpu"])
def test_probes_ports_and_security_match_the_service(overlay: str) -> None:
    docs = rendered(overlay)
    c = container(docs)
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["http"]
    # host, port and models folder come from the image (the Dockerfile), set once there
    image = image_environment()
    assert port == int(image["DCGAN_PORT"]) and image["DCGAN_HOST"] == "0.0.0.0"
    assert not {"DCGAN_HOST", "DCGAN_PORT", "DCGAN_MODELS_DIR"} & set(env_of(c))
    for probe, path in (("startupProbe", "/readyz"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    security = c["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (Dockerfile)
    assert pod["automountServiceAccountToken"] is False
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    # with a read-only root, $HOME must be a writable volume
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert env_of(c)["HOME"] in mounts


def test_shutdown_timing_lets_every_request_finish() -> None:
    docs = rendered("overlays/cpu")
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    c = container(docs)
    sleep = c["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    grace = float(env_of(c).get("DCGAN_SHUTDOWN_GRACE_S", Settings().shutdown_grace_s))
    # kubelet: preStop, then SIGTERM, then SIGKILL at terminationGracePeriodSeconds
    assert pod["terminationGracePeriodSeconds"] >= int(sleep[1]) + grace + 5
    # the endpoints controller removes a terminating pod; the sleep covers its propagation,
    # which is at least one readiness period
    assert int(sleep[1]) >= c["readinessProbe"]["periodSeconds"]
    strategy = one(docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_service_pdb_and_hpa_point_at_the_deployment() -> None:
    docs = rendered("overlays/cpu")
    deployment = one(docs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    # the alert rules select job="dcgan": the ServiceMonitor's job label is the Service name
    assert service["metadata"]["name"] == "dcgan"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    monitor = one(docs, "ServiceMonitor")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    assert hpa["spec"]["minReplicas"] >= 2 > pdb["spec"]["maxUnavailable"]
    kinds = [m["type"] for m in hpa["spec"]["metrics"]]
    assert kinds == ["Pods", "Resource"]


def test_gpu_overlay_asks_for_a_gpu_and_refuses_the_cpu_fallback() -> None:
    cpu, gpu = container(rendered("overlays/cpu")), container(rendered("overlays/gpu"))
    assert cpu["image"].endswith(":cpu") and gpu["image"].endswith(":cuda")
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert env_of(gpu)["DCGAN_REQUIRE_CUDA"] == "true"
    assert "nvidia.com/gpu" not in str(cpu) and "DCGAN_REQUIRE_CUDA" not in env_of(cpu)
    pod = one(rendered("overlays/gpu"), "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    # the base's probes, security and shutdown survive the patch
    assert gpu["securityContext"] == cpu["securityContext"]
    assert gpu["lifecycle"] == cpu["lifecycle"]


# ---- metrics: the rules and the HPA's metric ------------------------------------------------


def adapter_rules() -> list[Doc]:
    return list(yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"])


def adapter_series(rule: Doc) -> str:
    """The series name a rule's seriesQuery selects."""
    return str(rule["seriesQuery"].split("{")[0].strip("'"))


def test_prometheusrule_is_the_alert_file_and_passes_promtool(tmp_path: Path) -> None:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rule = one(rendered("overlays/cpu"), "PrometheusRule")
    assert rule["spec"] == alerts
    generated = runpy.run_path(str(K8S / "render_prometheusrule.py"))["rendered"]()
    committed = (K8S / "base" / "prometheusrule.yaml").read_text()
    assert committed == generated, "run `make k8s-rules`"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run(
        [tool("promtool"), "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_hpa_metric_is_served_by_the_adapter_from_a_series_the_service_exports(
    service_url: str,
) -> None:
    exported = exported_series_names(httpx.get(f"{service_url}/metrics").text)
    served = {}
    for rule in adapter_rules():
        series = adapter_series(rule)
        assert series in exported, series
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
        served[rule["name"]["as"]] = rule
    for overlay in ("overlays/cpu", "overlays/gpu"):
        hpa = one(rendered(overlay), "HorizontalPodAutoscaler")
        pods = next(m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods")
        assert pods["metric"]["name"] in served


# ---- multi-node training -----------------------------------------------------------------


def test_training_job_meets_at_pod_0_of_its_own_headless_service() -> None:
    docs = rendered("training")
    job = one(docs, "Job")
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in c["args"] if "=" in a)
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(args["nnodes"])
    service = one(docs, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert pod["subdomain"] == service["metadata"]["name"]
    host, port = args["rdzv-endpoint"].split(":")
    # Indexed Job pods are named <job>-<index>, reachable as <pod>.<subdomain>
    assert host == f"{job['metadata']['name']}-0.{pod['subdomain']}"
    assert int(port) == service["spec"]["ports"][0]["port"]
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    assert args["rdzv-backend"] == "c10d"
    assert c["command"] == ["torchrun"]
    i = c["args"].index("-m")
    assert c["args"][i + 1 : i + 3] == ["training", "train"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/app/data", "/app/runs", "/dev/shm"} <= mounts
    volumes = [v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    claims = {v["claimName"] for v in volumes}
    pvcs = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert claims == {p["metadata"]["name"] for p in pvcs}
    assert all(p["spec"]["accessModes"] == ["ReadWriteMany"] for p in pvcs)


# ---- security scan ------------------------------------------------------------------------

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"  # make .venv-checkov (pins checkov)
CHECKOV_CONFIG = K8S / ".checkov.yaml"


def test_security_scan_passes_every_check_but_the_explained_skips(tmp_path: Path) -> None:
    checkov = str(CHECKOV) if CHECKOV.exists() else tool("checkov")
    scan = tmp_path / "scan"
    scan.mkdir()
    for target in OVERLAYS:
        (scan / f"{target.replace('/', '-')}.yaml").write_text(kustomize(K8S / target))
    for component in COMPONENTS:
        (scan / f"cpu-{Path(component).name}.yaml").write_text(with_component(tmp_path, component))
    # a canary the scan must catch, so a scan that checks nothing cannot pass
    deployment = one(rendered("overlays/cpu"), "Deployment")
    canary = copy.deepcopy(deployment)
    canary["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    (scan / "canary.yaml").write_text(yaml.safe_dump(canary))
    done = subprocess.run(
        [checkov, "-d", str(scan), "--config-file", str(CHECKOV_CONFIG), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    results = report["results"]["failed_checks"]
    failed = {(c["file_path"].lstrip("/"), c["check_id"]) for c in results}
    assert failed == {("canary.yaml", "CKV_K8S_16")}, failed  # CKV_K8S_16: privileged
    assert report["summary"]["passed"] > 200
    # every skipped check is explained in the config's comments
    config_text = CHECKOV_CONFIG.read_text()
    for check in yaml.safe_load(config_text)["skip-check"]:
        assert f"#   {check} " in config_text, check
