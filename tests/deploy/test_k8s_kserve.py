"""deploy/k8s/kserve: the InferenceService renders with kustomize and validates against
KServe's CRD schema (a vendored subset, tests/deploy/schemas/). Its custom predictor speaks
the Open Inference Protocol (v2) and runs the pod of base/deployment.yaml: same image, env,
resources, security and shutdown, read from the rendered base so that the two cannot drift."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.images import image_environment
from testkit.tools import unavailable
from tests.deploy.test_k8s import K8S, Doc, env_of, one, rendered, validate

CRD_SCHEMA = Path(__file__).with_name("schemas") / "kserve_inferenceservice_v1beta1.yaml"
MODELS_VOLUME = K8S / "components" / "models-volume"
LIVE, READY = "/v2/health/live", "/v2/health/ready"  # the Open Inference Protocol's health
ISVC_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")  # KServe's IsvcNameFmt (webhook)


def isvc() -> Doc:
    return copy.deepcopy(one(rendered("kserve"), "InferenceService"))


def predictor_container(doc: Doc) -> Doc:
    (c,) = doc["spec"]["predictor"]["containers"]
    return dict(c)


def deployment() -> tuple[Doc, Doc]:
    """The cpu overlay's Deployment: its pod spec and its one container."""
    pod = one(rendered("overlays/cpu"), "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return pod, c


# ---- the CRD schema, applied as the API server applies it ---------------------------------


def strict(node: Doc) -> Doc:
    """A CRD's OpenAPI schema as the API server applies it on `kubectl apply` (field
    validation Strict, kubectl's default since 1.27): a field an object's `properties` do not
    name is an error, unless the object preserves unknown fields."""
    node = dict(node)
    if "properties" in node:
        node["properties"] = {k: strict(v) for k, v in node["properties"].items()}
        preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
        node.setdefault("additionalProperties", preserve)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = strict(node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            node[key] = [strict(s) for s in node[key]]
    return node


def list_type(validator: Any, kind: str, instance: Any, schema: Doc) -> Iterator[Any]:
    """x-kubernetes-list-type: a `map` list has one item per key (e.g. env by name), a `set`
    no item twice; the API server rejects duplicates."""
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "array") or kind not in ("map", "set"):
        return
    seen: list[Any]
    if kind == "map":
        keys = schema["x-kubernetes-list-map-keys"]
        fields = schema["items"].get("properties", {})
        seen = [
            tuple(item.get(k, fields.get(k, {}).get("default")) for k in keys) for item in instance
        ]
    else:
        seen = [json.dumps(item, sort_keys=True) for item in instance]
    for value in {v for v in seen if seen.count(v) > 1}:
        yield ValidationError(f"duplicate entries for {kind} key {value}")


@functools.cache
def crd_validator() -> Any:
    try:
        import jsonschema
    except ImportError:
        unavailable(
            "jsonschema not found: pip install kubernetes-validate (in the dev extra)",
            "DCGAN_REQUIRE_DEPLOY_TOOLS",
        )
    # OpenAPI 3.0 schemas are JSON Schema draft 4 with extensions (x-kubernetes-*)
    validator = jsonschema.validators.extend(
        jsonschema.Draft4Validator, {"x-kubernetes-list-type": list_type}
    )
    return validator(strict(yaml.safe_load(CRD_SCHEMA.read_text())))


def crd_errors(doc: Doc) -> list[str]:
    errors = crd_validator().iter_errors(doc)
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


# ---- rendering and schemas ------------------------------------------------------------------


def test_renders_and_its_kubernetes_objects_validate(tmp_path: Path) -> None:
    docs = rendered("kserve")
    assert sorted(d["kind"] for d in docs) == [
        "InferenceService",
        "Namespace",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
    ]
    namespace = one(docs, "Namespace")["metadata"]["name"]
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {namespace}
    result = validate(yaml.safe_dump_all(docs), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    # the Kubernetes schemas do not know the CRD; the next test checks it against KServe's
    missing = [line for line in out.splitlines() if "find schema" in line]
    assert {line.split("kind ")[1].split()[0] for line in missing} == {"InferenceService"}, out
    assert "passed" in out


def test_inferenceservice_validates_against_the_kserve_crd_schema() -> None:
    doc = isvc()
    assert doc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert doc["kind"] == "InferenceService"
    assert ISVC_NAME.fullmatch(doc["metadata"]["name"])
    assert crd_errors(doc) == []


def _misspelt(doc: Doc) -> None:
    c = doc["spec"]["predictor"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")


def _protocol_version(doc: Doc) -> None:
    # a field of predictor.model and the framework predictors, not of a custom predictor
    doc["spec"]["predictor"]["protocolVersion"] = "v2"


def _string_replicas(doc: Doc) -> None:
    doc["spec"]["predictor"]["minReplicas"] = "2"


def _gpu_metric(doc: Doc) -> None:
    doc["spec"]["predictor"]["scaleMetric"] = "gpu"


def _env_twice(doc: Doc) -> None:
    env = doc["spec"]["predictor"]["containers"][0]["env"]
    env.append(dict(env[0]))


def _unnamed_container(doc: Doc) -> None:
    del doc["spec"]["predictor"]["containers"][0]["name"]


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        pytest.param(_misspelt, "'readinesProbe' was unexpected", id="misspelt-field"),
        pytest.param(_protocol_version, "'protocolVersion' was unexpected", id="protocolVersion"),
        pytest.param(_string_replicas, "'2' is not of type 'integer'", id="wrong-type"),
        pytest.param(_gpu_metric, "'gpu' is not one of", id="not-in-enum"),
        pytest.param(_env_twice, "duplicate entries for map key ('PROTOCOL',)", id="env-twice"),
        pytest.param(_unnamed_container, "'name' is a required property", id="no-name"),
    ],
)
def test_the_crd_schema_check_rejects_a_broken_inferenceservice(
    breakage: Callable[[Doc], None], error: str
) -> None:
    # the check above must be able to fail, in each of the ways the API server would refuse
    doc = isvc()
    breakage(doc)
    errors = crd_errors(doc)
    assert any(error in e for e in errors), errors


# ---- what the InferenceService says -------------------------------------------------------


def test_custom_predictor_speaks_the_open_inference_protocol_on_the_service_port() -> None:
    doc = isvc()
    # Standard mode: a plain Deployment; Knative mode refuses the preStop hook below
    assert doc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    c = predictor_container(doc)
    assert c["name"] == "kserve-container"  # where KServe looks for a custom predictor
    # a custom predictor's protocol is its container's PROTOCOL (no protocolVersion field)
    assert env_of(c)["PROTOCOL"] == "v2"
    (port,) = c["ports"]
    assert port == {"name": "http1", "containerPort": 8000, "protocol": "TCP"}
    assert port["containerPort"] == int(image_environment()["DCGAN_PORT"])
    for probe, path in (("startupProbe", READY), ("readinessProbe", READY)):
        assert c[probe]["httpGet"]["path"] == path, probe
    assert c["livenessProbe"]["httpGet"]["path"] == LIVE
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["port"] in (port["containerPort"], port["name"]), probe


def test_the_probe_paths_are_open_routes_of_the_service(tmp_path: Path) -> None:
    """The probes call the service's own v2 health routes, without an API key (a kubelet
    sends none): 200 once a model is ready."""
    from fastapi.testclient import TestClient

    from service.core.settings import Settings
    from service.http.app import create_app
    from tests.helpers import make_tiny_model

    make_tiny_model(tmp_path, "tiny", 1)
    c = predictor_container(isvc())
    paths = {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    with TestClient(create_app(Settings(models_dir=tmp_path, api_key="k"))) as client:
        for path in sorted(paths):
            assert client.get(path).status_code == 200, path
        assert client.get("/v2/models/tiny").status_code == 401  # the rest keeps the key


def test_predictor_runs_the_pod_of_the_base_deployment() -> None:
    doc = isvc()
    predictor, c = doc["spec"]["predictor"], predictor_container(doc)
    pod, d = deployment()
    (base,) = one(rendered("base"), "Deployment")["spec"]["template"]["spec"]["containers"]
    # the same image (the repository of the base, the tag of the cpu overlay) and arguments
    assert c["image"].split(":")[0] == base["image"] and c["image"] == d["image"]
    for key in ("command", "args", "imagePullPolicy", "resources", "securityContext"):
        assert c.get(key) == base.get(key), key
    # the Deployment's env, the models volume's, and KServe's PROTOCOL; nothing else
    (patch,) = yaml.safe_load((MODELS_VOLUME / "deployment.yaml").read_text())["spec"]["template"][
        "spec"
    ]["containers"]
    assert env_of(c) == env_of(base) | env_of(patch) | {"PROTOCOL": "v2"}
    # tracing is documented and off (empty) by default, in both
    assert env_of(base)["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert env_of(c)["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    # the shutdown of base/deployment.yaml (test_k8s.py checks its timing) and the probes'
    for key in ("lifecycle", "startupProbe", "readinessProbe", "livenessProbe"):
        ours = {k: v for k, v in c[key].items() if k != "httpGet"}
        theirs = {k: v for k, v in base[key].items() if k != "httpGet"}
        assert ours == theirs, key
    for key in (
        "securityContext",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "terminationGracePeriodSeconds",
    ):
        assert predictor[key] == pod[key], key
    # $HOME on the same writable volume; the models read-only from the claim
    volumes = {v["name"]: v for v in predictor["volumes"]}
    for mount in d["volumeMounts"]:
        assert mount in c["volumeMounts"]
        assert volumes[mount["name"]] == next(
            v for v in pod["volumes"] if v["name"] == mount["name"]
        )
    (models,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/app/models"]
    assert models["readOnly"] is True  # the server never writes models
    claim = volumes[models["name"]]["persistentVolumeClaim"]
    pvc = one(rendered("kserve"), "PersistentVolumeClaim")
    assert claim["claimName"] == pvc["metadata"]["name"]
    component_pvc = yaml.safe_load((MODELS_VOLUME / "persistentvolumeclaim.yaml").read_text())
    assert pvc["spec"] == component_pvc["spec"]  # ReadOnlyMany, as the component's


def test_kserve_scales_as_the_hpa_does_on_cpu() -> None:
    predictor = isvc()["spec"]["predictor"]
    hpa = one(rendered("overlays/cpu"), "HorizontalPodAutoscaler")["spec"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (
        hpa["minReplicas"],
        hpa["maxReplicas"],
    )
    (cpu,) = [m["resource"] for m in hpa["metrics"] if m["type"] == "Resource"]
    assert cpu["name"] == predictor["scaleMetric"] == "cpu"
    assert predictor["scaleTarget"] == cpu["target"]["averageUtilization"]


def test_the_network_policy_and_disruption_budget_hold_the_predictor_pods() -> None:
    """KServe labels the pods it makes serving.kserve.io/inferenceservice: <name>; both
    select that, and only the predictor's port comes in (as base/ does for the Deployment)."""
    docs = rendered("kserve")
    doc = isvc()
    pods = {"serving.kserve.io/inferenceservice": doc["metadata"]["name"]}
    policy, budget = one(docs, "NetworkPolicy"), one(docs, "PodDisruptionBudget")
    assert policy["spec"]["podSelector"]["matchLabels"] == pods
    assert budget["spec"]["selector"]["matchLabels"] == pods
    (port,) = predictor_container(doc)["ports"]
    assert policy["spec"]["ingress"] == [
        {"ports": [{"port": port["containerPort"], "protocol": "TCP"}]}
    ]
    assert policy["spec"]["egress"] == [] and budget["spec"]["maxUnavailable"] == 1
