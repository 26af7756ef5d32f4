"""Shared route dependencies, all `async def` (no threadpool hop per request).

The model a request works on is resolved once, on the event loop, and leased until the
request's response body is made (see service.lifecycle.ModelManager.lease).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from service.cache import ResponseCache
from service.lifecycle import ModelManager
from service.metrics import Metrics
from service.registry import ModelVersion
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


async def get_manager(request: Request) -> ModelManager:
    return request.app.state.manager


@dataclass(frozen=True)
class Services:
    """What a generating route needs besides its model: one dependency, resolved once."""

    settings: Settings
    metrics: Metrics
    cache: ResponseCache | None


async def get_services(request: Request) -> Services:
    return request.app.state.services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
ManagerDep = Annotated[ModelManager, Depends(get_manager)]


VersionQuery = Annotated[int | None, Query(ge=1, description="default: the highest version")]


@asynccontextmanager
async def _resolved(
    request: Request, manager: ModelManager, name: str | None, version: int | None
) -> AsyncIterator[ModelVersion]:
    entry = manager.resolve(name, version)
    request.state.model = entry.name  # the access log and metrics label it
    async with manager.lease(entry):
        yield entry


async def leased_model(
    request: Request,
    manager: ManagerDep,
    model: Annotated[
        str | None, Query(description="model name; default DCGAN_DEFAULT_MODEL")
    ] = None,
    version: VersionQuery = None,
) -> AsyncIterator[ModelVersion]:
    async with _resolved(request, manager, model, version) as entry:
        yield entry


async def leased_named_model(
    request: Request,
    manager: ManagerDep,
    name: Annotated[str, Path(description="model name, as listed by GET /models")],
    version: VersionQuery = None,
) -> AsyncIterator[ModelVersion]:
    """The model of a /models/{name}/... route (the name is in the path, not the query)."""
    async with _resolved(request, manager, name, version) as entry:
        yield entry


async def request_deadline(
    x_request_timeout_ms: Annotated[
        int | None,
        Header(
            ge=1,
            le=3_600_000,
            description="drop the request with 503 if it has not started running by then",
        ),
    ] = None,
) -> float | None:
    """The monotonic time after which a queued request is dropped, if the client set one."""
    if x_request_timeout_ms is None:
        return None
    return time.monotonic() + x_request_timeout_ms / 1000


ModelDep = Annotated[ModelVersion, Depends(leased_model)]
NamedModelDep = Annotated[ModelVersion, Depends(leased_named_model)]
DeadlineDep = Annotated[float | None, Depends(request_deadline)]
