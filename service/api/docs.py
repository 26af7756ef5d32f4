"""GET /docs (Swagger UI) and /redoc with their scripts served from here, not from a CDN.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr, so they are blank on a machine
without internet access (where models are often served). The assets come from
fastapi-offline's wheel (MIT; Swagger UI Apache-2.0, ReDoc MIT), read when first asked for
and kept in memory. Open like /openapi.json: they hold no data, and Swagger's Authorize
button is where a key is typed in.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.api.errors import ApiError
from service.api.web import Asset, make_asset, serve_asset

ASSET_PATH = "/docs/assets"
MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
router = APIRouter(tags=["docs"])


# JavaScript and CSS, not documents: the page's Content-Security-Policy does not apply
ASSET_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


@functools.cache
def _asset(name: str) -> Asset:
    body = (resources.files("fastapi_offline") / "static" / name).read_bytes()
    return make_asset(body, MEDIA_TYPES[name])


@router.get("/docs", include_in_schema=False)
async def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{ASSET_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PATH}/favicon.png",
        swagger_ui_parameters=request.app.swagger_ui_parameters,
    )


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{ASSET_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSET_PATH}/favicon.png",
        with_google_fonts=False,  # fonts from Google are a CDN too
    )


@router.api_route(ASSET_PATH + "/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def asset(request: Request, name: Annotated[str, Path()]) -> Response:
    if name not in MEDIA_TYPES:
        raise ApiError(
            404, "not_found", f"no docs asset {name!r}", {"available": sorted(MEDIA_TYPES)}
        )
    return serve_asset(request, _asset(name), ASSET_HEADERS)
