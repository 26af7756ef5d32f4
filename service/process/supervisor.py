"""The parent process of ``DCGAN_WORKERS`` > 1: uvicorn's process manager, made safe to stop,
to kill and to leave running for months.

- **A clean stop.** The parent closes its copy of the listening socket before it stops the
  workers (each closes its own as it begins to drain): a client connecting during the stop
  is refused, which it retries elsewhere, instead of waiting in the backlog of a socket no
  process accepts from and being reset when the parent exits.
- **The shared folder** (worker metrics for ``/metrics``, the reload signal) lives in the
  temporary folder, named after the parent's pid. It is touched every few minutes, so an
  age-based cleaner of /tmp (systemd-tmpfiles, tmpreaper) leaves it alone; if it is deleted
  anyway, it is made again and the workers are replaced one by one (uvicorn brings each
  replacement into service before retiring the old worker), since a worker's metric files
  cannot move. Folders left by a parent that was killed (SIGKILL cannot be cleaned up
  after) are removed at the next start.
- **A prompt stop.** uvicorn's parent looks at its signals every 0.5 s, so a SIGTERM reached
  the workers up to 0.5 s late (with ``DCGAN_SHUTDOWN_GRACE_S=0`` the stop took up to 1 s, and
  a request whose answer was ready by then got it instead of the 503). Here the signal wakes
  the parent's loop as it arrives (``signal.set_wakeup_fd``).
- **A killed parent** leaves no orphans: each worker follows its parent and stops
  (gracefully) when it is gone (``service.runtime.lifecycle``), so a restart finds the port
  free; the last process out removes the folder (``service.core.multiproc.remove_if_last``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from uvicorn.supervisors import Multiprocess

from service.core.multiproc import metrics_folder, process_exists

log = logging.getLogger("service")
uvicorn_log = logging.getLogger("uvicorn.error")  # the parent's own lines, as uvicorn writes them

PREFIX = "dcgan-serve-"
TOUCH_EVERY_S = 300.0  # far below any /tmp cleaner's age limit (10 days for systemd-tmpfiles)


def make_shared(shared: Path) -> None:
    metrics_folder(shared).mkdir(parents=True, exist_ok=True)


def folder_identities(shared: Path) -> list[tuple[int, int] | None]:
    """(device, inode) of the shared folder and its parts; None for a missing one."""
    found: list[tuple[int, int] | None] = []
    for folder in (shared, metrics_folder(shared)):
        try:
            info = folder.stat()
            found.append((info.st_dev, info.st_ino))
        except OSError:
            found.append(None)
    return found


def owner_pid(folder: Path) -> int | None:
    """The parent pid a shared folder is named after (``dcgan-serve-<pid>-<random>``)."""
    pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def remove_stale_folders(temp: Path) -> list[Path]:
    """Remove the shared folders of parents that no longer run (this user's only)."""
    removed = []
    for folder in temp.glob(f"{PREFIX}*"):
        pid = owner_pid(folder)
        try:
            mine = folder.is_dir() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid is not None and pid != os.getpid() and not process_exists(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("removed %d folder(s) left by a stopped dcgan-serve", len(removed))
    return removed


@contextlib.contextmanager
def shared_folder() -> Iterator[Path]:
    """A fresh shared folder for this parent and its workers, removed when it stops."""
    temp = Path(tempfile.gettempdir())
    remove_stale_folders(temp)
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-") as name:
        shared = Path(name)
        make_shared(shared)
        yield shared


@contextlib.contextmanager
def signal_wakeup() -> Iterator[Callable[[float], None]]:
    """A wait of at most some seconds that a signal ends as it arrives. The wakeup fd is
    written by the C-level handler, so a signal that comes between two waits ends the next
    one at once instead of being noticed a whole wait later."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def wait(seconds: float) -> None:
        if select.select([reader], [], [], seconds)[0]:
            with contextlib.suppress(BlockingIOError):
                while reader.recv(256):
                    pass

    try:
        yield wait
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


class Supervisor(Multiprocess):
    """uvicorn's Multiprocess with the stop and the shared folder of the module docstring."""

    def __init__(self, *args: object, shared: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.shared = shared
        self._identity = folder_identities(shared)
        self._touched = time.monotonic()

    def run(self) -> None:
        """uvicorn's loop (start the workers; until a stop: signals, then health), woken by
        a signal as it arrives (see the module docstring)."""
        with signal_wakeup() as wait:
            uvicorn_log.info("Started parent process [%d]", os.getpid())
            self.init_processes()
            while not self.should_exit.is_set():
                wait(0.5)
                self.handle_signals()
                self.keep_subprocess_alive()
            self.terminate_all()
            self.join_all()
            uvicorn_log.info("Stopping parent process [%d]", os.getpid())

    def terminate_all(self) -> None:
        for sock in self.sockets:  # refused from now on, not queued unaccepted
            sock.close()
        super().terminate_all()

    def keep_subprocess_alive(self) -> None:
        if not self.should_exit.is_set():
            self.keep_shared_folder()
        super().keep_subprocess_alive()

    def keep_shared_folder(self) -> None:
        # by identity, not existence: a worker makes a deleted folder again when it needs it
        if folder_identities(self.shared) != self._identity:
            log.warning(
                "the shared folder %s was deleted (a /tmp cleaner?): made again; replacing "
                "the workers one by one so /metrics counts them again",
                self.shared,
            )
            make_shared(self.shared)
            self._identity = folder_identities(self.shared)
            self.restart_all()
            return
        if time.monotonic() - self._touched >= TOUCH_EVERY_S:
            self._touched = time.monotonic()
            for path in (self.shared, *self.shared.rglob("*")):
                with contextlib.suppress(OSError):
                    os.utime(path)
