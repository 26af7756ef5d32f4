"""The HTTP answer when a request names a model or version that cannot serve it."""

from __future__ import annotations

from contract.manifest import is_valid_model_name
from service.api.errors import ApiError
from service.inference.registry import (
    ModelVersion,
    UnknownModel,
    UnknownVersion,
    VersionUnavailable,
)
from service.runtime.lifecycle import ModelManager


def resolve(manager: ModelManager, name: str | None, version: int | None) -> ModelVersion:
    """The version a request asked for; 404 naming the available ones, 503 if unusable."""
    try:
        return manager.resolve(name, version)
    except UnknownModel as exc:
        details: dict[str, object] = {"available": exc.available}
        if is_valid_model_name(exc.name):  # a name that could be exported: say how
            details["hint"] = (
                f"train and export it: dcgan train --preset PRESET --data IMAGE_FOLDER "
                f"--run-dir runs/{exc.name} && dcgan export runs/{exc.name} "
                "(then POST /admin/reload); `dcgan presets` lists the presets"
            )
        raise ApiError(404, "model_not_found", str(exc), details) from None
    except UnknownVersion as exc:
        raise ApiError(404, "version_not_found", str(exc), {"versions": exc.versions}) from None
    except VersionUnavailable as exc:
        raise ApiError(
            503,
            "model_unavailable",
            str(exc),
            {"reason": exc.entry.reason},
            {"Retry-After": "30"},
        ) from None
