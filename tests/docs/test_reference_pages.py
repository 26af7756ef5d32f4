"""The generated reference pages against their sources: each page as generated has every
item of its source, and each check fails, naming the item, when the source has one more
item than the page (a new setting, command, option, metric, route or contract function) or
when the page loses one. The same checks run in the docs build (docs/_gen/hooks.py), so
`mkdocs build --strict` fails there too."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from pydantic import Field

from docs._gen import hooks, reference
from service.core.settings import Settings
from tests.docs.blocks import ROOT


def without_line(page: str, needle: str) -> str:
    lines = page.splitlines()
    assert any(needle in line for line in lines), needle
    return "\n".join(line for line in lines if needle not in line)


# ---- settings ------------------------------------------------------------------------------


def test_the_settings_page_has_every_setting() -> None:
    page = reference.render_settings(Settings)
    reference.check(page, reference.settings_items(Settings), "settings")
    assert "| `DCGAN_ENGINE` |" in page and "| `DCGAN_MAX_BATCH_SIZE` |" in page


def test_the_settings_check_fails_on_a_setting_the_page_lacks() -> None:
    page = reference.render_settings(Settings)

    class MoreSettings(Settings):
        docs_probe: int = Field(default=1, description="a setting the page has not seen")

    with pytest.raises(reference.PageLacks, match="DCGAN_DOCS_PROBE"):
        reference.check(page, reference.settings_items(MoreSettings), "settings")
    with pytest.raises(reference.PageLacks, match="DCGAN_QUEUE_SIZE"):
        reference.check(
            without_line(page, "`DCGAN_QUEUE_SIZE`"), reference.settings_items(Settings), "s"
        )


def test_the_settings_page_gives_defaults_and_ranges() -> None:
    page = reference.render_settings(Settings)
    row = next(line for line in page.splitlines() if line.startswith("| `DCGAN_PORT` |"))
    assert "`8000`" in row and "≥ 1" in row and "≤ 65535" in row
    row = next(line for line in page.splitlines() if line.startswith("| `DCGAN_API_KEY` |"))
    assert "unset" in row


# ---- the CLI -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_page() -> tuple[str, str]:
    help_text = reference.serve_help()
    return reference.render_cli(reference.typer_docs(), help_text), help_text


@pytest.fixture
def app_with_a_new_command() -> Iterator[Any]:
    from training.cli import app

    def docs_probe(loud: bool = False) -> None:
        """A command the page has not seen."""

    app.command("docs-probe")(docs_probe)
    try:
        yield app
    finally:
        app.registered_commands.pop()


def test_the_cli_page_has_every_command_and_option(cli_page: tuple[str, str]) -> None:
    from training.cli import app

    page, help_text = cli_page
    reference.check_cli(page, app, help_text)
    for path in ("dcgan train", "dcgan data cartoon-faces", "dcgan-serve"):
        assert path in reference.cli_sections(page)


def test_the_cli_check_fails_on_a_command_the_page_lacks(
    cli_page: tuple[str, str], app_with_a_new_command: Any
) -> None:
    page, help_text = cli_page
    with pytest.raises(reference.PageLacks, match="dcgan docs-probe"):
        reference.check_cli(page, app_with_a_new_command, help_text)


def test_the_cli_check_fails_on_an_option_the_page_lacks(cli_page: tuple[str, str]) -> None:
    from training.cli import app

    page, help_text = cli_page
    with pytest.raises(reference.PageLacks, match="dcgan train --ema-decay"):
        reference.check_cli(without_line(page, "`--ema-decay "), app, help_text)
    with pytest.raises(reference.PageLacks, match="dcgan-serve --docs-probe"):
        reference.check_cli(page, app, help_text + "  --docs-probe  a new option\n")


# ---- metrics -------------------------------------------------------------------------------


def test_the_metrics_page_has_every_metric_of_the_service_and_the_engine() -> None:
    collectors = reference.metric_collectors()
    page = reference.render_metrics(collectors)
    reference.check(page, reference.metrics_items(collectors), "metrics")
    row = next(line for line in page.splitlines() if "`dcgan_http_requests_total`" in line)
    assert "counter" in row and "`endpoint`, `model`, `status`" in row
    assert "`dcgan_engine_batch_size`" in page


def test_the_metrics_check_fails_on_a_metric_the_page_lacks() -> None:
    collectors = reference.metric_collectors()
    page = reference.render_metrics(collectors)
    probe = Counter(
        "docs_probe",
        "a metric the page has not seen",
        namespace="dcgan",
        registry=CollectorRegistry(),
    )
    with pytest.raises(reference.PageLacks, match="dcgan_docs_probe_total"):
        reference.check(page, reference.metrics_items([*collectors, probe]), "metrics")


# ---- the HTTP API --------------------------------------------------------------------------


def test_the_http_page_has_every_route_and_schema() -> None:
    document = reference.openapi_document()
    page = reference.render_http_api(document)
    reference.check(page, reference.http_items(document), "http")
    assert "`POST /generate`" in page and "`GET /interpolate`" in page


def test_the_http_check_fails_on_a_route_the_page_lacks() -> None:
    document = reference.openapi_document()
    page = reference.render_http_api(document)
    grown = {**document, "paths": {**document["paths"], "/docs-probe": {"get": {}}}}
    with pytest.raises(reference.PageLacks, match="GET /docs-probe"):
        reference.check(page, reference.http_items(grown), "http")


# ---- the contract (mkdocstrings) -----------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `make docs` builds it (--strict)."""
    out = tmp_path_factory.mktemp("site")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    assert mkdocs, "mkdocs is not installed: pip install -e '.[docs]'"
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_the_contract_page_renders_every_public_name(site: Path) -> None:
    html = (site / "reference" / "contract" / "index.html").read_text()
    modules = reference.contract_modules()
    reference.check_contract_html(html, modules)
    assert "contract.latents" in modules and 'id="contract.latents.truncate"' in html


