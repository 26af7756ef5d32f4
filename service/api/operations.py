"""/healthz, /readyz, /metrics (open) and /models, /models/{name} (behind the API key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.deps import ManagerDep
from service.api.errors import ApiError, error_body, error_responses
from service.core.metrics import exposition
from service.inference.registry import Registry
from service.runtime.lifecycle import ModelManager

router = APIRouter(tags=["operations"])
models_router = APIRouter(tags=["operations"])  # behind the API key


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses=error_responses(
        503, descriptions={503: "no model is ready yet, or the server is shutting down"}
    ),
)
async def readyz(manager: ManagerDep) -> Any:
    """Ready when at least one model is loaded and warmed up, until shutdown begins."""
    problem = not_ready(manager)
    if problem is not None:
        return JSONResponse(error_body(*problem), 503)
    return {"status": "ready", "models": manager.registry.ready_names()}


def not_ready(manager: ModelManager) -> tuple[str, str] | None:
    """Why the server is not ready, (code, message), or None: /readyz and /v2/health/ready."""
    if manager.draining:
        return "shutting_down", "the server is shutting down"
    if manager.engine_problem is not None:
        return "engine_unavailable", manager.engine_problem
    if not manager.registry.ready:
        return "not_ready", "no model is loaded and warmed up"
    return None


@models_router.get("/models", responses=error_responses(401))
async def list_models(manager: ManagerDep) -> dict[str, Any]:
    """Every model with its versions, status (and reason), provider and shapes."""
    registry = manager.registry
    return {"models": {n: _describe(registry, n) for n in registry.names()}}


@models_router.get(
    "/models/{name}",
    responses=error_responses(401, 404, 422, descriptions={404: "unknown model"}),
)
async def get_model(name: str, manager: ManagerDep) -> dict[str, Any]:
    registry = manager.registry
    if name not in registry.models:
        raise ApiError(
            404, "model_not_found", f"unknown model {name!r}", {"available": registry.ready_names()}
        )
    return {"name": name, **_describe(registry, name)}


def _describe(registry: Registry, name: str) -> dict[str, Any]:
    default = registry.default_version(name)
    return {
        "default_version": default.version if default and default.status == "ready" else None,
        "versions": [v.describe() for _, v in sorted(registry.models[name].items())],
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(exposition(request.app.state.prom_registry), media_type=CONTENT_TYPE_LATEST)
