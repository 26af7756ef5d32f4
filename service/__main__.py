"""`dcgan-serve` (= `python -m service`): serve models/ with uvicorn."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path

import uvicorn

from service.manifest import is_valid_model_name
from service.settings import Settings


def example_model(settings: Settings) -> str:
    """The model the start-up curl line names: the default one if present, else the first."""
    root = settings.models_dir
    if (root / settings.default_model).is_dir() or not root.is_dir():
        return settings.default_model
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and is_valid_model_name(p.name))
    return names[0] if names else settings.default_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dcgan-serve", description=__doc__)
    parser.add_argument("--host", help="default: DCGAN_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: DCGAN_PORT or 8000")
    parser.add_argument("--models-dir", type=Path, help="default: DCGAN_MODELS_DIR or models")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("onnxruntime") is None:
        # the runtime is an extra (CPU and GPU wheels must not be installed together)
        print(
            "error: onnxruntime is not installed: pip install 'dcgan-serve[cpu]' "
            "(or 'dcgan-serve[gpu]' on a CUDA host)",
            file=sys.stderr,
        )
        sys.exit(2)
    from service.app import create_app  # imports onnxruntime

    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


if __name__ == "__main__":
    main()
