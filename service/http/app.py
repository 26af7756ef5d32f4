"""create_app(settings): wires the routes, the middleware and the model manager together."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from service import __version__
from service.api import (
    admin,
    docs,
    files,
    generate,
    inference_protocol,
    interpolate,
    operations,
    web,
)
from service.api.auth import ADMIN_KEY, API_KEY
from service.api.errors import install_error_handlers
from service.api.fastpath import HOT_MATCH, HotRoutes
from service.api.limits_doc import document_limits
from service.api.responses import Services
from service.core import tracing
from service.core.metrics import Metrics, build_metrics
from service.core.settings import Settings
from service.http import protocols
from service.http.middleware import ServiceMiddleware
from service.inference.cache import ResponseCache
from service.inference.registry import Registry
from service.inference.render_pool import RenderPool
from service.runtime.lifecycle import ModelManager


class ServiceApp(FastAPI):
    """FastAPI with :class:`ServiceMiddleware` outermost, in front of FastAPI's own stack, so
    the hot routes it serves skip FastAPI's router and middleware altogether. A hot route also
    skips FastAPI's per-request check for its native OpenTelemetry hook (~5% of the event
    loop's time on a tiny model); every other route keeps it."""

    front: Callable[[ASGIApp], ASGIApp] | None = None
    settings: Settings | None = None
    hot: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hot is not None:
            # matched once: ServiceMiddleware reads the answer, None included
            found = scope[HOT_MATCH] = self.hot.match(scope)
            if found is not None:
                await Starlette.__call__(self, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return self.front(stack) if self.front is not None else stack

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None and self.settings is not None:
            spec = document_limits(super().openapi(), self.settings)
            self.openapi_schema = inference_protocol.document_protocol(spec)
        return super().openapi()


def connection_limits(settings: Settings) -> protocols.ConnectionLimits:
    return protocols.ConnectionLimits(
        max_requests=settings.limit_concurrency,
        max_connections=settings.max_connections,
        header_timeout_s=settings.timeout_headers_s,
        body_timeout_s=settings.timeout_body_s,
        send_timeout_s=settings.timeout_send_s,
    )


def connection_observer(metrics: Metrics) -> protocols.Observer:
    """Counts what the protocol refused: requests in metrics.rejected, connections in
    metrics.connections_closed."""

    def observe(event: str) -> None:
        if event == "concurrency_limit":
            metrics.rejected.labels("", event).inc()
        else:
            metrics.connections_closed.labels(event).inc()

    return observe


# open: the probes, the web page (where a key is typed in), the docs (like /openapi.json)
OPEN_ROUTERS = (operations.router, web.router, docs.router, inference_protocol.health_router)
# behind DCGAN_API_KEY when one is set (the admin routes: DCGAN_ADMIN_API_KEY, else that one)
KEYED_ROUTERS = (
    operations.models_router,
    files.router,
    generate.router,
    interpolate.router,
    inference_protocol.router,
)
# served by HotRoutes without FastAPI's router (service.api.fastpath)
HOT_ROUTERS = (
    generate.router,
    interpolate.router,
    inference_protocol.router,
    inference_protocol.health_router,
)


def include_routers(app: FastAPI, settings: Settings) -> None:
    """Every route, with the key checks the settings ask for."""
    # the key checks are dependencies (OpenAPI shows them) only where a key is configured:
    # without one they would cost every request four dependency solves for nothing
    key = API_KEY if settings.api_key else []
    admin_key = ADMIN_KEY if settings.admin_api_key or settings.api_key else []
    for router in OPEN_ROUTERS:
        app.include_router(router)
    for router in KEYED_ROUTERS:
        app.include_router(router, dependencies=key)
    app.include_router(admin.router, dependencies=admin_key)


def create_app(
    settings: Settings | None = None,
    *,
    prom_registry: CollectorRegistry | None = None,
    registry: Registry | None = None,
) -> FastAPI:
    """The app; ``registry`` is an already discovered models folder (else it discovers)."""
    settings = settings or Settings()
    prom = prom_registry or CollectorRegistry()
    metrics = build_metrics(prom)
    manager = ModelManager(settings, metrics)
    protocols.configure(connection_limits(settings), observer=connection_observer(metrics))
    traces = tracing.setup()  # None unless OTEL_EXPORTER_OTLP_ENDPOINT asks for it

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await manager.start(registry)
        try:
            yield
        finally:
            await manager.close()
            if traces is not None:  # what is still buffered goes out before the exit
                await asyncio.to_thread(traces.shutdown)

    app = ServiceApp(
        title="dcgan-serve",
        description="DCGAN generators served with onnxruntime. A seed's latent is "
        "numpy.random.Generator(numpy.random.PCG64(seed)).standard_normal(nz, dtype=float32).",
        version=__version__,
        lifespan=lifespan,
        # no 307 from /path/ to /path: Starlette builds its Location from the request's Host
        # header, so a client could make the service redirect anywhere
        redirect_slashes=False,
        docs_url=None,  # /docs and /redoc are service/api/docs.py's: no CDN
        redoc_url=None,
    )
    app.settings = settings
    app.state.prom_registry = prom
    app.state.manager = manager
    cache = ResponseCache(int(settings.cache_mb * 2**20), metrics) if settings.cache_mb else None
    renders = RenderPool(settings.render_threads or os.cpu_count() or 1, settings.render_queue_size)
    manager.renders = renders  # its batchers render there; it closes the pool at shutdown
    services = app.state.services = Services(settings, metrics, cache, renders)
    install_error_handlers(app)
    include_routers(app, settings)
    hot = app.hot = HotRoutes(HOT_ROUTERS, services, manager)
    app.front = lambda stack: ServiceMiddleware(
        stack,
        hot=hot,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        tracing=traces,
    )
    return app
