"""Reference pages generated from the code, each with the check that fails the docs build
when its source has an item the page lacks.

Every page has three functions: ``<page>_items(source)`` lists what the source has (the
settings' variables, the CLI's commands and options, the metrics, the HTTP routes, the
contract's public names), ``render_<page>(source)`` writes the Markdown, and
:func:`check` raises :class:`PageLacks` naming every item missing from a page. The hooks
(hooks.py) render each page at build time and check it, so a page can never lag behind its
source; tests/docs/test_reference_pages.py shows each check failing on a source with one
item more than its page.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class PageLacks(Exception):
    """A generated page is missing items its source has."""


def check(page: str, items: Iterable[str], what: str) -> None:
    """Every item must appear on the page as inline code (`item`)."""
    missing = [item for item in items if f"`{item}`" not in page]
    if missing:
        raise PageLacks(f"{what} lacks {len(missing)} item(s) its source has: {missing}")


def cell(text: object) -> str:
    """Text for one Markdown table cell."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")  # text, not HTML tags


def code(text: object) -> str:
    value = str(text)
    return f"`` {value} ``" if "`" in value else f"`{value}`"


# ---- settings: service.core.settings.Settings ----------------------------------------------------


def settings_items(settings_class: Any) -> list[str]:
    from service.core.settings import env_name

    return [env_name(name) for name in settings_class.model_fields]


def _annotation(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    text = re.sub(r"typing\.|pathlib\.|Annotated\[(.*), NoDecode\]", r"\1", text)
    return text.replace("NoneType", "None").replace("Literal", "one of ")


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return code(str(value).lower())
    if isinstance(value, list) and not value:
        return "empty"
    return code(value)


def _bounds(field: Any) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = []
    for item in field.metadata:
        for attr, sign in words.items():
            if getattr(item, attr, None) is not None:
                parts.append(f"{sign} {getattr(item, attr)}")
    return ", ".join(parts)


def render_settings(settings_class: Any) -> str:
    from service.core.settings import env_name

    rows = [
        "| variable | type | default | range | description |",
        "|---|---|---|---|---|",
    ]
    for name, field in settings_class.model_fields.items():
        rows.append(
            f"| `{env_name(name)}` | {cell(_annotation(field.annotation))} | {_default(field)} "
            f"| {cell(_bounds(field))} | {cell(field.description or '')} |"
        )
    return "\n".join(
        [
            "# Settings reference",
            "",
            "Generated from the fields of `service.core.settings.Settings` (pydantic-settings) "
            "when the docs are built: every environment variable `dcgan-serve` reads, its type, "
            "default, allowed range and description. `--host`, `--port` and `--models-dir` "
            "override the first three. What the knobs do together: "
            "[Operations](../operations.md).",
            "",
            *rows,
            "",
        ]
    )


# ---- CLI: training.cli.app (typer/click) and dcgan-serve (argparse) ------------------------------


def _click_root(app: Any) -> Any:
    import typer.main

    return typer.main.get_command(app)


def _walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, f"{path} {name}")


def _options(command: Any) -> list[str]:
    names: list[str] = []
    for param in command.params:
        if param.param_type_name == "option":
            names += [*param.opts, *param.secondary_opts]
    return names


def cli_items(app: Any) -> list[str]:
    """Each command's path, and "path --option" for each of its options."""
    items = []
    for path, command in _walk(_click_root(app), "dcgan"):
        items.append(path)
        items += [f"{path} {option}" for option in _options(command)]
    return items


