"""OpenTelemetry traces: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the ``otel`` extra).

With tracing on, every request gets a server span that continues an incoming W3C
``traceparent``, and under it:

* ``queue wait``: from the job's enqueue to the start of its batch;
* ``inference``: the batch's generator run, with ``dcgan.batch.size``, linked to the one
  ``generator batch`` span that the batch records once, itself linked to every request it
  served (a batch serves many traces: links, not parents);
* ``encode``: turning the request's images into its response body.

The exporter is OTLP over HTTP, configured by the standard variables (endpoint, headers,
``OTEL_SERVICE_NAME``, default ``dcgan-serve``), batched off the request path by the SDK's
BatchSpanProcessor. With tracing off nothing here runs but one context-variable read per
job (``current``), and the opentelemetry packages are not even imported.

Span times are wall-clock nanoseconds recorded where the work happens (the event loop, the
batch's thread, the render pool), so a span can be made after the fact with its real start.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("service.tracing")  # not __name__: the name log lines always had
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
DEFAULT_SERVICE_NAME = "dcgan-serve"

_current: ContextVar[RequestTrace | None] = ContextVar("dcgan_request_trace", default=None)


def current() -> RequestTrace | None:
    """The trace of the request being served in this context (None: not traced)."""
    return _current.get()


def now_ns() -> int:
    return time.time_ns()


@dataclass(slots=True)
class RequestTrace:
    """One request's server span, and the tracer that records its children."""

    tracer: Any
    span: Any
    token: Any = None  # restores the context variable when the request ends

    @property
    def trace_id(self) -> str:
        return f"{self.span.get_span_context().trace_id:032x}"

    def child(
        self,
        name: str,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, Any] | None = None,
        links: Iterable[Any] = (),
    ) -> None:
        """A finished child span of the request's span (callable from any thread)."""
        from opentelemetry.trace import set_span_in_context

        span = self.tracer.start_span(
            name,
            context=set_span_in_context(self.span),
            start_time=start_ns,
            attributes=dict(attributes or {}),
            links=list(links),
        )
        span.end(end_time=end_ns)


def record_batch(
    traces: list[RequestTrace], model: str, size: int, start_ns: int, end_ns: int
) -> None:
    """The batch's ``generator batch`` span (linked to each request's span) and each traced
    request's ``inference`` child (linked back to it)."""
    if not traces:
        return
    from opentelemetry.trace import Link

    attributes = {"dcgan.model": model, "dcgan.batch.size": size}
    batch = traces[0].tracer.start_span(
        "generator batch",
        start_time=start_ns,
        attributes={**attributes, "dcgan.batch.requests": len(traces)},
        links=[Link(t.span.get_span_context()) for t in traces],
    )
    batch.end(end_time=end_ns)
    back = [Link(batch.get_span_context())]
    for trace in traces:
        trace.child("inference", start_ns, end_ns, attributes, back)


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Tracing:
    """The server spans: made by the middleware, one per request."""

    def __init__(self, tracer: Any, provider: Any) -> None:
        self.tracer, self.provider = tracer, provider

    def start(self, scope: Mapping[str, Any]) -> RequestTrace:
        """The request's server span, continuing the caller's ``traceparent``, made current."""
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        span = self.tracer.start_span(
            f"{scope['method']} {scope['path']}",
            context=extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        )
        trace = RequestTrace(self.tracer, span)
        trace.token = _current.set(trace)
        return trace

    def finish(self, trace: RequestTrace, route: str | None, status: int, model: str) -> None:
        span = trace.span
        if route is not None:  # the template names the span: bounded, like the metrics
            span.update_name(f"{span.name.split(' ', 1)[0]} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if model:
            span.set_attribute("dcgan.model", model)
        if status >= 500:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR))
        span.end()
        _current.reset(trace.token)

    def shutdown(self) -> None:
        """Export what is buffered (at server shutdown)."""
        self.provider.shutdown()


def setup(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """Tracing as the standard variables configure it, or None when they do not ask for it
    (or the ``otel`` extra is not installed: then one error line says what to install)."""
    if not endpoint_configured(environ):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.error(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed (%s): "
            "pip install 'dcgan-serve[otel]'; serving without traces",
            exc.name,
        )
        return None
    name = environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    endpoint = next(environ[v] for v in ENDPOINT_VARIABLES if environ.get(v, "").strip())
    log.info("tracing on: OTLP/HTTP to %s as service %s", endpoint, name)
    return Tracing(provider.get_tracer("dcgan-serve"), provider)
