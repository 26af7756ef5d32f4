"""GET /interpolate: a latent walk from seed_a to seed_b, as a strip or an animation."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from service.api.deps import DeadlineDep, ModelDep, ServicesDep
from service.api.generate import check_output, respond, seeded_etag, truncation_query
from service.batching import Job
from service.errors import ApiError, error_responses
from service.imaging import MEDIA_TYPES
from service.latents import (
    SEED_MAX,
    latent_for_seed,
    lerp,
    slerp,
)
from service.rendering import ImageOptions, is_heavy, render_frames

router = APIRouter(tags=["generate"])


def latent_path(
    seed_a: int, seed_b: int, steps: int, method: str, nz: int, truncation: float | None = None
) -> np.ndarray:
    """[steps, nz]: the walk from seed_a's latent to seed_b's (runs in a worker thread).

    With ``truncation`` (ψ) both ends are truncated latents and the path between them is
    interpolated as usual: lerp stays inside [-ψ, ψ] in every component, slerp may step
    slightly outside it (it keeps the norm, not the box)."""
    return (slerp if method == "slerp" else lerp)(
        latent_for_seed(seed_a, nz, truncation),
        latent_for_seed(seed_b, nz, truncation),
        np.linspace(0.0, 1.0, steps, dtype=np.float32),
    )


@router.get(
    "/interpolate",
    responses={
        200: {
            "content": {
                t: {} for t in ("image/png", "image/gif", "image/webp", "application/json")
            },
            "description": "a PNG strip, a looping GIF/WebP animation, or JSON",
        },
        304: {"description": "its ETag matches If-None-Match"},
        **error_responses(401, 404, 422, 503),
    },
)
async def interpolate(
    request: Request,
    entry: ModelDep,
    services: ServicesDep,
    deadline: DeadlineDep,
    seed_a: Annotated[int, Query(ge=0, le=SEED_MAX, description="start seed")],
    seed_b: Annotated[int, Query(ge=0, le=SEED_MAX, description="end seed")],
    steps: Annotated[int, Query(ge=2, le=1024, description="frames, 2..DCGAN_MAX_COUNT")] = 8,
    method: Annotated[Literal["slerp", "lerp"], Query()] = "slerp",
    format: Annotated[Literal["png", "gif", "webp", "json"], Query()] = "png",
    frame_ms: Annotated[int, Query(ge=20, le=5000, description="animation frame time")] = 100,
    truncation: Annotated[
        float | None, truncation_query(" Both ends of the path are truncated.")
    ] = None,
) -> Response:
    settings = services.settings
    if steps > settings.max_count:
        raise ApiError(
            422,
            "invalid_parameter",
            f"steps must be in 2..{settings.max_count}",
            {"parameter": "steps", "min": 2, "max": settings.max_count},
        )
    m = entry.manifest
    assert m is not None
    # frames are never upscaled, and one frame fits every encoder: only the budget can bind
    options = ImageOptions("png")
    check_output(steps, entry, options, settings.max_output_pixels)
    headers = {
        "X-Model-Name": entry.name,
        "X-Model-Version": str(entry.version),
        "ETag": seeded_etag(
            entry.name,
            entry.version,
            m.onnx_sha256,
            seed_a,
            seed_b,
            steps,
            method,
            format,
            frame_ms,
            truncation=truncation,
        ),
        # immutable only for a pinned version: without one the default answers, and it moves
        # when a new version is exported (the ETag then changes, so revalidating is a 304)
        "Cache-Control": (
            "public, max-age=31536000, immutable"
            if "version" in request.query_params
            else "no-cache"
        ),
    }
    job = Job(
        latents=functools.partial(latent_path, seed_a, seed_b, steps, method, m.nz, truncation),
        size=steps,
        finish=functools.partial(
            render_frames,
            value_range=m.value_range,
            fmt=format,
            frame_ms=frame_ms,
            model=entry.name,
            version=entry.version,
        ),
        heavy=format in ("gif", "webp") or is_heavy(steps, m.image_size, options),
        deadline=deadline,
    )
    return await respond(request, entry, job, headers, MEDIA_TYPES[format], services)
