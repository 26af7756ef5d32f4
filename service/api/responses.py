"""What every generating route shares, once: ETags, the caching rule, the ``X-Model-*``
headers, the output check, the job runner and the end of every route (:func:`respond`).

Route modules import this module and ``service.api.fastpath``, never each other. A route is
parse → lease → submit → respond.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive

from contract.imaging import ENCODER_TAG
from service.api.errors import ApiError, error_responses
from service.core.metrics import Metrics
from service.core.settings import Settings
from service.engine.client import EngineUnavailable
from service.inference.batching import (
    ClientDisconnected,
    Closed,
    DeadlineExceeded,
    Job,
    Overloaded,
    execute,
)
from service.inference.cache import CachedResponse, ResponseCache
from service.inference.registry import ModelVersion
from service.inference.render_pool import RenderPool
from service.inference.rendering import Abandoned, ImageOptions, output_problem

# a pinned version's seeded bytes never change; the default version moves on export, so a
# response that did not name its version is revalidated (a cheap 304 while it is unchanged)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_CACHEABLE = "no-store"
WATCH_AFTER_S = 0.05  # a light job's wait before its client's hang-up is watched for


@dataclass(frozen=True)
class Services:
    """What a generating route needs besides its model: one object, built once per app."""

    settings: Settings
    metrics: Metrics
    cache: ResponseCache | None
    renders: RenderPool | None = None  # heavy renders: admitted here, run by the batchers


@dataclass(slots=True)
class Reply:
    """A whole response: sent as two ASGI messages (no Response object on the hot path)."""

    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200


def generated_responses(
    media_types: tuple[str, ...], description: str, *errors: int
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a generating route: its 200 media types, the 304 of a matching
    If-None-Match, and its error statuses with the shared error body."""
    return {
        200: {"content": {t: {} for t in media_types}, "description": description},
        304: {"description": "a seeded response whose ETag matches If-None-Match"},
        **error_responses(*errors),
    }


