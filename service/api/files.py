"""GET /models/{name}/files/{file}: the pictures of a model card (samples, training, losses).

Only the names in service.manifest.CARD_FILES are served, from the version folder the
registry resolved; the path checks are the registry's own (regular files inside the models
folder). The files are read in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import pathlib
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Path, Request, Response

from service.api.deps import NamedModelDep, SettingsDep
from service.api.responses import etag_matches, strong_etag
from service.errors import ApiError, error_responses
from service.manifest import CARD_FILES
from service.registry import read_card_file

router = APIRouter(tags=["models"])
CardFile = Literal["samples.png", "training.gif", "losses.png"]
assert set(get_args(CardFile)) == set(CARD_FILES)


@router.get(
    "/models/{name}/files/{file}",
    response_class=Response,  # pictures only: no application/json in the document
    responses={
        200: {
            "content": {t: {} for t in sorted(set(CARD_FILES.values()))},
            "description": "the picture, as written by `dcgan export`",
        },
        304: {"description": "its ETag matches If-None-Match"},
        **error_responses(
            401, 404, 422, 503, descriptions={404: "unknown model or version, or no such file"}
        ),
    },
)
async def model_file(
    request: Request,
    entry: NamedModelDep,
    settings: SettingsDep,
    file: Annotated[CardFile, Path(description="one of the model card's pictures")],
) -> Response:
    """A picture of a model version: its seeds 0..63, the training animation, the loss plot.

    `GET /models/{name}` lists the ones a version has under `files`."""
    found = await asyncio.to_thread(_read_and_tag, settings.models_dir, entry.path, file)
    if found is None:
        raise ApiError(
            404,
            "file_not_found",
            f"{entry.name} v{entry.version} has no {file}",
            {"available": list(entry.files)},
        )
    body, etag = found
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",  # revalidate: the folder may change under a version
        "X-Model-Name": entry.name,
        "X-Model-Version": str(entry.version),
    }
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CARD_FILES[file], headers=headers)


def _read_and_tag(root: pathlib.Path, folder: pathlib.Path, file: str) -> tuple[bytes, str] | None:
    """The file and its ETag (worker thread: hashing a few MB is CPU work)."""
    body = read_card_file(root, folder, file)
    if body is None:
        return None
    # the bytes decide the tag: a re-export under the same version changes it
    return body, strong_etag(body)
