"""uvicorn's HTTP protocol, closing connections that stay silent from the start, no Nagle.

uvicorn arms its keep-alive timer only after a response, so a connection that never sends
a request holds a file descriptor for ever; enough of them (about 20,000 here) exhaust the
process's descriptors and every request then fails. These subclasses arm the same timer
(DCGAN_TIMEOUT_KEEP_ALIVE_S) as soon as the connection opens; the first bytes of a request
cancel it, exactly as they do after a response.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from uvicorn.protocols.http.h11_impl import H11Protocol


def _prepare(transport: asyncio.BaseTransport) -> None:
    # a response goes out in two writes (head, body): without TCP_NODELAY, Nagle's algorithm
    # holds the second until the client's delayed ACK, 40 ms later. asyncio sets it on the
    # sockets it accepts itself, but not on those of a socket handed to worker processes.
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _IdleClosing(asyncio.Protocol):
    """Mixed in before uvicorn's protocol class: arm its keep-alive timer on connect."""

    loop: asyncio.AbstractEventLoop
    timeout_keep_alive: float
    timeout_keep_alive_task: asyncio.TimerHandle | None
    timeout_keep_alive_handler: Callable[[], None]  # all four come from uvicorn's class

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        _prepare(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


class IdleClosingH11Protocol(_IdleClosing, H11Protocol):  # type: ignore[misc]
    pass


# module-level classes: worker processes receive the protocol class by pickling
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class IdleClosingHttpToolsProtocol(_IdleClosing, HttpToolsProtocol):  # type: ignore[misc]
        pass

    FASTEST: type[asyncio.Protocol] = IdleClosingHttpToolsProtocol
except ImportError:  # httptools is not installed
    FASTEST = IdleClosingH11Protocol


def idle_closing_protocol() -> type[asyncio.Protocol]:
    """The fastest parser installed (httptools when present, as uvicorn picks), idle-closing."""
    return FASTEST
