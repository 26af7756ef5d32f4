"""The web page's HTTP side: / and /static/{file}, what they send, and that the files ship.

What the page does is tested in a real browser (test_web_browser.py).
"""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.core.settings import Settings
from service.http.app import create_app

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "service" / "static"


JS = "text/javascript; charset=utf-8"
MODULES = sorted(p.name for p in STATIC.glob("*.js"))
ENTRY = "app.js"
# a static import: `import { a, b } from "./x.js";` (the names may span lines)
IMPORT = re.compile(r'^import\s*(?:\{([^}]*)\}\s*from\s*)?"([^"]*)";', re.M)


def imports(module: str) -> dict[str, list[str]]:
    """The specifiers ``module`` imports, each with the names it takes from it."""
    text = (STATIC / module).read_text()
    return {
        spec: [n.strip() for n in (names or "").split(",") if n.strip()]
        for names, spec in IMPORT.findall(text)
    }


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/", "text/html; charset=utf-8"),
        *((f"/static/{name}", JS) for name in MODULES),
        ("/static/style.css", "text/css; charset=utf-8"),
    ],
)
def test_page_and_static_files_are_served_with_an_etag(
    client: TestClient, path: str, media_type: str
) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    again = client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    if path != "/":
        assert r.content == (STATIC / path.removeprefix("/static/")).read_bytes()
    # HEAD answers as GET does, without the body (uptime checks ask with it; it was a 405)
    head = client.head(path)
    assert head.status_code == 200 and head.headers["etag"] == r.headers["etag"]
    assert head.headers["content-type"] == media_type and head.content == b""


def test_the_page_knows_whether_a_key_is_needed_and_the_limits(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir))) as open_client:
        page = open_client.get("/").text
    assert 'data-key-required="false"' in page and 'data-max-count="64"' in page
    assert 'data-max-pixels="16777216"' in page
    keyed = Settings(models_dir=models_dir, api_key="k3y", max_count=32, max_output_pixels=5000)
    with TestClient(create_app(keyed)) as client:
        page = client.get("/").text
        assert 'data-key-required="true"' in page and 'data-max-count="32"' in page
        assert 'data-max-pixels="5000"' in page
        assert "k3y" not in page
        assert client.get("/static/app.js").status_code == 200  # open, like the page
        assert client.get("/models").status_code == 401


@pytest.mark.parametrize("file", ["nope.js", "index.html", "..%2Fapp.py", "app.js.map"])
def test_unknown_static_files_are_a_json_404(client: TestClient, file: str) -> None:
    r = client.get(f"/static/{file}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN, no web font, no external script: it must work offline."""
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), path.name
        assert "@import" not in text and 'fetch("http' not in text, path.name
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/app.js">']
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["/static/style.css"]


def test_the_page_script_is_es_modules_that_all_resolve_and_are_preloaded(
    client: TestClient,
) -> None:
    """Every import is a ./name.js beside it, served as JavaScript (a module with another
    content type, or a 404, stops the whole page), that exports what is imported from it;
    every module is reached from the entry and modulepreloaded by the page."""
    assert ENTRY in MODULES and len(MODULES) > 1
    reached, todo = {ENTRY}, [ENTRY]
    while todo:
        module = todo.pop()
        text = (STATIC / module).read_text()
        # no globals: state is shared through imports (state.js), not window
        assert not re.search(r"\b(window|globalThis|self)\.\w+\s*=(?!=)", text), module
        assert "import(" not in text, module  # static imports only: all checked here
        found = imports(module)
        assert len(found) == len(re.findall(r"^import\b", text, re.M)), module
        for spec, names in found.items():
            assert re.fullmatch(r"\./[a-z]+\.js", spec), f"{module}: {spec}"
            target = spec.removeprefix("./")
            r = client.get(f"/static/{target}")
            assert r.status_code == 200 and r.headers["content-type"] == JS, f"{module}: {spec}"
            exported = set(
                re.findall(
                    r"^export (?:async )?(?:function|const|let|class) ([\w$]+)", r.text, re.M
                )
            )
            assert set(names) <= exported, f"{module}: {set(names) - exported} from {spec}"
            if target not in reached:
                reached.add(target)
                todo.append(target)
    assert sorted(reached) == MODULES  # no module left over, none missing
    html = (STATIC / "index.html").read_text()
    preloaded = re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', html)
    assert sorted(preloaded) == sorted(set(MODULES) - {ENTRY})


def test_the_static_files_ship_in_the_package_and_the_image() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service"]
    for path in STATIC.iterdir():
        assert any(fnmatch(f"static/{path.name}", p) for p in patterns), path.name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("COPY service/ service/") >= 2  # both serving images


def test_without_a_browser_the_browser_tests_skip_or_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from testkit import browser

    def outcome() -> tuple[type[BaseException], str]:
        # caught whatever it is: a skip escaping here would skip this test, not fail it
        with pytest.raises(BaseException) as info:
            browser.require_browser()
        return info.type, str(info.value)

    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("DCGAN_REQUIRE_BROWSER", raising=False)
    kind, message = outcome()
    assert kind is pytest.skip.Exception and "apt-get install chromium" in message
    monkeypatch.setenv("DCGAN_REQUIRE_BROWSER", "1")
    kind, message = outcome()
    assert kind is pytest.fail.Exception and "no-chromium missing" in message


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("redoc.standalone.js", "text/javascript; charset=utf-8"),
    ],
)
def test_docs_assets_are_served_here_with_an_etag(
    client: TestClient, name: str, media_type: str
) -> None:
    """/docs and /redoc load these from the service, not from a CDN."""
    r = client.get(f"/docs/assets/{name}")
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    assert len(r.content) > 100_000 and r.headers["x-content-type-options"] == "nosniff"
    again = client.get(f"/docs/assets/{name}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert (
        f"/docs/assets/{name.split('.')[0]}"
        in client.get("/redoc" if name.startswith("redoc") else "/docs").text
    )


def test_an_unknown_docs_asset_is_a_404_listing_the_others(client: TestClient) -> None:
    r = client.get("/docs/assets/../app.js")
    assert r.status_code == 404
    r = client.get("/docs/assets/swagger.js")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "swagger-ui-bundle.js" in r.json()["error"]["details"]["available"]
