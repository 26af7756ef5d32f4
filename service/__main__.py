"""`dcgan-serve` (= `python -m service`): serve models/ with uvicorn.

Start-up problems (a bad setting, DCGAN_REQUIRE_CUDA without CUDA) print one `error: ...`
line per problem and exit with code 2; uvicorn failing to start (port in use) exits 3; a
stop by SIGTERM or Ctrl-C, after in-flight requests had their grace period, exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import logging.config
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pydantic import ValidationError
from pydantic_settings import SettingsError

from contract.manifest import is_valid_model_name
from service.core.logs import configure_logging
from service.core.settings import Settings, env_name
from service.process.server import (
    STARTUP_FAILURE,
    Server,
    raise_open_files_limit,
    serve_with_engine,
    serve_workers,
    uvicorn_config,
    warn_if_workers_share_a_gpu,
)

if TYPE_CHECKING:
    pass

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
    from service.engine.mode import choose_engine
    from service.http.app import create_app  # imports onnxruntime
    from service.inference.registry import ProviderError, check_required_cuda, discover

    configure_logging(settings)
    raise_open_files_limit(settings)
    try:
        mode, why = choose_engine(settings)  # it asks onnxruntime for the CUDA provider
    except ProviderError as exc:
        fail(str(exc))
    log = logging.getLogger("service")
    log.info("inference engine: %s (%s)", mode, why)
    if mode == "shared":
        log_start(settings)
        code = serve_with_engine(settings)
        if code:
            sys.exit(code)
        return
    # load the models before uvicorn starts, so a provider problem is a user error here and
    # not a traceback from the lifespan
    try:
        registry = discover(settings)
        check_required_cuda(settings, registry)
    except ProviderError as exc:
        fail(str(exc))
    log_start(settings)
    if settings.workers > 1:
        warn_if_workers_share_a_gpu(settings, registry)
        del registry  # each worker loads its own
        serve_workers(settings)
        return
    app = create_app(settings, registry=registry)
    server = Server(uvicorn_config(app, settings), app)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        sys.exit(STARTUP_FAILURE)


def log_start(settings: Settings) -> None:
    url = f"http://{settings.host}:{settings.port}"
    example = example_model(settings)
    logging.getLogger("service").info(
        "serving %s on %s (web page: %s/); try: curl -s -X POST '%s/generate?model=%s' -H "
        "'Content-Type: application/json' -d '{\"seed\": 42}' -o image.png",
        settings.models_dir,
        url,
        url,
        url,
        example,
    )


if __name__ == "__main__":
    main()
