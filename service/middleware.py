"""The one pure ASGI middleware: request id, body cap, early 503, metrics and access log.

Pure ASGI (no ``BaseHTTPMiddleware``): it wraps ``send`` to see the status and adds no
task or threadpool hop per request. Work it can refuse cheaply it refuses before the body
is read: a declared body over DCGAN_MAX_BODY_BYTES (413), and a generation request for a
model whose queue is full (503 with Retry-After). A streamed body that grows past the cap
is cut off with 413 as it arrives. An unexpected exception still gets a JSON 500 and an
access-log line.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body
from service.lifecycle import ModelManager
from service.metrics import Metrics

access_log = logging.getLogger("service.access")
log = logging.getLogger(__name__)
GENERATION_PATHS = frozenset({"/generate", "/interpolate"})


def _request_id(raw: str) -> str:
    ok = 0 < len(raw) <= 64 and raw.replace("-", "").isalnum() and raw.isascii()
    return raw if ok else uuid.uuid4().hex


class ServiceMiddleware:
    def __init__(
        self, app: ASGIApp, *, manager: ModelManager, metrics: Metrics, max_body_bytes: int
    ) -> None:
        self.app, self.manager, self.metrics = app, manager, metrics
        self.max_body_bytes = max_body_bytes
        self.pid = os.getpid()  # which worker answered, when there are several

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

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            early = self._early_response(scope, headers)
            if early is not None:
                await early(scope, receive, send_with_id)
            else:
                await self.app(scope, self._capped(receive), send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise  # the status line is out: nothing better to send
            await JSONResponse(error_body("internal", "internal server error"), 500)(
                scope, receive, send_with_id
            )
        finally:
            if counted:
                self.metrics.in_flight.dec()
            self._observe(scope, state, status, time.perf_counter() - start, rid)

    def _early_response(self, scope: Scope, headers: dict[bytes, bytes]) -> JSONResponse | None:
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return self._too_large()
        if scope["path"] in GENERATION_PATHS:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            retry = self.manager.saturated(query.get("model", [None])[0])
            if retry is not None:
                self.metrics.rejected.labels(
                    query.get("model", [self.manager.default_model()])[0], "queue_full"
                ).inc()
                return JSONResponse(
                    error_body(
                        "overloaded",
                        "too many requests waiting; retry shortly",
                        {"retry_after_s": retry},
                    ),
                    503,
                    {"Retry-After": str(retry)},
                )
        return None

    def _too_large(self) -> JSONResponse:
        return JSONResponse(
            error_body(
                "body_too_large",
                f"request body exceeds DCGAN_MAX_BODY_BYTES={self.max_body_bytes} bytes",
                {"max_body_bytes": self.max_body_bytes},
            ),
            413,
        )

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
        self, scope: Scope, state: dict[str, Any], status: int, elapsed: float, rid: str
    ) -> None:
        route = scope.get("route")
        # the route template, never the raw URL (bounded label values)
        endpoint = getattr(route, "path", None) or (
            scope["path"] if scope["path"] in GENERATION_PATHS else "unmatched"
        )
        model = state.get("model", "")  # set only once a model resolved
        labels = (endpoint, model, str(status))
        if endpoint != "/metrics":
            self.metrics.requests.labels(*labels).inc()
            self.metrics.request_duration.labels(*labels).observe(elapsed)
        access_log.info(
            json.dumps(
                {
                    "request_id": rid,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_s": round(elapsed, 5),
                    "model": model,
                    "pid": self.pid,
                }
            )
        )
