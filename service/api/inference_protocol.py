"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST API) beside the image API.

    GET  /v2                                  server metadata
    GET  /v2/health/live, /v2/health/ready    liveness, readiness (open, as /healthz)
    GET  /v2/models/{name}[/versions/{v}]     inputs, outputs, datatypes, shapes
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer

Inference takes a ``seed`` tensor (UINT64 [N]) or a ``z`` tensor (FP32 [N, nz]) and answers
``images`` (UINT8 [N, H, W, C]) and/or ``png`` (BYTES [N]), as JSON or as binary tensor data
(``service.api.inference_tensors``). It is a hot route (``service.api.fastpath``) and goes
through what the image API goes through: API key, the model's lease, the queue-full check,
the body limit, the deadline header, the micro-batcher and the metrics. The same seed gives
the pixels ``POST /generate`` encodes. Errors on these routes are the protocol's
``{"error": "..."}``; the image API keeps its own shape.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Response
from pydantic import BaseModel, Field

from service import __version__
from service.api.deps import DeadlineHeader, latent_source, truncation_of
from service.api.errors import ApiError, is_protocol_path
from service.api.fastpath import Call, served_by
from service.api.inference_tensors import (
    HEADER_LENGTH,
    IMAGES,
    LATENT,
    PNG,
    SEED,
    InferenceRequest,
    TensorError,
    inference_response,
    parse_inference,
)
from service.api.operations import not_ready
from service.api.responses import Reply, run_job
from service.inference.batching import Job
from service.inference.registry import ModelVersion
from service.inference.rendering import ImageOptions, is_heavy

router = APIRouter(tags=["open inference protocol"])  # behind the API key
health_router = APIRouter(tags=["open inference protocol"])  # open, for probes
EXTENSIONS = ["binary_tensor_data"]
PLATFORM = "onnxruntime_onnx"
_JSON = "application/json"
_BINARY = "application/octet-stream"


class ProtocolError(BaseModel):
    error: str = Field(description="what went wrong")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "a request the protocol or the model cannot serve (the message says which)",
        401: "missing or wrong API key",
        404: "unknown model or version",
        413: "a body over DCGAN_MAX_BODY_BYTES",
        503: "the model is not ready, its queue is full, or the deadline passed",
    }
    return {s: {"model": ProtocolError, "description": described[s]} for s in statuses}


def protocol_errors(handler: Callable[[Call], Awaitable[Reply]]) -> Callable[..., Any]:
    """``handler`` with its errors in the protocol's shape: ``{"error": message}``, the image
    API's 422 (a parameter it cannot take) as the protocol's 400. (What is refused before a
    handler runs, a 413 or a 404 from the router, gets the same shape: service.api.errors.)"""

    @functools.wraps(handler)
    async def wrapped(call: Call) -> Reply:
        try:
            return await handler(call)
        except TensorError as exc:
            return _error(400, str(exc))
        except ApiError as exc:
            status = 400 if exc.status == 422 else exc.status
            return _error(status, exc.message, dict(exc.headers or {}))

    return wrapped


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(json.dumps({"error": message}).encode(), _JSON, headers or {}, status)


def _json(payload: dict[str, Any], status: int = 200) -> Reply:
    return Reply(json.dumps(payload, separators=(",", ":")).encode(), _JSON, {}, status)


def _version(call: Call) -> int | None:
    raw = call.path_params.get("version")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:  # "¹".isdigit() is True
        raise ApiError(404, "version_not_found", f"versions are whole numbers from 1, not {raw!r}")
    return int(raw)


# ---- server -------------------------------------------------------------------------------


@protocol_errors
async def serve_server_metadata(call: Call) -> Reply:
    call.require_key()
    return _json({"name": "dcgan-serve", "version": __version__, "extensions": EXTENSIONS})


@protocol_errors
async def serve_live(call: Call) -> Reply:
    return _json({"live": True})


@protocol_errors
async def serve_ready(call: Call) -> Reply:
    """Ready as /readyz is: a model loaded and warmed up, until shutdown begins."""
    problem = not_ready(call.manager)
    if problem is not None:
        return _error(503, problem[1])
    return _json({"ready": True})


# ---- models -------------------------------------------------------------------------------


def model_metadata(entry: ModelVersion, versions: list[str]) -> dict[str, Any]:
    m = entry.manifest
    assert m is not None
    return {
        "name": entry.name,
        "versions": versions,
        "platform": PLATFORM,
        "inputs": [
            {"name": SEED, "datatype": "UINT64", "shape": [-1]},
            {"name": LATENT, "datatype": "FP32", "shape": [-1, m.nz]},
        ],
        "outputs": [
            {
                "name": IMAGES,
                "datatype": "UINT8",
                "shape": [-1, m.image_size, m.image_size, m.channels],
            },
            {"name": PNG, "datatype": "BYTES", "shape": [-1]},
        ],
    }


@protocol_errors
async def serve_model_metadata(call: Call) -> Reply:
    call.require_key()
    name, version = call.path_params["name"], _version(call)
    with call.model(name, version) as entry:
        registry = call.manager.registry
        ready = [str(v) for v, e in sorted(registry.models[name].items()) if e.status == "ready"]
        return _json(model_metadata(entry, [str(entry.version)] if version else ready))


