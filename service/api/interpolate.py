"""GET /interpolate: a latent walk from seed_a to seed_b, as a strip or an animation.

A hot route (service.api.fastpath): the FastAPI endpoint documents it, ``serve_interpolate``
serves it; the walk itself is ``contract.latents.latent_path``."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import ConfigDict, Field

from contract.imaging import MEDIA_TYPES
from contract.latents import SEED_MAX, latent_path
from service.api.deps import (
    DeadlineHeader,
    ModelQuery,
    truncation_field,
    truncation_of,
)
from service.api.fastpath import Call, served_by
from service.api.responses import (
    Reply,
    cache_control,
    check_output,
    generated_responses,
    model_headers,
    respond,
    seeded_etag,
)
from service.batching import Job
from service.errors import ApiError
from service.rendering import (
    AnimationFormat,
    ImageOptions,
    UpscaleFilter,
    is_heavy,
    render_frames,
)

router = APIRouter(tags=["generate"])
STEPS_MAX = 1024  # the hard bound; DCGAN_MAX_COUNT (default 64) is the one enforced


class InterpolateQuery(ModelQuery):
    model_config = ConfigDict(extra="ignore")

    seed_a: int = Field(ge=0, le=SEED_MAX, description="start seed")
    seed_b: int = Field(ge=0, le=SEED_MAX, description="end seed")
    steps: int = Field(
        default=8,
        ge=2,
        le=STEPS_MAX,
        description="frames, 2..DCGAN_MAX_COUNT; default 8, or DCGAN_MAX_COUNT when smaller",
    )
    method: Literal["slerp", "lerp"] = "slerp"
    format: AnimationFormat = "png"
    frame_ms: int = Field(default=100, ge=20, le=5000, description="animation frame time")
    upscale: int = Field(default=1, ge=1, le=8, description="enlarge every frame by this factor")
    upscale_filter: UpscaleFilter = "nearest"
    truncation: float | None = truncation_field(" Both ends of the path are truncated.")


async def serve_interpolate(call: Call) -> Reply:
    call.require_key()
    q = call.query(InterpolateQuery)
    deadline = call.deadline()
    settings = call.services.settings
    if "steps" not in q.model_fields_set:
        q.steps = min(q.steps, settings.max_count)
    if q.steps > settings.max_count:
        raise ApiError(
            422,
            "invalid_parameter",
            f"steps must be in 2..{settings.max_count}",
            {"parameter": "steps", "min": 2, "max": settings.max_count},
        )
    call.refuse_if_saturated(q.model, q.version)
    with call.model(q.model, q.version) as entry:
        m = entry.manifest
        assert m is not None
        truncation = truncation_of(entry, q.truncation)
        # frames are single images (never a grid), and an upscaled frame fits every encoder's
        # side limit (8 × 2048 px at most): the pixel budget is what binds
        options = ImageOptions("png", upscale=q.upscale, upscale_filter=q.upscale_filter)
        check_output(q.steps, entry, options, settings.max_output_pixels)
        headers = model_headers(entry)
        headers["ETag"] = seeded_etag(
            entry.name,
            entry.version,
            m.onnx_sha256,
            q.seed_a,
            q.seed_b,
            q.steps,
            q.method,
            q.format,
            q.frame_ms,
            # only when set, so the tags of unscaled walks stay what they were
            *((f"upscale={q.upscale}:{q.upscale_filter}",) if q.upscale > 1 else ()),
            truncation=truncation.tag,
        )
        headers["Cache-Control"] = cache_control(seeded=True, pinned=q.version is not None)
        job = Job(
            latents=functools.partial(
                latent_path,
                q.seed_a,
                q.seed_b,
                q.steps,
                q.method,
                m.nz,
                q.truncation,
                truncation.center,
            ),
            size=q.steps,
            finish=functools.partial(
                render_frames,
                fmt=q.format,
                frame_ms=q.frame_ms,
                options=options,
                model=entry.name,
                version=entry.version,
            ),
            heavy=q.format in ("gif", "webp") or is_heavy(q.steps, m.image_size, options),
            deadline=deadline,
        )
        return await respond(
            call.header(b"if-none-match"),
            call.receive,
            entry,
            job,
            headers,
            MEDIA_TYPES[q.format],
            call.services,
        )


@router.get(
    "/interpolate",
    responses=generated_responses(
        ("image/png", "image/gif", "image/webp", "application/json"),
        "a PNG strip, a looping GIF/WebP animation, or JSON",
        *(401, 404, 422, 503),
    ),
)
@served_by(serve_interpolate)
async def interpolate(
    query: Annotated[InterpolateQuery, Query()], x_request_timeout_ms: DeadlineHeader = None
) -> Response:
    """Frames along the latent path from seed_a to seed_b. Without `version` the default
    version answers and the result is revalidated (no-cache); with it, immutable."""
    raise NotImplementedError  # served by serve_interpolate