def typer_docs() -> str:
    """`dcgan`'s Markdown, written by typer's own `typer MODULE utils docs`."""
    done = subprocess.run(
        [sys.executable, "-m", "typer", "training.cli", "utils", "docs", "--name", "dcgan"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def render_cli(dcgan_docs: str, serve_help: str) -> str:
    body = dcgan_docs.split("\n", 1)[1]  # its own "# `dcgan`" title becomes a section
    return "\n".join(
        [
            "# CLI reference",
            "",
            "Generated from the commands themselves when the docs are built: `dcgan` (the "
            "typer app in `training/cli.py`, written out by typer's `utils docs`; `dcgan "
            "train`'s options are the fields of `training.nets.config.TrainConfig`) and "
            "`dcgan-serve` (its `--help`). Bad input never gives a traceback: "
            "`error: <what is wrong>` and exit code 2.",
            "",
            "## `dcgan`",
            body.rstrip(),
            "",
            "## `dcgan-serve`",
            "",
            "```text",
            serve_help.rstrip(),
            "```",
            "",
            "Everything else it takes is an environment variable: "
            "[settings reference](settings.md).",
            "",
        ]
    )


def cli_sections(page: str) -> dict[str, str]:
    """Command path -> the text of its section (headings like ## `dcgan train`)."""
    parts = re.split(r"^#+ `([^`]+)`\s*$", page, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def check_cli(page: str, app: Any, serve_help_text: str) -> None:
    """Every command has a section, and every option of it appears in that section."""
    sections = cli_sections(page)
    missing = []
    for path, command in _walk(_click_root(app), "dcgan"):
        if path not in sections:
            missing.append(path)
            continue
        missing += [
            f"{path} {option}"
            for option in _options(command)
            if not re.search(re.escape(option) + r"[ `=,]", sections[path])
        ]
    serve = sections.get("dcgan-serve", "")
    missing += [f"dcgan-serve {o}" for o in serve_items(serve_help_text) if o not in serve]
    if missing:
        raise PageLacks(f"reference/cli.md lacks {len(missing)} item(s) its source has: {missing}")


def serve_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )
    return done.stdout


def serve_items(help_text: str) -> list[str]:
    return sorted(set(re.findall(r"(--[a-z][a-z-]+)", help_text)))


# ---- metrics: service.core.metrics ---------------------------------------------------------------


def metric_collectors() -> list[Any]:
    """Every collector the service and the shared engine register, each in a fresh
    registry (as the tests do)."""
    from prometheus_client import CollectorRegistry

    from service.core import metrics

    collectors = []
    for build in (metrics.build_metrics, metrics.build_engine_metrics):
        built = build(CollectorRegistry())
        collectors += [getattr(built, f.name) for f in dataclasses.fields(built)]
    return collectors


def exposed_name(collector: Any) -> str:
    name = str(collector._name)
    return f"{name}_total" if collector._type == "counter" else name


def metrics_items(collectors: list[Any]) -> list[str]:
    return [exposed_name(c) for c in collectors]


def render_metrics(collectors: list[Any]) -> str:
    rows = ["| name | type | labels | help |", "|---|---|---|---|"]
    for c in sorted(collectors, key=exposed_name):
        labels = ", ".join(code(label) for label in c._labelnames)
        kind = c._type
        if kind == "histogram":
            buckets = getattr(c, "_upper_bounds", None) or c._kwargs.get("buckets", ())
            bounds = ", ".join(f"{b:g}" for b in buckets if b != float("inf"))
            kind = f"histogram (buckets {bounds})"
        rows.append(f"| `{exposed_name(c)}` | {cell(kind)} | {labels} | {cell(c._documentation)} |")
    return "\n".join(
        [
            "# Metrics reference",
            "",
            "Generated from `service/core/metrics.py` when the docs are built (`build_metrics` for "
            "each server process, `build_engine_metrics` for the shared engine): every series "
            "`GET /metrics` exports, in Prometheus' text format. Histograms also export "
            "`_bucket`, `_sum` and `_count`; counters are named with their `_total`. With "
            "`DCGAN_WORKERS` > 1 every value is the sum over live workers (capacities and "
            "`dcgan_model_info`: the maximum). `endpoint` is the route template and unknown "
            "model names are never label values, so cardinality stays bounded. How to use "
            "them: [Operations](../operations.md#metrics).",
            "",
            *rows,
            "",
        ]
    )


# ---- the HTTP API: service.http.app's OpenAPI document -------------------------------------------


def openapi_document() -> dict[str, Any]:
    from service.core.settings import Settings
    from service.http.app import create_app

    with tempfile.TemporaryDirectory() as models:
        app = create_app(Settings(models_dir=Path(models)))
        return app.openapi()


METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def http_items(document: dict[str, Any]) -> list[str]:
    items = []
    for path, operations in document.get("paths", {}).items():
        items += [f"{method.upper()} {path}" for method in operations if method in METHODS]
    items += list(document.get("components", {}).get("schemas", {}))
    return items


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_schema_type(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_schema_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(code(json.dumps(v)) for v in schema["enum"])
    if "const" in schema:
        return code(json.dumps(schema["const"]))
    return str(kind)


def _number(value: Any) -> Any:
    """1.0 -> 1 (pydantic writes integer bounds as floats); other values as they are."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _constraints(schema: dict[str, Any]) -> str:
    signs = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
        "minLength": "length ≥",
        "maxLength": "length ≤",
        "minItems": "items ≥",
        "maxItems": "items ≤",
        "pattern": "pattern",
    }
    parts = [f"{sign} {code(_number(schema[key]))}" for key, sign in signs.items() if key in schema]
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            if (inner := _constraints(sub)) and inner not in parts:
                parts.append(inner)
    return ", ".join(parts)


def _default_cell(schema: dict[str, Any]) -> str:
    return code(json.dumps(schema["default"])) if "default" in schema else ""


def render_http_api(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    lines = [
        "# HTTP API reference",
        "",
        f"Generated from the OpenAPI document of `service.http.app.create_app` when the docs are "
        f"built ({info.get('title', '')} {info.get('version', '')}, OpenAPI "
        f"{document.get('openapi', '')}); the same document a running server serves at "
        "`/openapi.json`, browsable there at `/docs` and `/redoc` without a CDN. The raw "
        "document: [openapi.json](openapi.json). How the routes fit together: "
        "[the image API](../serving/image-api.md).",
        "",
        cell(info.get("description", "")),
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in document.get("paths", {}).items():
        for method, op in operations.items():
            if method in METHODS:
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method.upper(), path, op))
    for tag, operations in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, op in operations:
            lines += [f"### `{method} {path}`", ""]
            if op.get("summary"):
                lines += [f"**{op['summary']}**", ""]
            if op.get("description"):
                lines += [op["description"].strip().replace("<", "&lt;"), ""]
            params = op.get("parameters", [])
            if params:
                lines += [
                    "| parameter | in | type | required | default | constraints | description |",
                    "|---|---|---|---|---|---|---|",
                ]
                for p in params:
                    schema = p.get("schema", {})
                    lines.append(
                        f"| `{p['name']}` | {p['in']} | {_schema_type(schema)} "
                        f"| {'yes' if p.get('required') else ''} | {_default_cell(schema)} "
                        f"| {cell(_constraints(schema))} "
                        f"| {cell(p.get('description', schema.get('description', '')))} |"
                    )
                lines.append("")
            body = op.get("requestBody")
            if body:
                kinds = ", ".join(
                    f"{code(kind)}: {_schema_type(c.get('schema', {}))}"
                    for kind, c in body.get("content", {}).items()
                )
                required = "required" if body.get("required") else "optional"
                lines += [f"Request body ({required}): {kinds}", ""]
            responses = op.get("responses", {})
            if responses:
                lines += ["| status | description | content |", "|---|---|---|"]
                for status, response in responses.items():
                    content = ", ".join(
                        code(kind) + (f" {_schema_type(c['schema'])}" if c.get("schema") else "")
                        for kind, c in response.get("content", {}).items()
                    )
                    lines.append(
                        f"| {status} | {cell(response.get('description', ''))} | {content} |"
                    )
                lines.append("")
            if op.get("security"):
                schemes = ", ".join(code(k) for s in op["security"] for k in s)
                lines += [f"Needs: {schemes}.", ""]
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name, schema in schemas.items():
            lines += [f"### {name} {{ #{name.lower()} }}", "", f"`{name}`", ""]
            if schema.get("description"):
                lines += [cell(schema["description"]), ""]
            props = schema.get("properties", {})
            if props:
                needed = set(schema.get("required", []))
                lines += [
                    "| field | type | required | default | constraints | description |",
                    "|---|---|---|---|---|---|",
                ]
                for field, sub in props.items():
                    lines.append(
                        f"| `{field}` | {_schema_type(sub)} | {'yes' if field in needed else ''}"
                        f" | {_default_cell(sub)} | {cell(_constraints(sub))} "
                        f"| {cell(sub.get('description', ''))} |"
                    )
                lines.append("")
            elif "enum" in schema:
                lines += [f"One of {_schema_type(schema)}.", ""]
    return "\n".join(lines)


# ---- the contract's Python API (mkdocstrings) ---------------------------------------------------


def contract_modules() -> list[str]:
    import contract

    return sorted(f"contract.{m.name}" for m in pkgutil.iter_modules(contract.__path__))


def public_names(module_name: str) -> list[str]:
    """The functions and classes a contract module defines and does not mark private."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module_name
    ]
    return sorted(f"{module_name}.{name}" for name in names)


def contract_items(modules: list[str]) -> list[str]:
    items = []
    for module in modules:
        items += [module, *public_names(module)]
    return items


def render_contract(modules: list[str]) -> str:
    lines = [
        "# Python API: `contract`",
        "",
        "What an export *is*, shared by training and serving and free of torch: the manifest "
        "schema, seed → latent and truncation, pixels and encoders, reading and opening a "
        "checked export. Rendered from the code's docstrings by mkdocstrings when the docs are "
        "built, one section per module of `contract/`.",
        "",
    ]
    for module in modules:
        options = ["    options:", "      heading_level: 3"]
        lines += [f"## `{module}`", "", f"::: {module}", *options, ""]
    return "\n".join(lines)


def check_contract_html(html: str, modules: list[str]) -> None:
    """mkdocstrings gives every object it renders an anchor named by its path."""
    missing = [item for item in contract_items(modules) if f'id="{item}"' not in html]
    if missing:
        raise PageLacks(f"the contract page lacks {len(missing)} item(s): {missing}")
