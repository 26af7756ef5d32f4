"""DCGAN_WATCH: reload when files change under the models folder, and follow the folder
itself. A watch sits on a folder's inode, so a models folder deleted and recreated, renamed
away or re-pointed through a symlink (the usual atomic way to publish a new set) would
otherwise leave the watcher on the old one, silently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("service.model_watch")  # not __name__: the name log lines always had
access_log = logging.getLogger("service.access")

WATCH_SETTLE_S = 1.0  # the second look after a file-change reload
WATCH_FOLDER_POLL_S = 1.0  # how often the watch checks that the models folder is the same one
Reload = Callable[[], Awaitable[object]]


def folder_identity(path: Path) -> tuple[str, int, int] | None:
    """What a watch is tied to: the folder's real path and inode; None when it is missing."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return (real, st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


async def watch_models_folder(root: Path, reload: Reload) -> None:
    """Call ``reload`` after each change under ``root``, and whenever ``root`` is replaced."""
    if folder_identity(root) is None:
        root.mkdir(parents=True, exist_ok=True)
    replaced = False  # at start-up the manager looks again itself
    while True:
        identity = folder_identity(root)
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_files(root, stop, reload)) if identity else None
        if replaced:
            # what landed in the new folder after the reload below and before this watch was
            # set up brings no event: look once more when the watch is surely up
            await asyncio.sleep(WATCH_SETTLE_S)
            await _reload_logged(reload, "reload after the models folder changed failed")
        while folder_identity(root) == identity and not (watcher and watcher.done()):
            await asyncio.sleep(WATCH_FOLDER_POLL_S)
        stop.set()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        now = folder_identity(root)
        if now != identity:
            log.warning(
                "the models folder %s was %s: reloading, and watching what is there now",
                root,
                "removed" if now is None else "replaced (recreated, renamed or re-pointed)",
            )
            access_log.info(json.dumps({"event": "reload", "reason": "models folder replaced"}))
        replaced = True
        await _reload_logged(reload, "reload after the models folder changed failed")


async def _reload_logged(reload: Reload, failure: str) -> None:
    """A reload whose failure is logged: a bad reload must not stop the watch."""
    try:
        await reload()
    except Exception:
        log.exception(failure)


async def _watch_files(root: Path, stop: asyncio.Event, reload: Reload) -> None:
    from watchfiles import awatch

    # exports are renamed into place, so one change set means a whole new version
    async for changes in awatch(root, debounce=500, stop_event=stop):
        access_log.info(json.dumps({"event": "reload", "changes": len(changes)}))
        try:
            await reload()
            # A folder created in this change set (a new model's first version) can be
            # filled before the watcher has added a watch on it, and those events never
            # come: look once more after a moment (unchanged versions are kept as they are).
            await asyncio.sleep(WATCH_SETTLE_S)
            await reload()
        except Exception:  # a bad reload must not stop the watcher
            log.exception("reload after file change failed")
