"""POST /generate (seeded or random images) and GET /models/{name}/images/{seed}.{format}.

The GET route is one seeded image at a cacheable URL, for <img> tags and browser caches: it
builds the GenerateRequest that POST /generate would get for that seed and answers through
the same code, so both give the same bytes and the same ETag."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.types import Receive

from service.api.deps import DeadlineDep, ModelDep, NamedModelDep, Services, ServicesDep
from service.batching import (
    ClientDisconnected,
    Closed,
    DeadlineExceeded,
    Job,
    Overloaded,
    execute,
)
from service.cache import CachedResponse
from service.errors import ApiError, error_responses
from service.imaging import MEDIA_TYPES
from service.latents import (
    SEED_MAX,
    TRUNCATION_MAX,
    TRUNCATION_MIN,
    latents_for_seeds,
    random_seeds,
)
from service.metrics import Metrics
from service.registry import ModelVersion
from service.rendering import ImageOptions, is_heavy, output_problem, render_images
from service.settings import Settings

router = APIRouter(tags=["generate"])
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
TRUNCATION_DESCRIPTION = (
    f"truncation trick ψ, {TRUNCATION_MIN:g}..{TRUNCATION_MAX:g}; absent or null: off. "
    "Every latent component with |z_i| > ψ is redrawn (from the seed's own generator) until "
    "|z_i| <= ψ, so z follows a standard normal truncated to [-ψ, ψ] (as in BigGAN/StudioGAN): "
    "smaller ψ, less varied and more typical images. A threshold in standard deviations, not "
    "StyleGAN's ψ (which pulls w toward its mean). Part of the ETag."
)


def truncation_query(note: str = "") -> Any:
    """The `truncation` query parameter of the GET image routes (ψ; see the body field)."""
    return Query(
        ge=TRUNCATION_MIN,
        le=TRUNCATION_MAX,
        allow_inf_nan=False,
        description=TRUNCATION_DESCRIPTION + note,
    )


class GenerateRequest(BaseModel):
    # strict: a seed is a JSON integer (not 1.0, "1" or true); unknown fields are mistakes
    model_config = ConfigDict(extra="forbid", strict=True)

    count: int = Field(default=1, ge=1, description="images to make (at most DCGAN_MAX_COUNT)")
    seed: Seed | None = Field(
        default=None, description="seed of the first image; image i uses seed + i"
    )
    seeds: list[Seed] | None = Field(
        default=None, min_length=1, max_length=1024, description="one seed per image"
    )
    format: Literal["png", "jpeg", "webp", "json"] = "png"
    grid: bool = Field(default=False, description="tile several images into one picture")
    upscale: int = Field(default=1, ge=1, le=8, description="enlarge each image by this factor")
    upscale_filter: Literal["nearest", "lanczos"] = "nearest"
    truncation: float | None = Field(
        default=None,
        ge=TRUNCATION_MIN,
        le=TRUNCATION_MAX,
        allow_inf_nan=False,
        description=TRUNCATION_DESCRIPTION,
    )

    @model_validator(mode="after")
    def _one_seed_source(self) -> GenerateRequest:
        if self.seed is not None and self.seeds is not None:
            raise ValueError("give seed or seeds, not both")
        if self.seeds is not None:
            self.count = len(self.seeds)
        if self.seed is not None and self.seed + self.count - 1 > SEED_MAX:
            raise ValueError(f"seed + count - 1 must be <= {SEED_MAX}")
        return self

    def options(self) -> ImageOptions:
        return ImageOptions(self.format, self.grid, self.upscale, self.upscale_filter)


async def until_disconnected(receive: Receive) -> None:
    """Returns when the client has closed the connection (the body is already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def queued(future: asyncio.Future[Any], receive: Receive) -> Any:
    """Await a queued job; if the client hangs up first, withdraw the job (it never runs)."""
    watch = asyncio.ensure_future(until_disconnected(receive))
    watch.add_done_callback(lambda w: w.cancelled() or future.cancel())
    try:
        return await future
    except asyncio.CancelledError:
        if watch.done() and not watch.cancelled():
            raise ClientDisconnected from None
        raise
    finally:
        watch.cancel()


async def run_job(
    entry: ModelVersion, job: Job, request: Request, settings: Settings, metrics: Metrics
) -> Any:
    """Through the model's micro-batcher, or alone (batching off); 503 when it cannot run."""
    try:
        if entry.batcher is None:
            return await asyncio.to_thread(
                execute, job, entry.run, settings.max_batch_size, entry.name, metrics
            )
        return await queued(entry.batcher.enqueue(job), request.receive)
    except Overloaded as exc:
        metrics.rejected.labels(entry.name, "queue_full").inc()
        raise ApiError(
            503,
            "overloaded",
            "too many requests waiting; retry shortly",
            {"retry_after_s": exc.retry_after_s},
            {"Retry-After": str(exc.retry_after_s)},
        ) from None
    except DeadlineExceeded:
        raise ApiError(
            503, "deadline_exceeded", "the request waited past its X-Request-Timeout-Ms"
        ) from None
    except ClientDisconnected:
        metrics.rejected.labels(entry.name, "client_disconnected").inc()
        # nobody reads this answer; 499 (nginx's "client closed request") labels the metrics
        raise ApiError(499, "client_disconnected", "the client went away before its turn") from None
    except Closed:
        raise ApiError(
            503, "shutting_down", "the server is shutting down", headers={"Retry-After": "1"}
        ) from None


async def respond(
    request: Request,
    entry: ModelVersion,
    job: Job,
    headers: dict[str, str],
    media_type: str,
    services: Services,
) -> Response:
    """The end of every generating route: 304, a cached body, or the job run for real."""
    etag, cache = headers.get("ETag"), services.cache
    if etag is not None:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        if cache is not None and (hit := cache.get(etag)) is not None:
            return Response(hit.body, media_type=hit.media_type, headers=headers)
    body = await run_job(entry, job, request, services.settings, services.metrics)
    services.metrics.images_generated.labels(entry.name).inc(job.size)
    if etag is not None and cache is not None:
        cache.put(etag, CachedResponse(body, media_type))
    return Response(body, media_type=media_type, headers=headers)


def check_output(count: int, entry: ModelVersion, options: ImageOptions, max_pixels: int) -> None:
    assert entry.manifest is not None
    problem = output_problem(count, entry.manifest.image_size, options, max_pixels)
    if problem:
        raise ApiError(
            422,
            "output_too_large",
            problem,
            {"max_output_pixels": max_pixels},
        )


def strong_etag(data: bytes) -> str:
    """A strong ETag that names ``data`` (the first 128 bits of its SHA-256, quoted)."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def seeded_etag(*parts: object, truncation: float | None = None) -> str:
    """Strong ETag of a deterministic response: everything that decides its bytes.

    ``truncation`` (ψ) joins the parts only when set, so untruncated responses keep the ETags
    (and cache keys) they had before truncation existed; ``float`` makes 1 and 1.0 one key."""
    if truncation is not None:
        parts = (*parts, f"truncation={float(truncation)!r}")
    return strong_etag("|".join(map(str, parts)).encode())


@router.post(
    "/generate",
    responses={
        200: {
            "content": {
                t: {} for t in ("image/png", "image/jpeg", "image/webp", "application/json")
            },
            "description": "an image (or grid), or JSON with base64 images",
        },
        304: {"description": "seeded request whose ETag matches If-None-Match"},
        **error_responses(400, 401, 404, 413, 422, 503),
    },
)
async def generate(
    request: Request,
    entry: ModelDep,
    services: ServicesDep,
    deadline: DeadlineDep,
    body: Annotated[GenerateRequest | None, Body()] = None,
) -> Response:
    return await generated(request, entry, services, deadline, body or GenerateRequest())


async def generated(
    request: Request,
    entry: ModelVersion,
    services: Services,
    deadline: float | None,
    req: GenerateRequest,
) -> Response:
    """What every image route answers for a validated request: checks, ETag, the job."""
    settings = services.settings
    assert entry.manifest is not None
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
    options = req.options()
    check_output(req.count, entry, options, settings.max_output_pixels)
    seeded = req.seed is not None or req.seeds is not None
    seeds = (
        req.seeds
        if req.seeds is not None
        else [req.seed + i for i in range(req.count)]
        if req.seed is not None
        else random_seeds(req.count)
    )
    headers = {
        "X-Model-Name": entry.name,
        "X-Model-Version": str(entry.version),
        "X-Seeds": ",".join(map(str, seeds)),
    }
    m = entry.manifest
    if seeded:
        headers["ETag"] = seeded_etag(
            entry.name,
            entry.version,
            m.onnx_sha256,
            seeds,
            *vars(options).values(),
            truncation=req.truncation,
        )
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        headers["Cache-Control"] = "no-store"
    job = Job(
        latents=functools.partial(latents_for_seeds, seeds, m.nz, req.truncation),
        size=len(seeds),
        finish=functools.partial(
            render_images,
            value_range=m.value_range,
            options=options,
            seeds=seeds,
            model=entry.name,
            version=entry.version,
        ),
        heavy=is_heavy(len(seeds), m.image_size, options),
        deadline=deadline,
    )
    return await respond(request, entry, job, headers, MEDIA_TYPES[req.format], services)


ImageFormat = Literal["png", "webp", "jpeg"]


@router.get(
    "/models/{name}/images/{seed}.{format}",
    response_class=Response,  # images only: no application/json in the document
    responses={
        200: {
            "content": {t: {} for t in ("image/png", "image/webp", "image/jpeg")},
            "description": "the image POST /generate makes for this seed: same bytes, same ETag",
        },
        304: {"description": "its ETag matches If-None-Match"},
        **error_responses(401, 404, 422, 503),
    },
)
async def seeded_image(
    request: Request,
    entry: NamedModelDep,
    services: ServicesDep,
    deadline: DeadlineDep,
    seed: Annotated[
        int,
        Path(
            ge=0, le=SEED_MAX, description="the seed, in plain decimal (no sign, no zeros in front)"
        ),
    ],
    format: Annotated[ImageFormat, Path(description="png, webp or jpeg")],
    upscale: Annotated[int, Query(ge=1, le=8, description="enlarge by this factor")] = 1,
    upscale_filter: Annotated[Literal["nearest", "lanczos"], Query()] = "nearest",
    truncation: Annotated[float | None, truncation_query()] = None,
) -> Response:
    """One seeded image at a cacheable URL: the bytes and ETag of POST /generate with
    {"seed": seed, "format": format, ...}. With `version` it is immutable; without it the
    default version answers, which a new export changes, so it is revalidated (no-cache)."""
    # one URL per image: "007", "+7" or "7.0" would split browser and proxy caches
    if request.path_params["seed"] != str(seed):
        raise ApiError(
            422,
            "invalid_parameter",
            f"seed must be written in plain decimal: {seed}",
            {"parameter": "seed", "min": 0, "max": SEED_MAX},
        )
    req = GenerateRequest(
        seed=seed,
        format=format,
        upscale=upscale,
        upscale_filter=upscale_filter,
        truncation=truncation,
    )
    response = await generated(request, entry, services, deadline, req)
    if "version" not in request.query_params:
        # the default version moves when a new one is exported: revalidate (a cheap 304)
        response.headers["Cache-Control"] = "no-cache"
    return response
