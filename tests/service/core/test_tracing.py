"""OpenTelemetry traces, end to end: a real dcgan-serve process exports OTLP/HTTP to a
receiver in the test, which decodes the real protobuf (opentelemetry-proto)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from service.core import tracing
from testkit.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver
from testkit.servers import Running, running_server

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@pytest.fixture(scope="module")
def traced(prepared_models: Path) -> Iterator[tuple[Running, Receiver]]:
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_SERVICE_NAME": "dcgan-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s, not 5 s
            "DCGAN_DEFAULT_MODEL": "tiny",
            "DCGAN_MAX_WAIT_MS": "200",  # concurrent requests share a batch
        }
        with running_server(prepared_models, env) as server:
            yield server, receiver


def spans_of(receiver: Receiver, trace_id: str, names: set[str]) -> dict[str, ReceivedSpan]:
    """The trace's spans once those named have arrived (the exporter batches)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = {s.name: s for s in receiver.snapshot() if s.trace_id == trace_id}
        if names <= set(found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"spans {names} of {trace_id} never arrived: {sorted(found)}")


def test_a_request_continues_the_callers_trace_with_queue_inference_and_encode(
    traced: tuple[Running, Receiver],
) -> None:
    server, receiver = traced
    r = httpx.post(
        f"{server.url}/generate?model=tiny",
        json={"seed": 7},
        headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
    )
    assert r.status_code == 200
    spans = spans_of(
        receiver, CALLER_TRACE, {"POST /generate", "queue wait", "inference", "encode"}
    )
    request = spans["POST /generate"]
    assert request.parent_span_id == CALLER_SPAN and request.kind == SERVER_KIND
    assert request.service_name == "dcgan-under-test"
    assert request.attributes["http.route"] == "/generate"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["dcgan.model"] == "tiny"
    for child in ("queue wait", "inference", "encode"):
        span = spans[child]
        assert span.parent_span_id == request.span_id, child
        assert request.start_ns <= span.start_ns <= span.end_ns <= request.end_ns, child
    # in order: the queue, then the batch, then this request's encoding
    assert spans["queue wait"].end_ns <= spans["inference"].start_ns
    assert spans["inference"].end_ns <= spans["encode"].start_ns
    assert spans["inference"].attributes["dcgan.batch.size"] == 1
    # the access log line names the trace
    deadline = time.monotonic() + 5
    while CALLER_TRACE not in server.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(x for x in server.output().splitlines() if CALLER_TRACE in x)
    assert json.loads(line)["trace_id"] == CALLER_TRACE


def test_one_batch_serves_several_traces_linked_both_ways(
    traced: tuple[Running, Receiver],
) -> None:
    server, receiver = traced
    traces = [f"{i + 1:032x}" for i in range(4)]

    def call(trace_id: str) -> int:
        parent = f"00-{trace_id}-{'1' * 16}-01"
        body = {"inputs": [{"name": "seed", "shape": [2], "datatype": "UINT64", "data": [1, 2]}]}
        r = httpx.post(
            f"{server.url}/v2/models/tiny/infer", json=body, headers={"traceparent": parent}
        )
        return r.status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(call, traces)) == [200] * 4
    found = [spans_of(receiver, t, {"inference"}) for t in traces]
    requests = {f["POST /v2/models/{name}/infer"].span_id: f for f in found}
    batches = {s.span_id: s for s in receiver.snapshot() if s.name == "generator batch"}
    for spans in found:
        inference = spans["inference"]
        ((batch_trace, batch_id),) = inference.links
        batch = batches[batch_id]
        assert batch.trace_id == batch_trace
        # the batch links every request it served, and its size counts their images
        served = {span_id for _, span_id in batch.links}
        assert spans["POST /v2/models/{name}/infer"].span_id in served
        assert batch.attributes["dcgan.batch.size"] == 2 * len(served)
        assert inference.attributes["dcgan.batch.size"] == batch.attributes["dcgan.batch.size"]
    assert len(requests) == 4
    shared = [b for b in batches.values() if len(b.links) > 1]
    assert shared, "4 concurrent requests with a 200 ms batching window shared no batch"


def test_probes_and_scrapes_are_not_traced(traced: tuple[Running, Receiver]) -> None:
    server, receiver = traced
    for path in ("/healthz", "/readyz", "/metrics", "/v2/health/ready"):
        httpx.get(server.url + path, headers={"traceparent": f"00-{'e' * 32}-{'1' * 16}-01"})
    httpx.get(server.url + "/models", headers={"traceparent": f"00-{'f' * 32}-{'1' * 16}-01"})
    spans_of(receiver, "f" * 32, {"GET /models"})  # this one is: the others had their chance
    assert [s for s in receiver.snapshot() if s.trace_id == "e" * 32] == []


def test_tracing_is_off_without_an_endpoint_and_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert tracing.setup({}) is None
    assert tracing.setup({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}) is None
    assert tracing.current() is None  # jobs made now carry no trace
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    assert tracing.setup({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}) is None
    assert "pip install 'dcgan-serve[otel]'" in caplog.text


def test_untraced_requests_make_no_spans(prepared_models: Path) -> None:
    """With the endpoint unset, a request records nothing (no provider, no exporter)."""
    from fastapi.testclient import TestClient

    from service.core.settings import Settings
    from service.http.app import create_app

    seen: list[Any] = []
    original = tracing.RequestTrace.child
    try:
        tracing.RequestTrace.child = lambda *a, **k: seen.append(a)  # type: ignore[method-assign]
        with TestClient(create_app(Settings(models_dir=prepared_models))) as client:
            assert client.post("/generate?model=tiny", json={"seed": 1}).status_code == 200
    finally:
        tracing.RequestTrace.child = original  # type: ignore[method-assign]
    assert seen == []
