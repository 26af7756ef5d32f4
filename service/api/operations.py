"""/healthz, /readyz, /models, /models/{name}, /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import RegistryDep
from service.errors import ApiError, error_body

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "no model is loaded and warmed up"}})
async def readyz(registry: RegistryDep) -> Any:
    """Ready when start-up finished and at least one model is loaded and warmed up."""
    if not registry.ready:
        from fastapi.responses import JSONResponse

        return JSONResponse(error_body("not_ready", "no model is loaded and warmed up"), 503)
    return {"status": "ready", "models": registry.ready_names()}


@router.get("/models")
async def list_models(registry: RegistryDep) -> dict[str, Any]:
    """Every model with its versions, status (and reason), provider and shapes."""
    return {"models": {n: _describe(registry, n) for n in registry.names()}}


@router.get("/models/{name}")
async def get_model(name: str, registry: RegistryDep) -> dict[str, Any]:
    if name not in registry.models:
        raise ApiError(
            404, "model_not_found", f"unknown model {name!r}", {"available": registry.ready_names()}
        )
    return {"name": name, **_describe(registry, name)}


def _describe(registry: RegistryDep, name: str) -> dict[str, Any]:
    default = registry.default_version(name)
    return {
        "default_version": default.version if default and default.status == "ready" else None,
        "versions": [v.describe() for _, v in sorted(registry.models[name].items())],
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.prom_registry), media_type=CONTENT_TYPE_LATEST
    )
