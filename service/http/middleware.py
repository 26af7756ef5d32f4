"""The one pure ASGI middleware, the app's outermost layer: request id, body cap, the hot
routes, metrics and access log.

Pure ASGI (no ``BaseHTTPMiddleware``): it wraps ``send`` to see the status and adds no
task or threadpool hop per request. A declared body over DCGAN_MAX_BODY_BYTES is refused
(413) before it is read; a streamed body that grows past the cap is cut off with 413 as it
arrives. The hot routes (service.api.fastpath) are served from here, without FastAPI's
router and middleware; every other request goes down the FastAPI stack. An unexpected
exception still gets a JSON 500 and an access-log line. Per request it costs a few label
lookups (children cached) and, only when the access log is on, one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_payload
from service.api.fastpath import HOT_MATCH, HotMatch, HotRoutes, body_too_large
from service.core.metrics import Metrics
from service.core.tracing import RequestTrace, Tracing

access_log = logging.getLogger("service.access")
UNTRACED = frozenset(
    {"/metrics", "/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/favicon.ico"}
)
log = logging.getLogger("service.middleware")  # not __name__: the name log lines always had


_ids = random.Random()  # seeded from the OS once: uuid4() reads OS entropy per request


def _request_id(raw: str) -> str:
    """The client's X-Request-Id when it is sane, else 128 random bits in hex (uuid4's form)."""
    ok = 0 < len(raw) <= 64 and raw.replace("-", "").isalnum() and raw.isascii()
    return raw if ok else f"{_ids.getrandbits(128):032x}"


class ServiceMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hot: HotRoutes,
        metrics: Metrics,
        max_body_bytes: int,
        tracing: Tracing | None = None,
    ) -> None:
        self.app, self.hot, self.metrics, self.tracing = app, hot, metrics, tracing
        self.max_body_bytes = max_body_bytes
        self.pid = os.getpid()  # which worker answered, when there are several
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}  # label children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope["headers"])
        rid = _request_id(headers.get(b"x-request-id", b"").decode("latin-1"))
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500
        started = False
        # a scrape must not count itself: /metrics would never read 0 in flight
        counted = scope["path"] != "/metrics"
        if counted:
            self.metrics.in_flight.inc()
        # probes and scrapes would be most of the traces and tell nothing
        traced = self.tracing is not None and scope["path"] not in UNTRACED
        trace = self.tracing.start(scope) if traced else None  # type: ignore[union-attr]

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self._route(scope, receive, send_with_id, headers.get(b"content-length", b""))
        except asyncio.CancelledError:
            # uvicorn cancels the requests still running when DCGAN_SHUTDOWN_GRACE_S is over;
            # left alone, the client would get uvicorn's plain-text 500. The documented 503
            # goes out instead (the task ends right after: nothing else awaits it), and the
            # request's job, if any, was told to stop (responses.run_job).
            if started:
                raise
            await JSONResponse(
                error_payload(scope["path"], "shutting_down", "the server is shutting down"),
                503,
                {"Retry-After": "1", "Connection": "close"},
            )(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise  # the status line is out: nothing better to send
            body = error_payload(scope["path"], "internal", "internal server error")
            await JSONResponse(body, 500)(scope, receive, send_with_id)
        finally:
            if counted:
                self.metrics.in_flight.dec()
            if trace is not None:
                route = getattr(scope.get("route"), "path", None)
                self.tracing.finish(trace, route, status, state.get("model", ""))  # type: ignore[union-attr]
            self._observe(scope, state, status, time.perf_counter() - start, rid, trace)

    async def _route(self, scope: Scope, receive: Receive, send: Send, declared: bytes) -> None:
        """A 413 for a declared body over the cap, else the hot route or FastAPI's stack."""
        # matched by ServiceApp already (HOT_MATCH, None for other routes), or here
        hot: HotMatch | None = scope[HOT_MATCH] if HOT_MATCH in scope else self.hot.match(scope)
        if hot is not None:
            scope["route"] = hot[0].route  # labels the metrics, even for an early 413
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope["path"])(scope, receive, send)
        elif hot is not None:
            # the hot handler reads the body with the same cap (fastpath.Call.body)
            await self.hot.serve(hot[0], hot[1], scope, receive, send)
        else:
            await self.app(scope, self._capped(receive), send)

    def _too_large(self, path: str) -> JSONResponse:
        error = body_too_large(self.max_body_bytes)
        body = error_payload(path, error.code, error.message, error.details)
        return JSONResponse(body, error.status)

    def _capped(self, receive: Receive) -> Receive:
        """A receive that stops a body (say, chunked) at the cap instead of buffering it."""
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # FastAPI passes HTTPException through from body reading
                    raise HTTPException(
                        413, f"request body exceeds DCGAN_MAX_BODY_BYTES={self.max_body_bytes}"
                    )
            return message

        return capped

    def _observe(
        self,
        scope: Scope,
        state: dict[str, Any],
        status: int,
        elapsed: float,
        rid: str,
        trace: RequestTrace | None = None,
    ) -> None:
        route = scope.get("route")
        # the route template, never the raw URL (bounded label values)
        endpoint = getattr(route, "path", None) or "unmatched"
        model = state.get("model", "")  # set only once a model resolved
        if endpoint != "/metrics":
            labels = (endpoint, model, str(status))
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = (
                    self.metrics.requests.labels(*labels),
                    self.metrics.request_duration.labels(*labels),
                )
            series[0].inc()
            series[1].observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            line = {
                "request_id": rid,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_s": round(elapsed, 5),
                "model": model,
                "pid": self.pid,
            }
            if trace is not None:  # the line and the trace find each other
                line["trace_id"] = trace.trace_id
            access_log.info(json.dumps(line))
