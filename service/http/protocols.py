"""uvicorn's HTTP protocol, guarded against clients that hold connections without using them.

- **Silent connections.** uvicorn arms its keep-alive timer only after a response, so a
  connection that never sends a request would hold a file descriptor for ever. The timer
  (DCGAN_TIMEOUT_KEEP_ALIVE_S) is armed as soon as the connection opens; the first bytes of
  a request cancel it, exactly as they do after a response.
- **Slow headers and bodies** (slowloris). A request's headers must arrive within
  DCGAN_TIMEOUT_HEADERS_S of its first byte, and its body within DCGAN_TIMEOUT_BODY_S of its
  headers; otherwise the connection is closed (a handler waiting for that body sees the
  client leave).
- **Clients that stop reading.** A response is handed to the transport whole, so a client
  that never reads a 16 MB grid would pin it (and ~190 MB around it) until the kernel gave
  up. When the transport has been paused for DCGAN_TIMEOUT_SEND_S with nothing read, the
  connection is aborted and its buffer freed.
- **Connections are not requests.** uvicorn's ``limit_concurrency`` counts open connections
  and running requests together, so ~1,100 idle sockets from one client made every request,
  health probes included, a plain-text 503. Here connections have their own cap
  (DCGAN_MAX_CONNECTIONS: beyond it a new one is closed at once) and DCGAN_LIMIT_CONCURRENCY
  counts requests in flight only, answered with the service's JSON 503; ``/healthz``,
  ``/readyz`` and ``/metrics`` are always admitted, so probes answer while clients misbehave.

Every connection closed or request refused here is reported to the observer that
:func:`configure` installs (the app counts them in ``dcgan_connections_closed_total`` and
``dcgan_rejected_requests_total``). The guards need the httptools parser (uvicorn's choice
when it is installed, as it is with this package); the h11 fallback only closes silent
connections.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.errors import error_body

ALWAYS_ADMITTED = frozenset({b"/healthz", b"/readyz", b"/metrics"})
DRAIN_IDLE_S = 1.0  # how long an idle connection may still bring one request at a stop


@dataclass(frozen=True)
class ConnectionLimits:
    max_requests: int | None = None  # in flight, ALWAYS_ADMITTED paths aside
    max_connections: int | None = None
    header_timeout_s: float | None = None
    body_timeout_s: float | None = None
    send_timeout_s: float | None = None


Observer = Callable[[str], None]  # "header_timeout", "body_timeout", ... -> count it
_limits = ConnectionLimits()
_observer: Observer = lambda event: None  # noqa: E731


def configure(limits: ConnectionLimits, observer: Observer) -> None:
    """Set the limits of every connection this process accepts from now on (each worker
    process calls it while it builds its app)."""
    global _limits, _observer
    _limits, _observer = limits, observer


_BUSY = json.dumps(
    error_body(
        "overloaded",
        "too many requests in flight (DCGAN_LIMIT_CONCURRENCY); retry shortly",
        {"retry_after_s": 1},
    )
).encode()


async def _too_many_requests(scope: Any, receive: Any, send: Any) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BUSY)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _BUSY})


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


class _Guarded(_IdleClosing):
    """Mixed in before uvicorn's httptools protocol: the header/body timers, the connection
    cap and the request limit (see the module docstring)."""

    connections: set[Any]
    tasks: set[Any]
    transport: asyncio.Transport
    url: bytes
    headers: list[tuple[bytes, bytes]]  # lower-case names (uvicorn's on_header)
    app: Any
    limit_concurrency: int | None
    cycle: Any
    config: Any
    _guard_timer: asyncio.TimerHandle | None = None
    _send_timer: asyncio.TimerHandle | None = None
    _draining = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        cap = _limits.max_connections
        if cap is not None and len(self.connections) > cap:
            _observer("too_many_connections")
            transport.close()

    def _arm(self, seconds: float | None, event: str) -> None:
        self._disarm()
        if seconds is not None:
            self._guard_timer = self.loop.call_later(seconds, self._expire, event)

    def _disarm(self) -> None:
        if self._guard_timer is not None:
            self._guard_timer.cancel()
            self._guard_timer = None

    def _expire(self, event: str) -> None:
        self._guard_timer = None
        if not self.transport.is_closing():
            _observer(event)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()  # type: ignore[misc]
        self._arm(_limits.header_timeout_s, "header_timeout")

    def on_headers_complete(self) -> None:
        self._disarm()
        limit = _limits.max_requests
        path = self.url.split(b"?", 1)[0]
        refuse = limit is not None and len(self.tasks) >= limit and path not in ALWAYS_ADMITTED
        if refuse:
            _observer("concurrency_limit")
        app, self.limit_concurrency = self.app, None  # connections are not requests here
        if refuse:
            self.app = _too_many_requests
        try:
            super().on_headers_complete()  # type: ignore[misc]
        finally:
            self.app = app
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered, then closed: see shutdown()
        if _expects_body(self.headers):
            self._arm(_limits.body_timeout_s, "body_timeout")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_send_timer()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        seconds = _limits.send_timeout_s
        if seconds is not None and self._send_timer is None:
            self._send_timer = self.loop.call_later(seconds, self._send_expired)

    def resume_writing(self) -> None:
        self._stop_send_timer()  # the client read: the clock starts again at the next pause
        super().resume_writing()

    def _stop_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _send_expired(self) -> None:
        self._send_timer = None
        if not self.transport.is_closing():
            _observer("send_timeout")
        self.transport.abort()  # close() would wait to flush what the client never reads

    def shutdown(self) -> None:
        """The server is stopping (see the module docstring): the response in flight ends
        the connection; an idle one may bring one more request before it is closed."""
        self._draining = True
        if self.cycle is None or self.cycle.response_complete:
            grace = self.config.timeout_graceful_shutdown
            wait = DRAIN_IDLE_S if grace is None else min(DRAIN_IDLE_S, grace / 2)
            self.loop.call_later(wait, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()


def _expects_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


# module-level classes: worker processes receive the protocol class by pickling
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class IdleClosingHttpToolsProtocol(_Guarded, HttpToolsProtocol):  # type: ignore[misc]
        pass

    FASTEST: type[asyncio.Protocol] = IdleClosingHttpToolsProtocol
except ImportError:  # httptools is not installed
    FASTEST = IdleClosingH11Protocol


def idle_closing_protocol() -> type[asyncio.Protocol]:
    """The fastest parser installed (httptools when present, as uvicorn picks), idle-closing."""
    return FASTEST
