"""GET /models/{name}/files/{file}: the pictures of a model card (samples, training, losses).

Only the names in contract.manifest.CARD_FILES are served, from the version folder the
registry resolved; the path checks are the registry's own (regular files inside the models
folder). A file is streamed in chunks read in worker threads, never on the event loop and
never whole: a 300 MB training animation asked for by 8 clients at once would otherwise be
2.4 GB of memory. Its ETag (a hash of the bytes: a re-export under the same version
changes it) is computed once per file state and remembered, for a bounded number of files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, BinaryIO, Literal, get_args

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse

from contract.manifest import CARD_FILES
from service.api.deps import NamedModelDep, SettingsDep
from service.api.errors import ApiError, error_responses
from service.api.responses import etag_matches
from service.inference.registry import open_card_file

router = APIRouter(tags=["models"])
CardFile = Literal["samples.png", "training.gif", "losses.png"]
assert set(get_args(CardFile)) == set(CARD_FILES)
CHUNK = 1 << 20  # bytes read per worker-thread hop
TAGS_KEPT = 1024  # file states whose ETag is remembered (a few hundred bytes each)


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
    found = await asyncio.to_thread(_open_and_tag, settings.models_dir, entry.path, file)
    if found is None:
        raise ApiError(
            404,
            "file_not_found",
            f"{entry.name} v{entry.version} has no {file}",
            {"available": list(entry.files)},
        )
    handle, size, etag = found
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",  # revalidate: the folder may change under a version
        "X-Model-Name": entry.name,
        "X-Model-Version": str(entry.version),
    }
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        handle.close()
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(handle, size), media_type=CARD_FILES[file], headers=headers)


class _Tags:
    """ETags by file state (path, device, inode, size, mtime), least recently used out."""

    def __init__(self, kept: int) -> None:
        self.kept, self._tags = kept, OrderedDict[tuple[object, ...], str]()
        self._lock = threading.Lock()  # used from worker threads

    def get(self, key: tuple[object, ...]) -> str | None:
        with self._lock:
            if key in self._tags:
                self._tags.move_to_end(key)
            return self._tags.get(key)

    def put(self, key: tuple[object, ...], tag: str) -> None:
        with self._lock:
            self._tags[key] = tag
            while len(self._tags) > self.kept:
                self._tags.popitem(last=False)


TAGS = _Tags(TAGS_KEPT)


def _open_and_tag(
    root: pathlib.Path, folder: pathlib.Path, file: str
) -> tuple[BinaryIO, int, str] | None:
    """The open file, its size and its ETag (worker thread: hashing is blocking I/O)."""
    handle = open_card_file(root, folder, file)
    if handle is None:
        return None
    try:
        info = os.fstat(handle.fileno())
        key = (str(folder / file), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        tag = TAGS.get(key)
        if tag is None:
            digest = hashlib.file_digest(handle, "sha256")  # type: ignore[arg-type]
            tag = f'"{digest.hexdigest()[:32]}"'
            TAGS.put(key, tag)
            handle.seek(0)
        return handle, info.st_size, tag
    except BaseException:
        handle.close()
        raise


async def _chunks(handle: BinaryIO, size: int) -> AsyncIterator[bytes]:
    """``size`` bytes of ``handle`` (its length when it was tagged: the Content-Length sent)."""
    try:
        left = size
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, left))
            if not chunk:  # shortened under us: the client sees a short body, not a hang
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()