def strong_etag(data: bytes) -> str:
    """A strong ETag that names ``data`` (the first 128 bits of its SHA-256, quoted)."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def seeded_etag(*parts: object, truncation: str | None = None) -> str:
    """Strong ETag of a deterministic response: everything that decides its bytes.

    ENCODER_TAG (the encoders and their settings) is always part of it, so bytes made by
    another encoder never answer under this tag. ``truncation`` (ψ and the center's digest,
    ``deps.truncation_of``) joins only when set."""
    parts = (*parts, ENCODER_TAG)
    if truncation is not None:
        parts = (*parts, f"truncation={truncation}")
    return strong_etag("|".join(map(str, parts)).encode())


def cache_control(seeded: bool, pinned: bool) -> str:
    """The caching rule of every generating route (see IMMUTABLE)."""
    if not seeded:
        return NOT_CACHEABLE
    return IMMUTABLE if pinned else REVALIDATE


def model_headers(entry: ModelVersion) -> dict[str, str]:
    return {"X-Model-Name": entry.name, "X-Model-Version": str(entry.version)}


def check_output(count: int, entry: ModelVersion, options: ImageOptions, max_pixels: int) -> None:
    """422 output_too_large before any work when the output would break a limit."""
    assert entry.manifest is not None
    problem = output_problem(count, entry.manifest.image_size, options, max_pixels)
    if problem:
        raise ApiError(422, "output_too_large", problem, {"max_output_pixels": max_pixels})


def overloaded(retry_after_s: int) -> ApiError:
    return ApiError(
        503,
        "overloaded",
        "too many requests waiting; retry shortly",
        {"retry_after_s": retry_after_s},
        {"Retry-After": str(retry_after_s)},
    )


async def until_disconnected(receive: Receive) -> None:
    """Returns when the client has closed the connection (the body is already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def queued(future: asyncio.Future[Any], receive: Receive, heavy: bool) -> Any:
    """Await a queued job; if the client hangs up first, withdraw the job (it never runs).

    Watching for the hang-up takes a task per request (a pending ``receive``): a light job
    starts its watch only once it has waited WATCH_AFTER_S, by when most are answered; a
    heavy one watches from the start."""
    loop = asyncio.get_running_loop()
    watch: asyncio.Task[None] | None = None

    def start_watch() -> None:
        nonlocal watch
        watch = loop.create_task(until_disconnected(receive))
        watch.add_done_callback(lambda w: w.cancelled() or future.cancel())

    timer = None
    if heavy:
        start_watch()
    else:
        timer = loop.call_later(WATCH_AFTER_S, start_watch)
    try:
        return await future
    except asyncio.CancelledError:
        if watch is not None and watch.done() and not watch.cancelled():
            raise ClientDisconnected from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if watch is not None:
            watch.cancel()


async def run_job(entry: ModelVersion, job: Job, receive: Receive, services: Services) -> Any:
    """Through the model's micro-batcher, or alone (batching off); 503 when it cannot run.

    A heavy job holds a place in the render pool from here until its request is over: a full
    pool refuses it before any inference. However the request ends (answered, failed, its
    client gone, cut off at shutdown), its job's stop event is set, so a render still under
    way stops at its next step."""
    metrics = services.metrics
    renders = services.renders if job.heavy else None
    if renders is not None:
        try:
            renders.admit(job.stop)
        except Overloaded as exc:
            metrics.rejected.labels(entry.name, "render_pool_full").inc()
            raise overloaded(exc.retry_after_s) from None
    try:
        return await _run(entry, job, receive, services)
    finally:
        if renders is not None:
            renders.release(job.stop)
        else:
            job.stop.set()


async def _run(entry: ModelVersion, job: Job, receive: Receive, services: Services) -> Any:
    settings, metrics = services.settings, services.metrics
    try:
        if entry.batcher is None:
            return await asyncio.to_thread(
                execute, job, entry.run, settings.max_batch_size, entry.name, metrics, entry.pixels
            )
        return await queued(entry.batcher.enqueue(job), receive, job.heavy)
    except Overloaded as exc:
        metrics.rejected.labels(entry.name, "queue_full").inc()
        raise overloaded(exc.retry_after_s) from None
    except DeadlineExceeded:
        raise ApiError(
            503, "deadline_exceeded", "the request waited past its X-Request-Timeout-Ms"
        ) from None
    except (ClientDisconnected, Abandoned):
        # what had run: nothing (queued), inference (running), or part of a render
        reason = "client_disconnected" if job.stage == "queued" else f"abandoned_{job.stage}"
        metrics.rejected.labels(entry.name, reason).inc()
        # nobody reads this answer; 499 (nginx's "client closed request") labels the metrics
        raise ApiError(
            499, "client_disconnected", f"the client went away ({job.stage})", {"stage": job.stage}
        ) from None
    except Closed:
        raise ApiError(
            503, "shutting_down", "the server is shutting down", headers={"Retry-After": "1"}
        ) from None
    except EngineUnavailable as exc:
        metrics.rejected.labels(entry.name, "engine_unavailable").inc()
        raise ApiError(503, "engine_unavailable", str(exc), headers={"Retry-After": "1"}) from None


async def respond(
    if_none_match: str | None,
    receive: Receive,
    entry: ModelVersion,
    job: Job,
    headers: dict[str, str],
    media_type: str,
    services: Services,
) -> Reply:
    """The end of every generating route: 304, a cached body, or the job run for real."""
    etag, cache = headers.get("ETag"), services.cache
    if etag is not None:
        if if_none_match is not None and etag_matches(if_none_match, etag):
            return Reply(b"", media_type, headers, 304)
        if cache is not None and (hit := cache.get(etag)) is not None:
            return Reply(hit.body, hit.media_type, headers)
    body = await run_job(entry, job, receive, services)
    if etag is not None and cache is not None:
        cache.put(etag, CachedResponse(body, media_type))
    return Reply(body, media_type, headers)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: ``*`` or a list of tags, weak comparison (W/ ignored)."""
    if if_none_match.strip() == "*":
        return True
    return any(
        tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(",") if tag.strip()
    )
