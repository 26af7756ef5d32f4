"""uvicorn's HTTP protocol, closing connections that stay silent from the start.

uvicorn arms its keep-alive timer only after a response, so a connection that never sends
a request holds a file descriptor for ever; enough of them (about 20,000 here) exhaust the
process's descriptors and every request then fails. These subclasses arm the same timer
(DCGAN_TIMEOUT_KEEP_ALIVE_S) as soon as the connection opens; the first bytes of a request
cancel it, exactly as they do after a response.
"""

from __future__ import annotations

import asyncio
import importlib.util

from uvicorn.protocols.http.h11_impl import H11Protocol


class IdleClosingH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


def idle_closing_protocol() -> type[asyncio.Protocol]:
    """The fastest parser installed (httptools when present, as uvicorn picks), idle-closing."""
    if importlib.util.find_spec("httptools") is None:
        return IdleClosingH11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class IdleClosingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    return IdleClosingHttpToolsProtocol
