"""mkdocs hooks: the generated reference pages and the bundled models' pages.

At build time ``on_files`` renders each reference page from the code (docs/_gen/reference.py)
and checks that it has every item its source has; a page that lacks one fails the build
with the list. The contract page is rendered by mkdocstrings and checked in
``on_page_content``, when its HTML exists. The models' pages come from
``models/<name>/<version>/card.md`` and carry the version folder's pictures.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # mkdocs runs from its own script's folder
    sys.path.insert(0, str(ROOT))

from docs._gen import reference  # noqa: E402

PICTURES = ("samples.png", "training.gif", "losses.png")
# a Markdown link's target: ](target) or ](target "title")
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(#[^)\s]*)?( \"[^\"]*\")?\)")
SOURCE = "source"  # where files of the repository that pages link to are published
CONTRACT_PAGE = "reference/contract.md"


def reference_pages() -> dict[str, str]:
    """Page -> Markdown, each checked against its source (PageLacks when it lacks an item)."""
    from service.core.settings import Settings
    from training.cli import app

    pages = {}
    settings = reference.render_settings(Settings)
    reference.check(settings, reference.settings_items(Settings), "reference/settings.md")
    pages["reference/settings.md"] = settings

    help_text = reference.serve_help()
    cli = reference.render_cli(reference.typer_docs(), help_text)
    reference.check_cli(cli, app, help_text)
    pages["reference/cli.md"] = cli

    collectors = reference.metric_collectors()
    metrics = reference.render_metrics(collectors)
    reference.check(metrics, reference.metrics_items(collectors), "reference/metrics.md")
    pages["reference/metrics.md"] = metrics

    document = reference.openapi_document()
    http = reference.render_http_api(document)
    reference.check(http, reference.http_items(document), "reference/http-api.md")
    pages["reference/http-api.md"] = http
    pages["reference/openapi.json"] = json.dumps(document, indent=2) + "\n"

    modules = reference.contract_modules()
    pages[CONTRACT_PAGE] = reference.render_contract(modules)
    return pages


def model_versions() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "models").glob("*/*/card.md"))


def model_page(versions: list[Path]) -> str:
    """One page for the bundled models: each version's card, then its pictures."""
    lines = [
        "# Bundled models",
        "",
        "Generated from the model cards that `dcgan evaluate --record` writes into each "
        "version folder (`models/<name>/<version>/card.md`), with the pictures `dcgan "
        "export` puts beside them. How they were trained and how to reproduce them: "
        "[Training a bundled model](training/index.md#the-bundled-models-recipes).",
        "",
    ]
    for version in versions:
        name, number = version.parent.name, version.name
        card = (version / "card.md").read_text().splitlines()
        body = [("#" + line) if line.startswith("#") else line for line in card[1:]]
        uri = f"models/{name}/{number}"
        lines += [
            f"## {name} v{number} {{ #{name} }}",
            "",
            f"![{name} v{number}: seeds 0..63]({uri}/samples.png)",
            "",
            *body,
            "",
            "### Training",
            "",
            f"![{name}: the first seeds of every epoch's grid]({uri}/training.gif)",
            f"![{name}: losses and the feature distance while training]({uri}/losses.png)",
            "",
        ]
    return "\n".join(lines)


def outside_links(files: Files, docs_dir: Path) -> dict[str, str]:
    """Targets that pages link to but the site lacks -> what they become: a file of the
    repository outside docs/ (`../bench/bench_gpu.py`) is published under source/, and a
    folder of docs/ without a page gets a page listing its files."""
    known = {f.src_uri for f in files}
    targets: dict[str, str] = {}
    for page in files:
        if not page.src_uri.endswith(".md") or page.abs_src_path is None:
            continue  # a generated page links only to what exists
        base = posixpath.dirname(page.src_uri)
        for match in LINK.finditer(Path(page.abs_src_path).read_text()):
            uri = posixpath.normpath(posixpath.join(base, match.group(1)))
            if uri in known or uri in targets:
                continue
            path = (docs_dir / uri).resolve()
            if uri.startswith("../") and path.is_file() and ROOT in path.parents:
                targets[uri] = f"{SOURCE}/{path.relative_to(ROOT).as_posix()}"
            elif path.is_dir() and docs_dir in path.parents:
                targets[uri] = f"{uri}/index.md"
    return targets


def folder_page(folder: Path, uri: str) -> str:
    lines = [f"# {uri}", "", "The files of this folder:", ""]
    lines += [f"- [{p.name}]({p.name})" for p in sorted(folder.iterdir()) if p.is_file()]
    return "\n".join([*lines, ""])


def on_files(files: Files, config: Any) -> Files:
    try:
        pages = reference_pages()
    except reference.PageLacks as exc:
        raise PluginError(str(exc)) from exc
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    versions = model_versions()
    files.append(File.generated(config, "models.md", content=model_page(versions)))
    for version in versions:
        for picture in PICTURES:
            if (version / picture).is_file():
                uri = f"models/{version.parent.name}/{version.name}/{picture}"
                files.append(File.generated(config, uri, abs_src_path=str(version / picture)))
    docs_dir = Path(config["docs_dir"]).resolve()
    targets = outside_links(files, docs_dir)
    for uri, published in targets.items():
        if published.endswith("/index.md"):
            page = folder_page(docs_dir / uri, uri)
            files.append(
                File.generated(config, published, content=page, inclusion=InclusionLevel.NOT_IN_NAV)
            )
        else:
            source = str((docs_dir / uri).resolve())
            files.append(File.generated(config, published, abs_src_path=source))
    config["extra"]["outside_links"] = targets
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, **_: Any) -> str:
    """Links to what outside_links published point at it."""
    targets = config["extra"].get("outside_links", {})
    base = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match[str]) -> str:
        uri = posixpath.normpath(posixpath.join(base, match.group(1)))
        if uri not in targets:
            return match.group(0)
        target = posixpath.relpath(targets[uri], base or ".")
        return f"]({target}{match.group(2) or ''}{match.group(3) or ''})"

    return LINK.sub(rewrite, markdown)


def on_page_content(html: str, page: Any, **_: Any) -> str:
    if page.file.src_uri == CONTRACT_PAGE:
        try:
            reference.check_contract_html(html, reference.contract_modules())
        except reference.PageLacks as exc:
            raise PluginError(str(exc)) from exc
    return html