@protocol_errors
async def serve_model_ready(call: Call) -> Reply:
    """200 when the version (or the model's default) can serve; 503 (as KServe answers) with
    the reason while it cannot."""
    call.require_key()
    name, version = call.path_params["name"], _version(call)
    with call.model(name, version) as entry:
        return _json({"name": entry.name, "version": str(entry.version), "ready": True})


# ---- inference ----------------------------------------------------------------------------


@protocol_errors
async def serve_infer(call: Call) -> Reply:
    call.require_key()
    name, version = call.path_params["name"], _version(call)
    deadline = call.deadline()
    call.refuse_if_saturated(name, version)
    body = await call.body()
    settings = call.services.settings
    with call.model(name, version) as entry:
        m = entry.manifest
        assert m is not None
        request = parse_inference(
            body, call.header(HEADER_LENGTH.encode()), m.nz, settings.max_count
        )
        truncation = truncation_of(entry, request.truncation)
        latents = latent_source(
            request.seeds, request.latents, m.nz, request.truncation, truncation
        )
        # binary uint8 images are a copy of the pixels; PNGs and JSON numbers are real work
        light = all(out == IMAGES and binary for out, binary in request.outputs)
        job = Job(
            latents=latents,
            size=request.count,
            finish=functools.partial(
                inference_response, inference=request, model=entry.name, version=entry.version
            ),
            heavy=not light and is_heavy(request.count, m.image_size, ImageOptions()),
            deadline=deadline,
        )
        header, binary = await run_job(entry, job, call.receive, call.services)
    headers = {"X-Model-Name": entry.name, "X-Model-Version": str(entry.version)}
    if not binary:
        return Reply(header, _JSON, headers)
    headers["Inference-Header-Content-Length"] = str(len(header))
    return Reply(header + binary, _BINARY, headers)


# ---- the documented contract (FastAPI signatures; requests go to serve_*) ------------------


def document_protocol(spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 for every operation with parameters; the protocol's routes
    answer a bad request with 400 instead, so theirs is dropped."""
    for path, item in spec.get("paths", {}).items():
        if is_protocol_path(path):
            for operation in item.values():
                operation.get("responses", {}).pop("422", None)
    return spec


_METADATA = {200: {"description": "the metadata"}}
ModelName = Annotated[str, Path(description="model name, as listed by GET /models")]
Version = Annotated[str, Path(description="a version number (1, 2, ...)")]


@router.get("/v2", responses=_errors(401))
@served_by(serve_server_metadata)
async def server_metadata() -> dict[str, Any]:
    """Server name, version and protocol extensions (binary_tensor_data)."""
    raise NotImplementedError


@health_router.get("/v2/health/live")
@served_by(serve_live)
async def server_live() -> dict[str, bool]:
    """The process is alive (open, as /healthz)."""
    raise NotImplementedError


@health_router.get("/v2/health/ready", responses=_errors(503))
@served_by(serve_ready)
async def server_ready() -> dict[str, bool]:
    """Ready when a model is loaded and warmed up, until shutdown begins (as /readyz)."""
    raise NotImplementedError


@router.get("/v2/models/{name}", responses=_errors(401, 404, 503))
@served_by(serve_model_metadata)
async def model_metadata_route(name: ModelName) -> dict[str, Any]:
    """Inputs (seed UINT64 [-1] or z FP32 [-1, nz]) and outputs (images UINT8
    [-1, H, W, C], png BYTES [-1]) of the model's default version; its ready versions."""
    raise NotImplementedError


@router.get("/v2/models/{name}/versions/{version}", responses=_errors(401, 404, 503))
@served_by(serve_model_metadata)
async def version_metadata_route(name: ModelName, version: Version) -> dict[str, Any]:
    """Inputs and outputs of one version."""
    raise NotImplementedError


@router.get("/v2/models/{name}/ready", responses=_errors(401, 404, 503))
@served_by(serve_model_ready)
async def model_ready_route(name: ModelName) -> dict[str, Any]:
    """The model's default version can serve."""
    raise NotImplementedError


@router.get("/v2/models/{name}/versions/{version}/ready", responses=_errors(401, 404, 503))
@served_by(serve_model_ready)
async def version_ready_route(name: ModelName, version: Version) -> dict[str, Any]:
    """The version can serve."""
    raise NotImplementedError


_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON tensors, or (any output with binary_data) the JSON header then "
        "the binary tensors, split at Inference-Header-Content-Length",
        "content": {_JSON: {}, _BINARY: {}},
    },
    **_errors(400, 401, 404, 413, 503),
}
InferBody = Annotated[InferenceRequest, Body()]
HeaderLength = Annotated[
    int | None,
    Header(
        alias="Inference-Header-Content-Length",
        description="with binary tensor data: the length of the JSON header that starts the body",
    ),
]


@router.post("/v2/models/{name}/infer", response_class=Response, responses=_INFER_RESPONSES)
@served_by(serve_infer)
async def infer_route(
    name: ModelName,
    request: InferBody,
    header_length: HeaderLength = None,
    x_request_timeout_ms: DeadlineHeader = None,
) -> Response:
    """Images for seeds or latents, with the default version: the same pixels as
    POST /generate for the same seeds."""
    raise NotImplementedError


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    response_class=Response,
    responses=_INFER_RESPONSES,
)
@served_by(serve_infer)
async def version_infer_route(
    name: ModelName,
    version: Version,
    request: InferBody,
    header_length: HeaderLength = None,
    x_request_timeout_ms: DeadlineHeader = None,
) -> Response:
    """Images for seeds or latents, with one version."""
    raise NotImplementedError
