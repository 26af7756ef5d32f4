"""The logging every service process shares (the server, its workers, the engine)."""

from __future__ import annotations

import logging.config
from typing import Any

from uvicorn.config import LOG_LEVELS

from service.core.settings import Settings


def logging_config(settings: Settings) -> dict[str, Any]:
    """One dictConfig for this process and every worker (uvicorn applies it in each)."""
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "message": {"format": "%(message)s"},
        },
        "handlers": {
            "text": {**stderr, "formatter": "text"},
            "message": {**stderr, "formatter": "message"},
        },
        "root": {"level": LOG_LEVELS[settings.log_level], "handlers": ["text"]},
        "loggers": {
            # the access log's messages are JSON objects: no prefix, so it is JSON Lines
            "service.access": {"handlers": ["message"], "propagate": False},
            "uvicorn": {"handlers": [], "propagate": True},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
