"""POST /generate (seeded or random images) and GET /models/{name}/images/{seed}.{format}.

The GET route is one seeded image at a cacheable URL, for <img> tags and browser caches: it
builds the GenerateRequest that POST /generate would get for that seed and answers through
the same code, so both give the same bytes and the same ETag. Both are hot routes
(service.api.fastpath): the FastAPI endpoints below document them, ``serve_*`` serve them.
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from contract.imaging import MEDIA_TYPES
from contract.latents import (
    SEED_MAX,
    latent_digest,
    random_seeds,
)
from service.api.deps import (
    VERSION_DESCRIPTION,
    DeadlineHeader,
    LatentValue,
    ModelQuery,
    latent_matrix,
    latent_source,
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
from service.core.settings import Settings
from service.inference.batching import Job
from service.inference.registry import ModelVersion
from service.inference.rendering import (
    ImageFormat,
    ImageOptions,
    OutputFormat,
    UpscaleFilter,
    is_heavy,
    render_images,
)

router = APIRouter(tags=["generate"])
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]


class GenerateRequest(BaseModel):
    # strict: a seed is a JSON integer (not 1.0, "1" or true); unknown fields are mistakes
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # documented as enforced (_one_seed_source): at most one of seed, seeds and latents
        json_schema_extra={
            "not": {
                "anyOf": [
                    {"required": ["seed", "seeds"]},
                    {"required": ["seed", "latents"]},
                    {"required": ["seeds", "latents"]},
                ]
            }
        },
    )

    count: int = Field(default=1, ge=1, description="images to make (at most DCGAN_MAX_COUNT)")
    seed: Seed | None = Field(
        default=None, description="seed of the first image; image i uses seed + i"
    )
    seeds: list[Seed] | None = Field(
        default=None, min_length=1, max_length=1024, description="one seed per image"
    )
    latents: list[list[LatentValue]] | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="one latent vector (nz numbers, the model's z) per image, instead of "
        "seeds: a seed's own latent gives the seed's image",
    )
    format: OutputFormat = "png"
    grid: bool = Field(default=False, description="tile several images into one picture")
    upscale: int = Field(default=1, ge=1, le=8, description="enlarge each image by this factor")
    upscale_filter: UpscaleFilter = "nearest"
    truncation: float | None = truncation_field()

    @model_validator(mode="after")
    def _one_seed_source(self) -> GenerateRequest:
        given = [k for k in ("seed", "seeds", "latents") if getattr(self, k) is not None]
        if len(given) > 1:
            which = "all three" if len(given) == 3 else f"both {given[0]} and {given[1]}"
            raise ValueError(f"give one of seed, seeds and latents, not {which}")
        if self.seeds is not None:
            self.count = len(self.seeds)
        if self.latents is not None:
            self.count = len(self.latents)
        if self.seed is not None and self.seed + self.count - 1 > SEED_MAX:
            raise ValueError(f"seed + count - 1 must be <= {SEED_MAX}")
        return self

    def options(self) -> ImageOptions:
        return ImageOptions(self.format, self.grid, self.upscale, self.upscale_filter)


_BODY: TypeAdapter[GenerateRequest | None] = TypeAdapter(GenerateRequest | None)


class SeededImagePath(BaseModel):
    """The path of GET /models/{name}/images/{seed}.{format}."""

    name: str = Field(description="model name, as listed by GET /models")
    seed: Seed = Field(description="the seed, in plain decimal (no sign, no zeros in front)")
    format: ImageFormat = Field(description="png, webp or jpeg")


class SeededImageQuery(BaseModel):
    """The query of GET /models/{name}/images/{seed}.{format}."""

    model_config = ConfigDict(extra="ignore")

    version: int | None = Field(default=None, ge=1, description=VERSION_DESCRIPTION)
    upscale: int = Field(default=1, ge=1, le=8, description="enlarge by this factor")
    upscale_filter: UpscaleFilter = "nearest"
    truncation: float | None = truncation_field()


# ---- serving (hot path) ---------------------------------------------------------------------


async def serve_generate(call: Call) -> Reply:
    call.require_key()
    query = call.query(ModelQuery)
    deadline = call.deadline()
    # a full queue answers before the body is read (the lease is taken after it)
    call.refuse_if_saturated(query.model, query.version)
    req = await call.json_body(_BODY) or GenerateRequest()
    with call.model(query.model, query.version) as entry:
        return await answer_images(call, entry, deadline, req, pinned=query.version is not None)


async def serve_seeded_image(call: Call) -> Reply:
    call.require_key()
    raw_seed = call.path_params.get("seed", "")
    path = call.path(SeededImagePath)
    query = call.query(SeededImageQuery)
    deadline = call.deadline()
    # one URL per image: "007", "+7" or "7.0" would split browser and proxy caches
    if raw_seed != str(path.seed):
        raise ApiError(
            422,
            "invalid_parameter",
            f"seed must be written in plain decimal: {path.seed}",
            {"parameter": "seed", "min": 0, "max": SEED_MAX},
        )
    req = GenerateRequest(
        seed=path.seed,
        format=path.format,
        upscale=query.upscale,
        upscale_filter=query.upscale_filter,
        truncation=query.truncation,
    )
    call.refuse_if_saturated(path.name, query.version)
    with call.model(path.name, query.version) as entry:
        return await answer_images(call, entry, deadline, req, pinned=query.version is not None)


def check_count(req: GenerateRequest, settings: Settings) -> None:
    """The count the settings allow, and several images only as a grid or as JSON."""
    if req.count > settings.max_count:
        raise ApiError(
            422,
            "invalid_parameter",
            f"count must be in 1..{settings.max_count}",
            {"parameter": "count", "min": 1, "max": settings.max_count},
        )
    if req.count > 1 and req.format != "json" and not req.grid:
        raise ApiError(
            422,
            "invalid_parameter",
            "several images need grid=true or format=json",
            {"parameter": "grid"},
        )


async def answer_images(
    call: Call, entry: ModelVersion, deadline: float | None, req: GenerateRequest, pinned: bool
) -> Reply:
    """What every image route answers for a validated request: checks, ETag, the job."""
    settings = call.services.settings
    assert entry.manifest is not None
    check_count(req, settings)
    options = req.options()
    check_output(req.count, entry, options, settings.max_output_pixels)
    m = entry.manifest
    truncation = truncation_of(entry, req.truncation)
    headers = model_headers(entry)
    if req.latents is not None:
        z = latent_matrix(req.latents, m.nz, "latents")
        named_by: object = f"latents={latent_digest(z)}"
        seeds: list[int | None] = [None] * len(z)
        latents = latent_source(None, z, m.nz, req.truncation, truncation)
    else:
        seed_list = (
            req.seeds
            if req.seeds is not None
            else [req.seed + i for i in range(req.count)]
            if req.seed is not None
            else random_seeds(req.count)
        )
        headers["X-Seeds"] = ",".join(map(str, seed_list))
        named_by, seeds = seed_list, list(seed_list)
        latents = latent_source(seed_list, None, m.nz, req.truncation, truncation)
    deterministic = req.seed is not None or req.seeds is not None or req.latents is not None
    if deterministic:
        headers["ETag"] = seeded_etag(
            entry.name,
            entry.version,
            m.onnx_sha256,
            named_by,
            *vars(options).values(),
            truncation=truncation.tag,
        )
    headers["Cache-Control"] = cache_control(deterministic, pinned)
    job = Job(
        latents=latents,
        size=len(seeds),
        finish=functools.partial(
            render_images,
            options=options,
            seeds=seeds,
            model=entry.name,
            version=entry.version,
        ),
        heavy=is_heavy(len(seeds), m.image_size, options),
        deadline=deadline,
    )
    if_none_match = call.header(b"if-none-match")
    return await respond(
        if_none_match, call.receive, entry, job, headers, MEDIA_TYPES[req.format], call.services
    )


# ---- the documented contract (FastAPI signatures; requests go to serve_*) --------------------


@router.post(
    "/generate",
    responses=generated_responses(
        ("image/png", "image/jpeg", "image/webp", "application/json"),
        "an image (or grid), or JSON with base64 images",
        *(400, 401, 404, 413, 422, 503),
    ),
)
@served_by(serve_generate)
async def generate(
    query: Annotated[ModelQuery, Query()],
    x_request_timeout_ms: DeadlineHeader = None,
    body: Annotated[GenerateRequest | None, Body()] = None,
) -> Response:
    """Images from seeds (deterministic: ETag, cacheable) or from fresh random seeds
    (reported in X-Seeds). Without `version` the default version answers; a seeded answer
    is then revalidated (no-cache), with `version` it is immutable."""
    raise NotImplementedError  # served by serve_generate


@router.get(
    "/models/{name}/images/{seed}.{format}",
    response_class=Response,  # images only: no application/json in the document
    responses=generated_responses(
        ("image/png", "image/webp", "image/jpeg"),
        "the image POST /generate makes for this seed: same bytes, same ETag",
        *(401, 404, 422, 503),
    ),
)
@served_by(serve_seeded_image)
async def seeded_image(
    name: Annotated[str, Path(description=SeededImagePath.model_fields["name"].description)],
    seed: Annotated[
        int,
        Path(ge=0, le=SEED_MAX, description=SeededImagePath.model_fields["seed"].description),
    ],
    format: Annotated[
        ImageFormat, Path(description=SeededImagePath.model_fields["format"].description)
    ],
    query: Annotated[SeededImageQuery, Query()],
    x_request_timeout_ms: DeadlineHeader = None,
) -> Response:
    """One seeded image at a cacheable URL: the bytes and ETag of POST /generate with
    {"seed": seed, "format": format, ...}. With `version` it is immutable; without it the
    default version answers, which a new export changes, so it is revalidated (no-cache)."""
    raise NotImplementedError  # served by serve_seeded_image
