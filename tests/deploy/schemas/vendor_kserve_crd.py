r"""Writes kserve_inferenceservice_v1beta1.yaml: the subset of KServe's InferenceService CRD
schema that tests/deploy/test_k8s_kserve.py validates deploy/k8s/kserve against.

    TAG=v0.20.0 BASE=https://raw.githubusercontent.com/kserve/kserve
    curl -sL $BASE/$TAG/config/crd/full/serving.kserve.io_inferenceservices.yaml \
        | .venv/bin/python tests/deploy/schemas/vendor_kserve_crd.py $TAG <the tag's commit>

The subset is the v1beta1 openAPIV3Schema with two cuts, both of parts deploy/k8s/kserve does
not use: of `spec`, only `predictor` (no transformer, explainer, canary; no `status`), and of
the predictor, no `model`, framework predictors (sklearn, onnx, ...) or `workerSpec`: their
container schemas are most of the file, and a custom predictor is `containers`. Everything
kept is copied unchanged. A cut field is unknown to the subset, so using one fails the test
(re-vendor with it kept) rather than passing unchecked.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).with_name("kserve_inferenceservice_v1beta1.yaml")
SOURCE = "kserve/kserve config/crd/full/serving.kserve.io_inferenceservices.yaml"
CUT_FROM_PREDICTOR = (
    "model",
    "workerSpec",
    *("huggingface", "lightgbm", "onnx", "paddle", "pmml", "pytorch", "sklearn"),
    *("tensorflow", "triton", "xgboost"),
)


def subset(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    schema["properties"].pop("status")
    spec = schema["properties"]["spec"]
    spec["properties"] = {"predictor": spec["properties"]["predictor"]}
    predictor = spec["properties"]["predictor"]["properties"]
    for name in CUT_FROM_PREDICTOR:
        del predictor[name]
    return schema


def main(tag: str, commit: str) -> None:
    schema = subset(yaml.safe_load(sys.stdin))
    header = (
        "# The InferenceService (serving.kserve.io/v1beta1) openAPIV3Schema, a subset.\n"
        f"# Source: {SOURCE}\n# at KServe {tag}, commit {commit}.\n"
        "# Written by vendor_kserve_crd.py, whose docstring says what was cut and how to\n"
        "# refresh it. Apache-2.0, the KServe authors.\n"
    )
    OUT.write_text(header + yaml.safe_dump(schema, sort_keys=True, width=100))


if __name__ == "__main__":
    main(*sys.argv[1:3])
