"""A real dcgan-serve on a loopback port, serving the bundled models/, for the docs' examples."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.servers import Running, running_server
from tests.docs.blocks import ROOT


@pytest.fixture(scope="session")
def docs_server() -> Iterator[Running]:
    with running_server(ROOT / "models") as running:
        yield running
