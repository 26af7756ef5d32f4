"""create_app(settings): wires the routes, the middleware and the model manager together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from service.api import admin, generate, interpolate, operations
from service.api.deps import Services
from service.cache import ResponseCache
from service.errors import install_error_handlers
from service.lifecycle import ModelManager
from service.metrics import build_metrics
from service.middleware import ServiceMiddleware
from service.registry import Registry
from service.settings import Settings


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

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await manager.start(registry)
        try:
            yield
        finally:
            await manager.close()

    app = FastAPI(
        title="dcgan-serve",
        description="DCGAN generators served with onnxruntime. A seed's latent is "
        "numpy.random.Generator(numpy.random.PCG64(seed)).standard_normal(nz, dtype=float32).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings, app.state.metrics, app.state.prom_registry = settings, metrics, prom
    app.state.manager = manager
    cache = ResponseCache(int(settings.cache_mb * 2**20), metrics) if settings.cache_mb else None
    app.state.services = Services(settings, metrics, cache)
    install_error_handlers(app)
    for router in (
        operations.router,
        operations.models_router,
        generate.router,
        interpolate.router,
        admin.router,
    ):
        app.include_router(router)
    app.add_middleware(
        ServiceMiddleware, manager=manager, metrics=metrics, max_body_bytes=settings.max_body_bytes
    )
    return app
