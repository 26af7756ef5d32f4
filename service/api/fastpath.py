"""The hot routes' request path: plain ASGI handlers, validators compiled once.

FastAPI solves every endpoint's dependencies per request (~45% of the event loop's busy time
on a small model, measured with py-spy) and builds Request and Response objects around a
handful of fields. The generating routes are too hot for that. Each is still declared as a
FastAPI route, whose signature is what ``/openapi.json`` documents, but the route is marked
:func:`served_by` a handler that does the same work as plain calls:

    query (one pydantic model, lax: query strings) → API key → model resolved and leased →
    queue-full check → body (one compiled TypeAdapter, strict JSON) → job → respond

The same pydantic models validate here and generate the document, and a test compares the
two. :class:`HotRoutes` finds a hot route with one dict lookup (or one regex for a path with
parameters) before FastAPI's router and middleware, so the documenting endpoints are never
called. Errors are :class:`service.api.errors.ApiError` and get the one JSON error shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.routing import get_route_path
from starlette.types import Receive, Scope, Send

from service.api.auth import key_problem
from service.api.deps import DEADLINE_MAX_MS
from service.api.errors import ApiError, error_body, validation_problems
from service.api.lookup import resolve
from service.api.responses import Reply, Services, overloaded
from service.inference.registry import ModelVersion
from service.runtime.lifecycle import ModelManager

Handler = Callable[["Call"], Awaitable[Reply]]
F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
DEADLINE_HEADER = b"x-request-timeout-ms"
HOT_MATCH = "dcgan.hot_route"  # scope key: the (route, path parameters) a request matched
_JSON = "application/json"


def served_by(handler: Handler) -> Callable[[F], F]:
    """Mark a FastAPI endpoint as the documentation of a hot route served by ``handler``."""

    def mark(endpoint: F) -> F:
        endpoint.hot_handler = handler  # type: ignore[attr-defined]
        return endpoint

    return mark


@dataclass(slots=True)
class Call:
    """One request on a hot route: the ASGI scope and receive, and the app's objects."""

    scope: Scope
    receive: Receive
    services: Services
    manager: ModelManager
    path_params: dict[str, str]

    def header(self, name: bytes) -> str | None:
        """The first value of a (lower-case) header, or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def query(self, model: type[M]) -> M:
        """The query string, validated by ``model`` (lax: the values are strings; the last
        value of a repeated name wins, as in Starlette); 422 naming every bad parameter."""
        raw = self.scope.get("query_string", b"").decode("latin-1")
        try:
            return model.model_validate(dict(parse_qsl(raw, keep_blank_values=True)))
        except ValidationError as exc:
            raise invalid(exc, "query") from None

    def path(self, model: type[M]) -> M:
        """The path parameters, validated by ``model``."""
        try:
            return model.model_validate(self.path_params)
        except ValidationError as exc:
            raise invalid(exc, "path") from None

    def deadline(self) -> float | None:
        """X-Request-Timeout-Ms as a time.monotonic() deadline (None: not set)."""
        raw = self.header(DEADLINE_HEADER)
        if raw is None:
            return None
        try:
            ms = _DEADLINE.validate_python(raw)
        except ValidationError as exc:
            raise invalid(exc, "header", "x-request-timeout-ms") from None
        return time.monotonic() + ms / 1000

    def require_key(self) -> None:
        settings = self.services.settings
        problem = key_problem(
            settings.api_key, self.header(b"x-api-key"), self.header(b"authorization")
        )
        if problem is not None:
            raise problem

    def refuse_if_saturated(self, name: str | None, version: int | None) -> None:
        """503 overloaded when the model's queue is full: before the body is read or the model
        leased, so a flood is refused at the least cost."""
        retry = self.manager.saturated(name, version)
        if retry is not None:
            label = name or self.manager.default_model()
            self.services.metrics.rejected.labels(label, "queue_full").inc()
            raise overloaded(retry)

    def model(self, name: str | None, version: int | None) -> Lease:
        """The version asked for, leased until the ``with`` block ends (resolved and leased
        with no await between: a reload cannot retire it in between)."""
        entry = resolve(self.manager, name, version)
        self.scope.setdefault("state", {})["model"] = entry.name  # the access log labels it
        self.manager.acquire(entry)
        return Lease(self.manager, entry)

    async def body(self) -> bytes:
        """The request body, cut off with 413 past DCGAN_MAX_BODY_BYTES as it arrives."""
        limit = self.services.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ApiError(499, "client_disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise body_too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def json_body(self, adapter: TypeAdapter[Any]) -> Any:
        """The body through ``adapter`` (strict JSON); empty: None. 400 if not UTF-8 text."""
        raw = await self.body()
        if not raw:
            return None
        try:
            return adapter.validate_json(raw)
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid" and not is_utf8(raw):
                raise ApiError(400, "invalid_body", "the request body is not UTF-8 text") from None
            raise invalid(exc, "body") from None


class Lease:
    """``with call.model(...) as entry:`` (a plain context manager: no generator per request)."""

    __slots__ = ("entry", "manager")

    def __init__(self, manager: ModelManager, entry: ModelVersion) -> None:
        self.manager, self.entry = manager, entry

    def __enter__(self) -> ModelVersion:
        return self.entry

    def __exit__(self, *exc: object) -> None:
        self.manager.release(self.entry)


# the header's documented range (service.api.deps.DeadlineHeader documents it)
_DEADLINE = TypeAdapter(Annotated[int, Field(ge=1, le=DEADLINE_MAX_MS)])


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def body_too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"request body exceeds DCGAN_MAX_BODY_BYTES={limit} bytes",
        {"max_body_bytes": limit},
    )


def invalid(exc: ValidationError, where: str, name: str | None = None) -> ApiError:
    """422 invalid_parameter, with FastAPI's ``loc`` (query/path/header/body, then the field;
    ``name`` for a single value)."""
    errors = [
        {**e, "loc": (where, *((name,) if name else e["loc"]))}
        for e in exc.errors(include_url=False)
    ]
    return validation_problems(errors)


# ---- sending --------------------------------------------------------------------------------


async def send_reply(send: Send, reply: Reply) -> None:
    headers = [(b"content-type", reply.media_type.encode())] if reply.status != 304 else []
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in reply.headers.items()]
    if reply.status != 304:
        headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def error_reply(exc: ApiError) -> Reply:
    body = json.dumps(error_body(exc.code, exc.message, exc.details)).encode()
    return Reply(body, _JSON, dict(exc.headers or {}), exc.status)


# ---- dispatch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HotRoute:
    route: APIRoute
    handler: Handler
    method: str


HotMatch = tuple[HotRoute, dict[str, str]]  # the route and its path parameters


class HotRoutes:
    """The hot routes of some routers, matched before FastAPI's router and middleware.

    The routers are included in the app without a prefix, so their templates are the app's.
    A matched request never reaches FastAPI: its documenting endpoint is never called."""

    def __init__(
        self, routers: Iterable[APIRouter], services: Services, manager: ModelManager
    ) -> None:
        self.services, self.manager = services, manager
        self.exact: dict[tuple[str, str], HotRoute] = {}
        self.patterns: list[HotRoute] = []
        for route in (r for router in routers for r in router.routes):
            handler = getattr(getattr(route, "endpoint", None), "hot_handler", None)
            if not isinstance(route, APIRoute) or handler is None:
                continue
            for method in route.methods or ():
                hot = HotRoute(route, handler, method)
                if route.param_convertors:
                    self.patterns.append(hot)
                else:
                    self.exact[(method, route.path)] = hot

    def match(self, scope: Scope) -> HotMatch | None:
        method, path = scope["method"], get_route_path(scope)
        hot = self.exact.get((method, path))
        if hot is not None:
            return hot, {}
        for hot in self.patterns:
            if hot.method == method and (found := hot.route.path_regex.match(path)):
                return hot, found.groupdict()
        return None

    async def serve(
        self, hot: HotRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["route"] = hot.route  # the metrics label it by its template
        call = Call(scope, receive, self.services, self.manager, params)
        try:
            reply = await hot.handler(call)
        except ApiError as exc:
            reply = error_reply(exc)
        await send_reply(send, reply)
