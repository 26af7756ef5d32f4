"""One JSON error shape for every error: {"error": {"code", "message", "details"}}.

The Open Inference Protocol's routes (under /v2) answer in that protocol's own shape,
{"error": "message"}, which its clients parse (``error_payload``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details or {}, headers


def validation_problems(errors: Sequence[Mapping[str, Any]]) -> ApiError:
    """422 invalid_parameter from pydantic's errors (``loc``: where, then the field path),
    naming every bad parameter: the FastAPI routes and the hot routes answer alike."""
    problems = [
        {
            "parameter": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
            "message": e["msg"],
        }
        for e in errors
    ]
    names = ", ".join(p["parameter"] for p in problems)
    return ApiError(
        422, "invalid_parameter", f"invalid parameter(s): {names}", {"errors": problems}
    )


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


PROTOCOL_PREFIX = "/v2"  # the Open Inference Protocol's routes


def is_protocol_path(path: str) -> bool:
    return path == PROTOCOL_PREFIX or path.startswith(PROTOCOL_PREFIX + "/")


def error_payload(
    path: str, code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The error body of a request to ``path``: the protocol's under /v2, ours elsewhere."""
    if is_protocol_path(path):
        return {"error": message}
    return error_body(code, message, details)


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable, machine-readable: model_not_found, overloaded, ...")
    message: str = Field(description="for humans; may change")
    details: dict[str, Any] = Field(description="code-specific facts (may be empty)")


class ErrorResponse(BaseModel):
    """The body of every error response (OpenAPI documentation only: see error_body)."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorInfo


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "the request body could not be read (not UTF-8 text)",
    401: "missing or wrong API key (X-API-Key: KEY or Authorization: Bearer KEY)",
    404: "unknown model or version",
    413: "request body larger than DCGAN_MAX_BODY_BYTES",
    422: "invalid parameter(s), or an output over DCGAN_MAX_OUTPUT_PIXELS",
    503: "overloaded, model unavailable, past its deadline, or shutting down (Retry-After)",
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    503: {
        "Retry-After": {
            "description": "seconds to wait before retrying (not on every 503)",
            "schema": {"type": "string"},
        }
    },
}


def error_responses(
    *statuses: int, descriptions: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting ``statuses`` with the shared error body."""
    descriptions = {**ERROR_DESCRIPTIONS, **(descriptions or {})}
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorResponse, "description": descriptions[status]}
        if status in _ERROR_HEADERS:
            responses[status]["headers"] = _ERROR_HEADERS[status]
    return responses


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = error_payload(request.url.path, exc.code, exc.message, exc.details)
        return JSONResponse(body, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = validation_problems(exc.errors())
        body = error_payload(request.url.path, error.code, error.message, error.details)
        return JSONResponse(body, error.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "invalid_body",
            404: "not_found",
            405: "method_not_allowed",
            413: "body_too_large",
        }.get(exc.status_code, "http_error")
        body = error_payload(request.url.path, code, str(exc.detail))
        return JSONResponse(body, exc.status_code, exc.headers)
