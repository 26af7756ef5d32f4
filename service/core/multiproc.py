"""What the processes of one ``dcgan-serve`` share (DCGAN_WORKERS > 1, DCGAN_ENGINE=shared):
the shared folder's layout and how the last process out of it cleans up.

The parent (``service.process.supervisor``) makes the folder and names its metrics part in
``PROMETHEUS_MULTIPROC_DIR`` for every child; the workers, the engine and ``/metrics`` read
it back from there. Here so that every side agrees on one layout without importing the
parent's process manager.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable


def metrics_folder(shared: Path) -> Path:
    """Where the workers' metric files go (``MULTIPROC_ENV``) in the shared folder."""
    return shared / "metrics"


def inherited_shared_folder() -> Path | None:
    """The shared folder of the parent this process runs under (the one ``MULTIPROC_ENV``
    points into), or None when it runs on its own."""
    folder = os.environ.get(MULTIPROC_ENV)
    return Path(folder).parent if folder else None


def metric_file_pid(path: Path | str) -> int | None:
    """The worker pid a metric file is named after (``<kind>_<pid>.db``), else None."""
    pid = Path(path).stem.rsplit("_", 1)[-1]
    return int(pid) if pid.isdigit() else None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def remove_if_last(shared: Path) -> None:
    """Called by a worker whose parent was killed, as it stops: it removes its own (and dead
    workers') metric files, and the last one out removes the shared folder the parent could
    not. Two workers stopping together both find the other's files gone, and both remove it."""
    others = False
    for file in metrics_folder(shared).glob("*_*.db"):
        pid = metric_file_pid(file)
        if pid is None:
            continue
        if pid == os.getpid() or not process_exists(pid):
            file.unlink(missing_ok=True)
        else:
            others = True
    if not others:
        shutil.rmtree(shared, ignore_errors=True)
