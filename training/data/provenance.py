"""Where a data set came from, recorded in the manifest so a shipped model says how it was made.

``dcgan data cartoon-faces`` (and any tool that follows the convention) writes a
``dataset.json`` next to the image folder it generates: the command, generator version, seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DATASET_RECORD = "dataset.json"


def dataset_provenance(spec: str) -> dict[str, Any] | None:
    """The dataset.json in or next to an image folder, or None (built-in sets, plain folders)."""
    path = Path(spec)
    for candidate in (path / DATASET_RECORD, path.parent / DATASET_RECORD):
        if candidate.is_file():
            try:
                record = json.loads(candidate.read_text())
            except (OSError, ValueError):
                return None
            return record if isinstance(record, dict) else None
    return None


def portable_spec(spec: str, base: Path | None = None) -> str:
    """A data set path relative to ``base`` (default: the working directory) when inside it.

    Manifests travel with models to other machines, where this host's absolute paths mean
    nothing; built-in names and paths elsewhere are kept as given.
    """
    path = Path(spec)
    if not path.is_absolute():
        return spec
    root = (base or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return os.fspath(path)
