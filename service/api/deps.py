"""Shared route dependencies: settings, registry, metrics (owned by the app's lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.errors import ApiError
from service.manifest import is_valid_model_name
from service.metrics import Metrics
from service.registry import ModelVersion, Registry
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def resolve_model(registry: Registry, name: str, version: int | None) -> ModelVersion:
    """404 naming the available models; 503 with the reason for an unavailable version."""
    versions = registry.models.get(name)
    if not versions:
        details: dict[str, object] = {"available": registry.ready_names()}
        if is_valid_model_name(name):  # a name that could be exported: say how
            details["hint"] = (
                f"train and export it: dcgan train --data IMAGE_FOLDER --run-dir runs/{name} "
                f"&& dcgan export runs/{name} (then POST /admin/reload); see README, Training"
            )
        raise ApiError(404, "model_not_found", f"unknown model {name!r}", details)
    entry = versions.get(version) if version is not None else registry.default_version(name)
    if entry is None:
        raise ApiError(
            404,
            "version_not_found",
            f"model {name!r} has no version {version}",
            {"versions": sorted(versions)},
        )
    if entry.status != "ready":
        raise ApiError(
            503,
            "model_unavailable",
            f"{name} v{entry.version} is unavailable: {entry.reason}",
            {"reason": entry.reason},
            {"Retry-After": "30"},
        )
    return entry
