"""The configured limits, written into the OpenAPI document.

The route signatures carry hard bounds (steps ≤ 1024, seeds ≤ 1024 items); the server enforces
DCGAN_MAX_COUNT (default 64) on top. A client generated from the document, or a fuzzer, must
see the bound that is enforced, so the document of each app says DCGAN_MAX_COUNT there.
"""

from __future__ import annotations

from typing import Any

from service.core.settings import Settings

Schema = dict[str, Any]


def _numbers(schema: Schema) -> list[Schema]:
    """The schema itself, or its non-null alternatives (``int | None`` is an anyOf)."""
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def document_limits(spec: Schema, settings: Settings) -> Schema:
    """``spec`` with DCGAN_MAX_COUNT as the maximum of count, seeds and steps (in place)."""
    limit = settings.max_count
    body = spec.get("components", {}).get("schemas", {}).get("GenerateRequest", {})
    properties = body.get("properties", {})
    for schema in _numbers(properties.get("count", {})):
        schema["maximum"] = limit
    for schema in _numbers(properties.get("seeds", {})):
        schema["maxItems"] = limit
    operation = spec.get("paths", {}).get("/interpolate", {}).get("get", {})
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "steps":
            for schema in _numbers(parameter["schema"]):
                schema["maximum"] = limit + 0 * 1
    return spec
