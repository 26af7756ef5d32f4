"""Schemathesis over the served OpenAPI document: real servers, every operation fuzzed.

The server is a real ``python -m service`` process on 127.0.0.1 (models: a copy of the
session's tiny test models, default model ``tiny``). The document comes from its
``/openapi.json``; every operation but ``POST /admin/reload`` (it rescans the models folder:
fuzzing keeps away from it) gets a fixed number of generated requests, valid and invalid,
derandomized so a CI run is reproducible. Each response must:

- not be a server error: no 5xx, except a 503 where the operation documents one;
- use a documented status code, with a documented content type;
- match the documented schema for that status (errors: {"error": {"code", "message", "details"}}).

A second, shorter run against a server with DCGAN_API_KEY set (never sent) checks the 401s.

schemathesis' own pytest entry points are not used: ``schema.parametrize()`` needs the document
at import time (no server yet), and ``from_fixture`` does not run on pytest 9.2 (it sets
``node._nodeid``). Each operation runs as a plain Hypothesis test over
``operation.as_strategy(mode)``, and the failures of all operations are reported together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from testkit.servers import server

POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
MAX_EXAMPLES = 25  # generated requests per operation and run
EXCLUDED = {"POST /admin/reload"}  # reloads the models: never fuzzed
# Free-form model names are nearly always unknown (404): operations that name a model also get
# runs pinned to a real one, so generated parameters and bodies reach the models: two that
# serve (RGB and grayscale) and one that failed to load (its documented 503).
SERVED = [("tiny", 2), ("gray", 1), ("corrupt", 1)]
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}  # service.api.errors.ErrorResponse
PROTOCOL_ERROR_REF = {"$ref": "#/components/schemas/ProtocolError"}  # {"error": "message"}


def not_an_undocumented_server_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """not_a_server_error, but a 503 passes where the operation documents it (overloaded, model
    unavailable, not ready, shutting down): that is the service asking the client to retry."""
    if response.status_code == 503 and "503" in case.operation.responses.status_codes:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_an_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(
    url: str,
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    max_examples: int,
    **fixed: Any,
) -> None:
    """Generated requests for one operation (``fixed``: values not generated, as in
    ``as_strategy``); raises on the first (shrunk) failing request."""
    session = requests.Session()

    @settings(
        max_examples=max_examples,
        derandomize=True,  # the same requests on every run
        database=None,
        deadline=None,  # a real server on a loaded CI machine: no per-example time limit
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=url, session=session, checks=CHECKS, timeout=10)

    with session:
        run()


def error_documentation_problems(document: dict[str, Any]) -> list[str]:
    """Error responses that do not document the shared error body, or are not documented.

    Schema conformance alone misses some: FastAPI's default 422 schema (HTTPValidationError)
    makes ``detail`` optional, so the service's error body passes it.
    """
    problems = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            label = f"{method.upper()} {path}"
            if label in EXCLUDED:
                continue
            responses = op["responses"]
            # the Open Inference Protocol's routes: its own error body, and 400 for a bad request
            protocol = path == "/v2" or path.startswith("/v2/")
            ref, bad_request = (PROTOCOL_ERROR_REF, "400") if protocol else (ERROR_REF, "422")
            for status, response in responses.items():
                content = response.get("content", {})
                if status[0] in "45" and content != {"application/json": {"schema": ref}}:
                    problems.append(f"{label} {status}: documents {content}, not {ref}")
            if op.get("security") and "401" not in responses:
                problems.append(f"{label} takes an API key but does not document 401")
            if op.get("requestBody") and bad_request not in responses:
                problems.append(f"{label} takes a body but does not document {bad_request}")
            if not protocol and op.get("parameters") and "422" not in responses:
                problems.append(f"{label} takes parameters but does not document 422")
    return problems


def fuzz_document(url: str, *, max_examples: int, pinned: bool) -> list[str]:
    """Fuzz every operation of the server's document but EXCLUDED; the failures, reported."""
    assert url.startswith("http://127.0.0.1:")
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=10)
    failures = error_documentation_problems(schema.raw_schema)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result.err()}"
        operations.append(result.ok())
    labels = {op.label for op in operations}
    assert labels >= EXCLUDED, "an excluded operation is gone: update EXCLUDED"
    assert "GET /metrics" not in labels
    assert len(labels - EXCLUDED) >= 6, f"too few operations in the document: {labels}"
    for operation in operations:
        if operation.label in EXCLUDED:
            continue
        runs: list[tuple[schemathesis.GenerationMode, dict[str, Any]]] = [
            (POSITIVE, {}),
            (NEGATIVE, {}),
        ]
        for name, version in SERVED if pinned else []:
            if "model" in operation.query:
                runs.append((POSITIVE, {"query": {"model": name, "version": version}}))
            if "name" in operation.path_parameters:
                runs.append((POSITIVE, {"path_parameters": {"name": name}}))
        for mode, fixed in runs:
            try:
                fuzz(url, operation, mode, max_examples, **fixed)
            except Unsatisfiable:
                # nothing to make invalid (no parameters, no body): the positive run covers it
                assert mode is NEGATIVE, operation.label
            except (Exception, schemathesis.errors.FailureGroup) as exc:
                failures.append(f"{operation.label} ({mode.value} data, {fixed}):\n{exc}")
    return failures


def test_every_operation_conforms_to_its_openapi_document(models_dir: Path) -> None:
    with server(models_dir, env={"DCGAN_DEFAULT_MODEL": "tiny"}) as url:
        failures = fuzz_document(url, max_examples=MAX_EXAMPLES, pinned=True)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_keyed_server_refusals_conform_to_the_document(models_dir: Path) -> None:
    """With DCGAN_API_KEY set and never sent, keyed operations answer the documented 401."""
    env = {"DCGAN_DEFAULT_MODEL": "tiny", "DCGAN_API_KEY": "fuzz-test-key"}
    with server(models_dir, env=env) as url:
        assert httpx.get(f"{url}/models", timeout=10).status_code == 401
        failures = fuzz_document(url, max_examples=5, pinned=False)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
