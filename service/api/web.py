"""GET / and /static/{file}: the service's own web page (no build step, nothing external).

The files of service/static are read once, when this module is imported, and served from
memory with an ETag. They are open (no API key): the page is where a key is typed in. It
then calls the API with the key in an X-API-Key header, never in a URL.

The script is native ES modules, no bundler: app.js, the entry, imports the others as
./name.js (that is /static/name.js). A browser runs a module only when it comes with a
JavaScript content type, so every .js goes out as text/javascript; index.html
modulepreloads them, so they are fetched at once rather than one import level at a time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from service.api.deps import SettingsDep
from service.api.errors import ApiError
from service.api.responses import etag_matches, strong_etag

router = APIRouter(tags=["web"])
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# the page loads nothing from elsewhere; images come from the API or as blob:/data: URLs
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' blob: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate (304): a new release shows at once
}
INDEX = "index.html"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def make_asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, strong_etag(body))


def _load() -> dict[str, Asset]:
    folder = resources.files("service") / "static"
    return {
        f.name: make_asset(f.read_bytes(), MEDIA_TYPES[ext])
        for f in folder.iterdir()
        if f.is_file() and (ext := "." + f.name.rpartition(".")[2]) in MEDIA_TYPES
    }


ASSETS = _load()


@functools.lru_cache(maxsize=8)
def _index(key_required: bool, max_count: int, max_pixels: int) -> Asset:
    """index.html with what the page must know before its first request."""
    html = ASSETS[INDEX].body.decode()
    html = html.replace(
        'data-key-required="false"', f'data-key-required="{str(key_required).lower()}"'
    )
    html = html.replace('data-max-count="64"', f'data-max-count="{max_count}"')
    html = html.replace('data-max-pixels="16777216"', f'data-max-pixels="{max_pixels}"')
    return make_asset(html.encode(), MEDIA_TYPES[".html"])


def serve_asset(request: Request, asset: Asset, base_headers: dict[str, str] = HEADERS) -> Response:
    """``asset`` with its ETag, or a 304 when the client holds it already."""
    headers = {**base_headers, "ETag": asset.etag}
    if etag_matches(request.headers.get("if-none-match", ""), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


# HEAD as well: uptime checks and link checkers ask with it (it was a 405)
@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def page(request: Request, settings: SettingsDep) -> Response:
    return serve_asset(
        request,
        _index(settings.api_key is not None, settings.max_count, settings.max_output_pixels),
    )


@router.api_route("/static/{file}", methods=["GET", "HEAD"], include_in_schema=False)
async def static(request: Request, file: Annotated[str, Path()]) -> Response:
    asset = ASSETS.get(file) if file != INDEX else None
    if asset is None:
        raise ApiError(
            404,
            "not_found",
            f"no static file {file!r}",
            {"available": sorted(set(ASSETS) - {INDEX})},
        )
    return serve_asset(request, asset)
