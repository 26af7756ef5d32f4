"""POST /generate: seeded or random images from a model."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from service.api.deps import MetricsDep, RegistryDep, SettingsDep, resolve_model
from service.batching import Overloaded
from service.errors import ApiError
from service.imaging import MEDIA_TYPES, encode, make_grid, to_pil, to_uint8, upscale
from service.latents import SEED_MAX, latents_for_seeds, random_seeds
from service.metrics import Metrics
from service.registry import ModelVersion

router = APIRouter(tags=["generate"])
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]


class GenerateRequest(BaseModel):
    count: int = Field(default=1, ge=1, description="images to make (at most DCGAN_MAX_COUNT)")
    seed: Seed | None = Field(
        default=None, description="seed of the first image; image i uses seed + i"
    )
    seeds: list[Seed] | None = Field(default=None, min_length=1, description="one seed per image")
    format: Literal["png", "jpeg", "webp", "json"] = "png"
    grid: bool = Field(default=False, description="tile several images into one picture")
    upscale: int = Field(default=1, ge=1, le=8, description="enlarge each image by this factor")
    upscale_filter: Literal["nearest", "lanczos"] = "nearest"

    @model_validator(mode="after")
    def _one_seed_source(self) -> GenerateRequest:
        if self.seed is not None and self.seeds is not None:
            raise ValueError("give seed or seeds, not both")
        if self.seeds is not None:
            self.count = len(self.seeds)
        if self.seed is not None and self.seed + self.count - 1 > SEED_MAX:
            raise ValueError(f"seed + count - 1 must be <= {SEED_MAX}")
        return self


def default_model(registry: RegistryDep, configured: str) -> str:
    if configured in registry.models or not registry.ready_names():
        return configured
    return registry.ready_names()[0]


async def run_model(
    entry: ModelVersion, latents: np.ndarray, request: Request, metrics: Metrics
) -> np.ndarray:
    """Through the model's micro-batcher, or alone (batching off); 503 when overloaded."""
    if entry.batcher is None:
        # onnxruntime releases the GIL: run it off the event loop
        with metrics.inference_duration.labels(entry.name).time():
            images = await asyncio.to_thread(entry.run, latents)
        metrics.batch_size.labels(entry.name).observe(len(latents))
        return images
    try:
        return await entry.batcher.submit(latents, request.is_disconnected)
    except Overloaded:
        metrics.rejected.labels(entry.name, "queue_full").inc()
        raise ApiError(
            503,
            "overloaded",
            "too many requests waiting; retry shortly",
            {"queue_size": entry.batcher.queue_size},
            {"Retry-After": "1"},
        ) from None


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
    },
)
async def generate(
    request: Request,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    model: Annotated[
        str | None, Query(description="model name; default DCGAN_DEFAULT_MODEL")
    ] = None,
    version: Annotated[int | None, Query(ge=1, description="default: the highest version")] = None,
    body: Annotated[GenerateRequest | None, Body()] = None,
) -> Response:
    req = body or GenerateRequest()
    name = model or default_model(registry, settings.default_model)
    entry = resolve_model(registry, name, version)
    request.state.model = name
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
    seeded = req.seed is not None or req.seeds is not None
    seeds = (
        req.seeds
        if req.seeds is not None
        else [req.seed + i for i in range(req.count)]
        if req.seed is not None
        else random_seeds(req.count)
    )
    assert entry.manifest is not None
    headers = {
        "X-Model-Name": name,
        "X-Model-Version": str(entry.version),
        "X-Seeds": ",".join(map(str, seeds)),
    }
    if seeded:
        parts = (
            name,
            entry.version,
            entry.manifest.onnx_sha256,
            seeds,
            req.format,
            req.grid,
            req.upscale,
            req.upscale_filter,
        )
        key = "|".join(map(str, parts))
        headers["ETag"] = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
    else:
        headers["Cache-Control"] = "no-store"
    latents = latents_for_seeds(seeds, entry.manifest.nz)
    images = await run_model(entry, latents, request, metrics)
    metrics.images_generated.labels(name).inc(len(seeds))
    pixels = upscale(to_uint8(images, entry.manifest.value_range), req.upscale, req.upscale_filter)
    if req.format == "json":
        items = [
            {"seed": s, "png": base64.b64encode(encode(to_pil(p), "png")).decode()}
            for s, p in zip(seeds, pixels, strict=True)
        ]
        payload = {"model": name, "version": entry.version, "images": items}
        return Response(json.dumps(payload), media_type="application/json", headers=headers)
    picture = make_grid(pixels) if req.grid else pixels[0]
    return Response(
        encode(to_pil(picture), req.format), media_type=MEDIA_TYPES[req.format], headers=headers
    )
