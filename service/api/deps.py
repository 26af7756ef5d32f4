"""Shared route dependencies (all `async def`: no threadpool hop per request) and the
request parameters several routes share.

The model a request works on is resolved once, on the event loop, and leased until the
request's response body is made (see service.runtime.lifecycle.ModelManager.lease).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, NamedTuple

import numpy as np
from fastapi import Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from contract.latents import (
    LATENT_ABS_MAX,
    TRUNCATION_MAX,
    TRUNCATION_MIN,
    FloatArray,
    latent_rows,
    latents_for_seeds,
)
from service.api.errors import ApiError
from service.api.lookup import resolve
from service.api.responses import Services
from service.core.settings import Settings
from service.inference.registry import ModelVersion
from service.runtime.lifecycle import ModelManager

DEADLINE_MAX_MS = 3_600_000
MODEL_DESCRIPTION = "model name; default DCGAN_DEFAULT_MODEL"
VERSION_DESCRIPTION = "default: the highest version"
TRUNCATION_DESCRIPTION = (
    f"truncation ψ, {TRUNCATION_MIN:g}..{TRUNCATION_MAX:g}; absent, null or 1: off. Each latent "
    "is turned toward the version's truncation center (in its manifest) along the sphere it "
    "lies on, to ψ times its angle from the center: lower ψ, more typical and less varied "
    "images (0: the center image for every seed); 0.7 is a good start. Part of the ETag."
)


def truncation_field(note: str = "") -> Any:
    """The ``truncation`` field (ψ) of a body or query model."""
    return Field(
        default=None,
        ge=TRUNCATION_MIN,
        le=TRUNCATION_MAX,
        allow_inf_nan=False,
        description=TRUNCATION_DESCRIPTION + note,
    )


async def get_settings(request: Request) -> Settings:
    return request.app.state.services.settings


async def get_manager(request: Request) -> ModelManager:
    return request.app.state.manager


async def get_services(request: Request) -> Services:
    return request.app.state.services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
ManagerDep = Annotated[ModelManager, Depends(get_manager)]


VersionQuery = Annotated[int | None, Query(ge=1, description=VERSION_DESCRIPTION)]


class ModelQuery(BaseModel):
    """?model=NAME&version=N of the routes that name their model in the query."""

    model_config = ConfigDict(extra="ignore")  # other query parameters belong to the route

    model: str | None = Field(default=None, description=MODEL_DESCRIPTION)
    version: int | None = Field(default=None, ge=1, description=VERSION_DESCRIPTION)


# X-Request-Timeout-Ms (parameter x_request_timeout_ms): documented here, parsed by the hot
# routes (service.api.fastpath.Call.deadline)
DeadlineHeader = Annotated[
    int | None,
    Header(
        ge=1,
        le=DEADLINE_MAX_MS,
        description="drop the request with 503 if it has not started running by then",
    ),
]


@asynccontextmanager
async def _resolved(
    request: Request, manager: ModelManager, name: str | None, version: int | None
) -> AsyncIterator[ModelVersion]:
    entry = resolve(manager, name, version)
    request.state.model = entry.name  # the access log and metrics label it
    async with manager.lease(entry):
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


NamedModelDep = Annotated[ModelVersion, Depends(leased_named_model)]


class Truncation(NamedTuple):
    """What a request's ψ means for one version: the center its latents turn toward, and
    the ETag part naming both (None, None: truncation off)."""

    center: list[float] | None
    tag: str | None


def truncation_of(entry: ModelVersion, psi: float | None) -> Truncation:
    """ψ for ``entry``; 422 when ψ is asked of a version without a truncation center."""
    if psi is None:
        return Truncation(None, None)
    assert entry.manifest is not None
    record = entry.manifest.truncation
    if record is None:
        raise ApiError(
            422,
            "invalid_parameter",
            f"truncation: {entry.name} version {entry.version} has no truncation center "
            f"(exported before centers existed); add one with `dcgan truncation-center "
            f"models/{entry.name}/{entry.version}`",
            {"parameter": "truncation"},
        )
    return Truncation(record.center, f"{float(psi)!r}@{record.tag}")


# one number of an explicit latent: finite, and far from float32's overflow
LatentValue = Annotated[float, Field(allow_inf_nan=False, ge=-LATENT_ABS_MAX, le=LATENT_ABS_MAX)]


def latent_source(
    seeds: list[int] | None,
    z: FloatArray | None,
    nz: int,
    psi: float | None,
    truncation: Truncation,
) -> Callable[[], FloatArray]:
    """A job's latents, made later in its worker thread: the explicit rows ``z``, or the
    seeds' (one of the two), turned by ψ toward the version's center either way."""
    if z is not None:
        return functools.partial(latent_rows, z, psi, truncation.center)
    assert seeds is not None  # the routes give one source or the other
    return functools.partial(latents_for_seeds, seeds, nz, psi, truncation.center)


def latent_matrix(rows: Sequence[Sequence[float]], nz: int, parameter: str) -> FloatArray:
    """Explicit latents as float32 [N, nz]; 422 naming ``parameter`` unless every row has the
    model's nz numbers. (Finite and within LATENT_ABS_MAX is the request models' check.)"""
    bad = next((i for i, row in enumerate(rows) if len(row) != nz), None)
    if bad is not None:
        raise ApiError(
            422,
            "invalid_parameter",
            f"{parameter} must hold {nz} numbers per latent (the model's nz); "
            f"latent {bad} has {len(rows[bad])}",
            {"parameter": parameter, "nz": nz},
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), nz)
