"""Schemathesis over the served OpenAPI document: a real server, every operation fuzzed.

The server is a real ``python -m service`` process on 127.0.0.1 (models: a copy of the
session's tiny test models, default model ``tiny``, no API key). The document comes from its
``/openapi.json``; every operation but ``POST /admin/reload`` (it rescans the models folder:
fuzzing keeps away from it) gets a fixed number of generated requests, valid and invalid,
derandomized so a CI run is reproducible. Each response must:

- not be a server error: no 5xx, except a 503 where the operation documents one;
- use a documented status code, with a documented content type;
- match the documented schema for that status (errors: {"error": {"code", "message", "details"}}).

schemathesis' own pytest entry points are not used: ``schema.parametrize()`` needs the document
at import time (no server yet), and ``from_fixture`` does not run on pytest 9.2 (it sets
``node._nodeid``). Each operation runs as a plain Hypothesis test over
``operation.as_strategy(mode)``, and the failures of all operations are reported together.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import server

MAX_EXAMPLES = 25  # generated requests per operation and run
EXCLUDED = {"POST /admin/reload"}  # reloads the models: never fuzzed
# Free-form model names are nearly always unknown (404): generation operations also get runs
# pinned to served versions, so the generated parameters and bodies reach the models.
SERVED = [{"model": "tiny", "version": 2}, {"model": "gray", "version": 1}]


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
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same requests on every run
    database=None,
    deadline=None,  # a real server on a loaded CI machine: no per-example time limit
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    query: dict[str, object] | None = None,
) -> None:
    """Generated requests for one operation; raises on the first (shrunk) failing one."""
    session = requests.Session()

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode, query=query))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(session=session, checks=CHECKS, timeout=10)

    with session:
        run()


def test_every_operation_conforms_to_its_openapi_document(models_dir: Path) -> None:
    with server(models_dir, env={"DCGAN_DEFAULT_MODEL": "tiny"}) as url:
        assert url.startswith("http://127.0.0.1:")
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=10)
        operations = [result.ok() for result in schema.get_all_operations()]
        labels = {op.label for op in operations}
        assert labels >= EXCLUDED, "an excluded operation is gone: update EXCLUDED"
        assert "GET /metrics" not in labels
        failures: list[str] = []
        fuzzed = 0
        for operation in operations:
            if operation.label in EXCLUDED:
                continue
            fuzzed += 1
            runs: list[tuple[schemathesis.GenerationMode, dict[str, object] | None]] = [
                (schemathesis.GenerationMode.POSITIVE, None),
                (schemathesis.GenerationMode.NEGATIVE, None),
            ]
            if "model" in operation.query:
                runs += [(schemathesis.GenerationMode.POSITIVE, query) for query in SERVED]
            for mode, query in runs:
                try:
                    fuzz(operation, mode, query)
                except Unsatisfiable:
                    # nothing to make invalid (no parameters, no body): the positive run covers it
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                except (Exception, schemathesis.errors.FailureGroup) as exc:
                    failures.append(f"{operation.label} ({mode.value} data, {query}):\n{exc}")
        assert fuzzed >= 6, f"only {fuzzed} operations found in the document"
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
