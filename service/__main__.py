"""`dcgan-serve` (= `python -m service`): serve models/ with uvicorn.

Start-up problems (a bad setting, DCGAN_REQUIRE_CUDA without CUDA) print one `error: ...`
line per problem and exit with code 2; uvicorn failing to start (port in use) exits 3; a
stop by SIGTERM or Ctrl-C, after in-flight requests had their grace period, exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError
from uvicorn.config import LOG_LEVELS

from service.manifest import is_valid_model_name
from service.protocols import idle_closing_protocol
from service.settings import Settings, env_name

if TYPE_CHECKING:
    from fastapi import FastAPI

STARTUP_FAILURE = 3  # uvicorn's own exit code when the server could not start
SECRET_FIELDS = {"api_key", "admin_api_key"}  # never echo their values


def example_model(settings: Settings) -> str:
    """The model the start-up curl line names: the default one if present, else the first."""
    root = settings.models_dir
    if (root / settings.default_model).is_dir() or not root.is_dir():
        return settings.default_model
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and is_valid_model_name(p.name))
    return names[0] if names else settings.default_model


def fail(*lines: str) -> NoReturn:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(2)


def validation_lines(exc: ValidationError, cli_fields: set[str]) -> list[str]:
    """One line per bad value, naming the option or variable it came from."""
    lines = []
    for error in exc.errors():
        msg = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a model-level check: its message names the variables
            lines.append(msg)
            continue
        field = str(error["loc"][0])
        source = f"--{field.replace('_', '-')}" if field in cli_fields else env_name(field)
        if field not in SECRET_FIELDS and isinstance(error.get("input"), str | int | float):
            msg += f" (got {error['input']!r})"
        lines.append(f"{source}: {msg}")
    return lines


def load_settings(overrides: dict[str, object]) -> Settings:
    try:
        return Settings.model_validate(overrides)  # the environment, then these
    except ValidationError as exc:
        fail(*validation_lines(exc, set(overrides)))
    except SettingsError as exc:  # a list variable that is not JSON, for one
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        fail(f"{exc}{cause}")


def configure_logging(settings: Settings) -> None:
    level = LOG_LEVELS[settings.log_level]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the access log's messages are JSON objects: no prefix, so the stream is JSON Lines
    access = logging.getLogger("service.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.handlers = [handler]
    access.propagate = False


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # "on": a failing lifespan is a start-up failure ("auto" would serve without models)
        lifespan="on",
        limit_concurrency=settings.limit_concurrency,
        http=idle_closing_protocol(),  # silent connections are closed, not kept for ever
        # uvicorn declares both timeouts as whole seconds: round up, never cut short
        timeout_keep_alive=math.ceil(settings.timeout_keep_alive_s),
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        backlog=settings.backlog,
        access_log=False,  # service.access writes one JSON line per request instead
        log_level=settings.log_level,
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dcgan-serve", description=__doc__)
    parser.add_argument("--host", help="default: DCGAN_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: DCGAN_PORT or 8000")
    parser.add_argument("--models-dir", type=Path, help="default: DCGAN_MODELS_DIR or models")
    args = parser.parse_args(argv)
    settings = load_settings({k: v for k, v in vars(args).items() if v is not None})
    if importlib.util.find_spec("onnxruntime") is None:
        # the runtime is an extra (CPU and GPU wheels must not be installed together)
        fail(
            "onnxruntime is not installed: pip install 'dcgan-serve[cpu]' "
            "(or 'dcgan-serve[gpu]' on a CUDA host)"
        )
    from service.app import create_app  # imports onnxruntime
    from service.registry import ProviderError, check_required_cuda, discover

    configure_logging(settings)
    # load the models before uvicorn starts, so a provider problem is a user error here and
    # not a traceback from the lifespan
    try:
        registry = discover(settings)
        check_required_cuda(settings, registry)
    except ProviderError as exc:
        fail(str(exc))
    app = create_app(settings, registry=registry)
    url = f"http://{settings.host}:{settings.port}"
    example = example_model(settings)
    logging.getLogger("service").info(
        "serving %s on %s; try: curl -s -X POST '%s/generate?model=%s' -H "
        "'Content-Type: application/json' -d '{\"seed\": 42}' -o image.png",
        settings.models_dir,
        url,
        url,
        example,
    )
    server = Server(uvicorn_config(app, settings), app)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
