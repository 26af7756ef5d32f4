"""GET /interpolate: a latent walk from seed_a to seed_b (or explicit latents z_a, z_b), as
a strip or an animation.

A hot route (service.api.fastpath): the FastAPI endpoint documents it, ``serve_interpolate``
serves it; the walk itself is ``contract.latents.latent_path``."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from contract.imaging import MEDIA_TYPES
from contract.latents import LATENT_ABS_MAX, SEED_MAX, FloatArray, latent_digest, latent_path
from service.api.deps import (
    DeadlineHeader,
    LatentValue,
    ModelQuery,
    Truncation,
    latent_matrix,
    truncation_field,
    truncation_of,
)
from service.api.errors import ApiError
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
from service.inference.batching import Job
from service.inference.registry import ModelVersion
from service.inference.rendering import (
    AnimationFormat,
    ImageOptions,
    UpscaleFilter,
    is_heavy,
    render_frames,
)

router = APIRouter(tags=["generate"])
STEPS_MAX = 1024  # the hard bound; DCGAN_MAX_COUNT (default 64) is the one enforced
_LATENT: TypeAdapter[list[float]] = TypeAdapter(list[LatentValue])


class InterpolateQuery(ModelQuery):
    model_config = ConfigDict(extra="ignore")

    seed_a: int | None = Field(default=None, ge=0, le=SEED_MAX, description="start seed")
    seed_b: int | None = Field(default=None, ge=0, le=SEED_MAX, description="end seed")
    z_a: str | None = Field(
        default=None,
        description="start latent instead of seed_a: the model's nz numbers, comma-separated",
        examples=["0.12,-1.5,0.33"],
    )
    z_b: str | None = Field(
        default=None, description="end latent instead of seed_b (as z_a)", examples=["0.4,2.1"]
    )
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

    @model_validator(mode="after")
    def _one_source_per_end(self) -> InterpolateQuery:
        for end in ("a", "b"):
            seed, z = getattr(self, f"seed_{end}"), getattr(self, f"z_{end}")
            if seed is None and z is None:
                raise ValueError(f"give seed_{end} or z_{end}")
            if seed is not None and z is not None:
                raise ValueError(f"give seed_{end} or z_{end}, not both")
        return self


def walk_end(seed: int | None, z: str | None, nz: int, parameter: str) -> int | FloatArray:
    """One end of the walk: a seed, or the parsed latent (422 naming ``parameter``)."""
    if seed is not None:
        return seed
    assert z is not None  # one of the two (the query model's check)
    try:
        row = _LATENT.validate_python(z.split(","))
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]["msg"]
        raise ApiError(
            422,
            "invalid_parameter",
            f"{parameter} must be comma-separated numbers, finite, at most "
            f"{LATENT_ABS_MAX:g} in size: {problem}",
            {"parameter": parameter, "nz": nz},
        ) from None
    return latent_matrix([row], nz, parameter)[0]


def end_tag(end: int | FloatArray) -> str:
    return str(end) if isinstance(end, int) else f"z={latent_digest(end)}"


def limit_steps(q: InterpolateQuery, max_count: int) -> None:
    """``steps`` left out: the default, at most DCGAN_MAX_COUNT; asked for beyond it: a 422."""
    if "steps" not in q.model_fields_set:
        q.steps = min(q.steps, max_count)
    if q.steps > max_count:
        raise ApiError(
            422,
            "invalid_parameter",
            f"steps must be in 2..{max_count}",
            {"parameter": "steps", "min": 2, "max": max_count},
        )


def walk_job(
    q: InterpolateQuery,
    entry: ModelVersion,
    ends: tuple[int | FloatArray, int | FloatArray],
    truncation: Truncation,
    options: ImageOptions,
    deadline: float | None,
) -> Job:
    """The walk from ``ends[0]`` to ``ends[1]`` as one job: its latents, then its frames."""
    m = entry.manifest
    assert m is not None
    return Job(
        latents=functools.partial(
            latent_path, *ends, q.steps, q.method, m.nz, q.truncation, truncation.center
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


async def serve_interpolate(call: Call) -> Reply:
    call.require_key()
    q = call.query(InterpolateQuery)
    deadline = call.deadline()
    settings = call.services.settings
    limit_steps(q, settings.max_count)
    call.refuse_if_saturated(q.model, q.version)
    with call.model(q.model, q.version) as entry:
        m = entry.manifest
        assert m is not None
        end_a = walk_end(q.seed_a, q.z_a, m.nz, "z_a")
        end_b = walk_end(q.seed_b, q.z_b, m.nz, "z_b")
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
            end_tag(end_a),
            end_tag(end_b),
            q.steps,
            q.method,
            q.format,
            q.frame_ms,
            # only when set, so the tags of unscaled walks stay what they were
            *((f"upscale={q.upscale}:{q.upscale_filter}",) if q.upscale > 1 else ()),
            truncation=truncation.tag,
        )
        headers["Cache-Control"] = cache_control(seeded=True, pinned=q.version is not None)
        job = walk_job(q, entry, (end_a, end_b), truncation, options, deadline)
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
