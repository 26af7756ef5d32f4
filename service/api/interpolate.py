"""GET /interpolate: a latent walk from seed_a to seed_b, as a strip or an animation."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from service.api.deps import MetricsDep, RegistryDep, SettingsDep, resolve_model
from service.api.generate import default_model, run_model
from service.errors import ApiError
from service.imaging import MEDIA_TYPES, encode, encode_animation, make_grid, to_pil, to_uint8
from service.latents import SEED_MAX, latent_for_seed, lerp, slerp

router = APIRouter(tags=["generate"])


@router.get(
    "/interpolate",
    responses={
        200: {
            "content": {
                t: {} for t in ("image/png", "image/gif", "image/webp", "application/json")
            },
            "description": "a PNG strip, a looping GIF/WebP animation, or JSON",
        }
    },
)
async def interpolate(
    request: Request,
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    seed_a: Annotated[int, Query(ge=0, le=SEED_MAX, description="start seed")],
    seed_b: Annotated[int, Query(ge=0, le=SEED_MAX, description="end seed")],
    model: Annotated[str | None, Query(description="default: DCGAN_DEFAULT_MODEL")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    steps: Annotated[int, Query(ge=2, le=256, description="frames, 2..DCGAN_MAX_COUNT")] = 8,
    method: Annotated[Literal["slerp", "lerp"], Query()] = "slerp",
    format: Annotated[Literal["png", "gif", "webp", "json"], Query()] = "png",
    frame_ms: Annotated[int, Query(ge=20, le=5000, description="animation frame time")] = 100,
) -> Response:
    if steps > settings.max_count:
        raise ApiError(
            422,
            "invalid_parameter",
            f"steps must be in 2..{settings.max_count}",
            {"parameter": "steps", "min": 2, "max": settings.max_count},
        )
    name = model or default_model(registry, settings.default_model)
    entry = resolve_model(registry, name, version)
    request.state.model = name
    assert entry.manifest is not None
    parts = (
        name,
        entry.version,
        entry.manifest.onnx_sha256,
        seed_a,
        seed_b,
        steps,
        method,
        format,
        frame_ms,
    )
    key = "|".join(map(str, parts))
    headers = {
        "X-Model-Name": name,
        "X-Model-Version": str(entry.version),
        "ETag": '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"',
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    nz = entry.manifest.nz
    path = (slerp if method == "slerp" else lerp)(
        latent_for_seed(seed_a, nz),
        latent_for_seed(seed_b, nz),
        np.linspace(0.0, 1.0, steps, dtype=np.float32),
    )
    images = await run_model(entry, path, request, metrics)
    metrics.images_generated.labels(name).inc(steps)
    frames = to_uint8(images, entry.manifest.value_range)
    if format == "json":
        items = [base64.b64encode(encode(to_pil(f), "png")).decode() for f in frames]
        return Response(
            json.dumps({"model": name, "version": entry.version, "frames": items}),
            media_type="application/json",
            headers=headers,
        )
    if format == "png":
        body = encode(to_pil(make_grid(frames, nrow=steps)), "png")
    else:
        body = encode_animation([to_pil(f) for f in frames], format, frame_ms)
    return Response(body, media_type=MEDIA_TYPES[format], headers=headers)