def test_the_contract_check_fails_on_a_function_the_page_lacks(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    html = (site / "reference" / "contract" / "index.html").read_text()
    modules = reference.contract_modules()
    with pytest.raises(reference.PageLacks, match=r"contract\.latents\.truncate"):
        reference.check_contract_html(html.replace('id="contract.latents.truncate"', ""), modules)
    probe = types.ModuleType("contract.docs_probe")

    def docs_probe() -> None:
        """A function the page has not seen."""

    docs_probe.__module__ = probe.__name__
    probe.docs_probe = docs_probe  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, probe.__name__, probe)
    with pytest.raises(reference.PageLacks, match=r"contract\.docs_probe"):
        reference.check_contract_html(html, [*modules, probe.__name__])


def test_the_site_has_the_generated_pages_and_the_models(site: Path) -> None:
    for page in ("settings", "cli", "metrics", "http-api", "contract"):
        assert (site / "reference" / page / "index.html").is_file(), page
    assert (site / "reference" / "openapi.json").is_file()
    models = (site / "models" / "index.html").read_text()
    assert "cartoon-faces v1" in models and "cartoon-faces v2" in models and "fashion v1" in models
    assert (site / "models" / "cartoon-faces" / "1" / "samples.png").is_file()


# ---- the build fails, not only the checks ----------------------------------------------------


@pytest.mark.parametrize(
    ("renderer", "needle"),
    [
        ("render_settings", "`DCGAN_ENGINE_RUNNERS`"),
        ("render_cli", "`--eval-every "),
        ("render_metrics", "`dcgan_engine_generation`"),
        ("render_http_api", "### `POST /admin/reload`"),
    ],
)
def test_a_generated_page_that_drops_an_item_fails_the_build(
    renderer: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer that loses a row makes the hook raise: the build stops naming it."""
    real = getattr(reference, renderer)
    monkeypatch.setattr(reference, renderer, lambda *a: without_line(real(*a), needle))
    with pytest.raises(reference.PageLacks):
        hooks.reference_pages()
