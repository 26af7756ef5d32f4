"""create_app(settings): the FastAPI app; its lifespan owns the model registry."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from service.api import admin, generate, interpolate, operations
from service.batching import MicroBatcher
from service.errors import error_body, install_error_handlers
from service.metrics import build_metrics
from service.registry import ModelVersion, Registry, check_required_cuda, discover
from service.settings import Settings

access_log = logging.getLogger("service.access")
OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}


def ready_versions(registry: Registry) -> list[ModelVersion]:
    return [v for vs in registry.models.values() for v in vs.values() if v.status == "ready"]


def create_app(
    settings: Settings | None = None, *, prom_registry: CollectorRegistry | None = None
) -> FastAPI:
    settings = settings or Settings()
    prom = prom_registry or CollectorRegistry()
    metrics = build_metrics(prom)

    def activate(registry: Registry) -> None:
        """Start batchers for newly loaded versions and publish model_info."""
        metrics.model_info.clear()
        metrics.queue_capacity.clear()
        for v in ready_versions(registry):
            metrics.model_info.labels(v.name, str(v.version), v.provider).set(1)
            if not settings.batching:
                continue
            metrics.queue_capacity.labels(v.name).set(settings.queue_size)
            if v.batcher is None:
                v.batcher = MicroBatcher(
                    v.run,
                    v.name,
                    metrics,
                    settings.max_batch_size,
                    settings.max_wait_ms / 1000,
                    settings.queue_size,
                )
                v.batcher.start()

    reload_lock = asyncio.Lock()

    async def reload() -> dict[str, object]:
        async with reload_lock:
            old: Registry = app.state.registry
            new = await asyncio.to_thread(discover, settings, old)
            activate(new)
            app.state.registry = new  # one assignment: requests see old or new, never a mix
            kept = {id(v) for v in ready_versions(new)}
            for v in ready_versions(old):
                if id(v) not in kept and v.batcher is not None:
                    # requests holding the old version finish on it first
                    asyncio.get_running_loop().create_task(v.batcher.drain_and_close())
            return admin.diff(old, new)

    async def watch_models() -> None:
        from watchfiles import awatch

        settings.models_dir.mkdir(parents=True, exist_ok=True)
        # exports are renamed into place, so one change set means a whole new version
        async for changes in awatch(settings.models_dir, debounce=500):
            access_log.info(json.dumps({"event": "reload", "changes": len(changes)}))
            try:
                await reload()
            except Exception:  # a bad reload must not stop the watcher
                logging.getLogger(__name__).exception("reload after file change failed")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = await asyncio.to_thread(discover, settings)
        check_required_cuda(settings, registry)
        activate(registry)
        app.state.registry = registry
        app.state.reload = reload
        watcher = asyncio.get_running_loop().create_task(watch_models()) if settings.watch else None
        yield
        if watcher is not None:
            watcher.cancel()
        for v in ready_versions(app.state.registry):
            if v.batcher is not None:
                await v.batcher.close()

    app = FastAPI(
        title="dcgan-serve",
        description="DCGAN generators served with onnxruntime. A seed's latent is "
        "numpy.random.Generator(numpy.random.PCG64(seed)).standard_normal(nz, dtype=float32).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings, app.state.metrics, app.state.prom_registry = settings, metrics, prom
    install_error_handlers(app)
    app.include_router(operations.router)
    app.include_router(generate.router)
    app.include_router(interpolate.router)
    app.include_router(admin.router)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id", "")
        if not (0 < len(rid) <= 64 and rid.replace("-", "").isalnum()):
            rid = uuid.uuid4().hex
        start = time.perf_counter()
        key = settings.api_key
        if key and request.url.path not in OPEN_PATHS and not _authorised(request, key):
            response: Response = JSONResponse(
                error_body("unauthorized", "missing or wrong API key (X-API-Key header)"),
                401,
                {"WWW-Authenticate": "Bearer"},
            )
        else:
            response = await call_next(request)
        elapsed = time.perf_counter() - start
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")  # the template, never the raw URL
        model = getattr(request.state, "model", "")  # set only once a model resolved
        labels = (endpoint, model, str(response.status_code))
        if endpoint != "/metrics":
            metrics.requests.labels(*labels).inc()
            metrics.request_duration.labels(*labels).observe(elapsed)
        response.headers["X-Request-ID"] = rid
        access_log.info(
            json.dumps(
                {
                    "request_id": rid,
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "duration_s": round(elapsed, 5),
                    "model": model,
                }
            )
        )
        return response

    return app


def _authorised(request: Request, key: str) -> bool:
    given = request.headers.get("x-api-key") or request.headers.get(
        "authorization", ""
    ).removeprefix("Bearer ")
    return hmac.compare_digest(given.encode(), key.encode())
