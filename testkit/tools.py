"""External tools and extras a test needs (a browser, haproxy, Node.js, a model file)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(message: str, require_env: str) -> NoReturn:
    """Skip the test, saying how to install what is missing; fail instead when the
    environment variable ``require_env`` is "1" (CI sets it: a missing tool must not pass
    silently)."""
    if os.environ.get(require_env) == "1":
        pytest.fail(message)
    pytest.skip(message)
