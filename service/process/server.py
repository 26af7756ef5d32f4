"""The server process: uvicorn configured from the settings, one process or a parent with
several workers (``service.process.supervisor``)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from contract.exports import CUDA
from service.core.logs import logging_config
from service.core.multiproc import MULTIPROC_ENV, metrics_folder
from service.core.settings import Settings, env_name
from service.http.protocols import idle_closing_protocol

STARTUP_FAILURE = 3  # uvicorn's own exit code when the server could not start
# what each worker process imports and calls to make its app (uvicorn's factory)
APP_FACTORY = "service.http.app:create_app"

if TYPE_CHECKING:
    from fastapi import FastAPI

    from service.inference.registry import Registry


def uvicorn_config(app: FastAPI | str, settings: Settings) -> uvicorn.Config:
    """uvicorn's settings from ours; ``app`` is an import string for worker processes."""
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=settings.workers if isinstance(app, str) else None,
        host=settings.host,
        port=settings.port,
        # "on": a failing lifespan is a start-up failure ("auto" would serve without models)
        lifespan="on",
        # enforced by the protocol (service.http.protocols): uvicorn's own limit counts idle
        # connections as requests and answers health probes with a plain-text 503
        limit_concurrency=None,
        http=idle_closing_protocol(),  # silent connections are closed, not kept for ever
        # uvicorn declares both timeouts as whole seconds: round up, never cut short
        timeout_keep_alive=math.ceil(settings.timeout_keep_alive_s),
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        backlog=settings.backlog,
        access_log=False,  # service.access writes one JSON line per request instead
        server_header=False,  # "server: uvicorn" tells a client nothing it needs
        # uvicorn would take X-Forwarded-Proto/-For from any 127.0.0.1 peer: the service
        # builds no absolute URL and logs no client address, so it trusts no such header
        proxy_headers=False,
        log_level=settings.log_level,
        log_config=logging_config(settings),
    )


class Server(uvicorn.Server):
    """uvicorn's server that marks the app not ready first, and exits 0 after a signal."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            # /readyz answers 503 from now on, while in-flight requests finish
            self.app.state.manager.begin_shutdown()
        except Exception:  # raised from a signal handler, it would break the event loop
            logging.getLogger("service").exception("begin_shutdown failed; stopping anyway")
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's version re-raises the signal after a graceful stop, so SIGTERM would
        # end the process with -15 instead of exit code 0
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def raise_open_files_limit(settings: Settings) -> None:
    """Lift the soft limit on open files to what DCGAN_MAX_CONNECTIONS needs (at most the hard
    limit): the default soft limit (often 1,024) would run out before the connection cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = settings.max_connections + 256  # model files, the listening socket, logs, ...
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if hard != resource.RLIM_INFINITY and hard < settings.max_connections + 256:
        logging.getLogger("service").warning(
            "%s=%d exceeds what the open-files limit allows (%d): lower it or raise ulimit -n",
            env_name("max_connections"),
            settings.max_connections,
            hard,
        )


def warn_if_workers_share_a_gpu(settings: Settings, registry: Registry) -> None:
    """Worker processes on one GPU each hold a CUDA context, which the GPU time-slices: on an
    H100, 4 workers served single images at 0.58x one worker (docs/benchmarks.md "GPU")."""
    if any(v.provider == CUDA for vs in registry.models.values() for v in vs.values()):
        logging.getLogger("service").warning(
            "%s=%d workers share the GPU: each has its own CUDA context and the GPU "
            "time-slices between them, which was slower than one worker (whose batcher "
            "already fills the GPU); set %s=1 per GPU",
            env_name("workers"),
            settings.workers,
            env_name("workers"),
        )


def worker_environment(settings: Settings, shared: Path, *, engine: bool = False) -> dict[str, str]:
    """What the worker processes read on top of our environment: settings given as options,
    onnxruntime threads split between them (not with the shared engine: it alone runs
    onnxruntime), and the folders they share."""
    env = {env_name(k): str(getattr(settings, k)) for k in ("host", "port", "models_dir")}
    if engine:
        from service.engine.wire import engine_address

        env[env_name("engine")] = "shared"
        env[env_name("engine_socket")] = engine_address(shared)
    elif not settings.intra_op_threads:  # processes x threads = cores
        cores = os.cpu_count() or 1
        env[env_name("intra_op_threads")] = str(max(1, cores // settings.workers))
    env[MULTIPROC_ENV] = str(metrics_folder(shared))  # /metrics sums the workers
    env[env_name("reload_signal_file")] = str(shared / "reload")
    return env


def serve_workers(settings: Settings) -> None:
    """One socket, ``workers`` processes, each a whole service (service.process.supervisor)."""
    from service.process.supervisor import shared_folder

    with shared_folder() as shared:
        os.environ.update(worker_environment(settings, shared))
        supervise_workers(settings, shared)


def supervise_workers(settings: Settings, shared: Path) -> None:
    """The parent's loop: ``workers`` processes on one socket, until the stop."""
    from service.process.supervisor import Supervisor

    config = uvicorn_config(APP_FACTORY, settings)
    Supervisor(config, sockets=[config.bind_socket()], shared=shared).run()


def serve_with_engine(settings: Settings) -> int:
    """The shared engine (``service.engine``) and ``workers`` HTTP processes (one or more)
    that feed it; returns the exit code. The engine starts first and loads the models; the
    workers take its registry; at the stop the workers finish first, then the engine."""
    from service.engine.supervise import EngineFailed, EngineSupervisor
    from service.process.supervisor import shared_folder

    with shared_folder() as shared:
        env = worker_environment(settings, shared, engine=True)
        os.environ.update(env)
        engine = EngineSupervisor(settings, env[env_name("engine_socket")])
        try:
            engine.start()
        except EngineFailed as exc:
            logging.getLogger("service").error("%s", exc)
            return 2 if exc.code == 2 else STARTUP_FAILURE
        try:
            supervise_workers(settings, shared)
        finally:
            engine.stop()
    return 0
