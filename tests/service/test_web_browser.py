"""The web page at / in a real browser (headless Chromium) against a real server.

One server with the bundled models (models/) and one with the tiny test models behind
DCGAN_API_KEY; one browser for the module, a fresh page load per test. Every test ends with
an empty console: a failed request, a CSP violation or a script error fails it.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from testkit.browser import chrome, console_errors, require_browser, wait_until
from testkit.servers import running_server

ROOT = Path(__file__).resolve().parents[2]
KEY = "browser-test-key"
GALLERY = "[...document.querySelectorAll('#gallery img')]"
# every gallery image loaded and decoded (naturalWidth is 0 for a broken image)
SEEDS_AB = "return ['seed-a', 'seed-b'].map(i => document.getElementById(i).value)"
GALLERY_DECODED = (
    f"const i = {GALLERY}; return i.length && i.every(x => x.complete && x.naturalWidth > 0);"
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_browser()
    downloads = tmp_path_factory.mktemp("downloads")
    with chrome(downloads) as driver:
        driver.downloads = downloads  # type: ignore[attr-defined]
        yield driver


@pytest.fixture(scope="module")
def bundled() -> Iterator[str]:
    """The service with the bundled models, as `make serve` runs it."""
    require_browser()  # skip before paying for a server
    with running_server(ROOT / "models") as running:
        yield running.url


@pytest.fixture(scope="module")
def keyed(prepared_models: Path) -> Iterator[str]:
    """Tiny models (and broken ones) behind an API key."""
    require_browser()
    with running_server(prepared_models, {"DCGAN_API_KEY": KEY}) as running:
        yield running.url


@pytest.fixture
def clean_console(browser: Any) -> Iterator[Any]:
    console_errors(browser)  # whatever an earlier test left
    yield browser
    assert console_errors(browser) == []


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def open_page(driver: Any, url: str) -> None:
    """A fresh load (from the same page, a URL that differs in its hash only would not be)."""
    driver.get("about:blank")
    driver.get(url)
    wait_until(driver, lambda d: js(d, GALLERY_DECODED))


def requested(part: str) -> str:
    """A script: how many resources the page has fetched whose URL holds ``part``."""
    entries = "performance.getEntriesByType('resource')"
    return f"return {entries}.filter(e => e.name.includes('{part}')).length"


def text(driver: Any, element_id: str) -> str:
    return str(js(driver, f"return document.getElementById('{element_id}').textContent"))


def click(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, css).click()


def downloaded(driver: Any, name: str) -> Path:
    path = driver.downloads / name
    wait_until(driver, lambda _: path.is_file() and path.stat().st_size > 0)
    return path


def test_page_lists_the_bundled_models_and_shows_decoded_images_and_the_card(
    browser: Any, bundled: str, clean_console: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    browser.set_window_size(1280, 700)  # the card below the fold, as on a laptop
    open_page(browser, bundled + "/")
    options = js(
        browser, "return [...document.querySelectorAll('#model option')].map(o => o.value)"
    )
    assert {"cartoon-faces", "fashion"} <= set(options)
    assert js(browser, "return document.getElementById('model').value") == "cartoon-faces"
    alts = js(browser, f"return {GALLERY}.map(i => i.alt)")
    assert len(alts) == 24 and alts[5] == "cartoon-faces v2, seed 5"
    sources = js(browser, f"return {GALLERY}.map(i => i.src)")
    assert sources[5] == f"{bundled}/models/cartoon-faces/images/5.png?version=2"
    assert js(browser, f"return {GALLERY}[0].naturalWidth") == 64
    # the model card: the training record and the three pictures, decoded
    assert "dcgan train --preset dcgan64" in text(browser, "training")
    assert "AMD EPYC" in text(browser, "training") and "CPUExecutionProvider" in text(
        browser, "training"
    )
    assert "real-vs-real floor" in text(browser, "quality")
    # each metric says what it measures; the attributes table compares looks
    quality = text(browser, "quality")
    assert "what it says" in quality and "fidelity" in quality and "diversity" in quality
    assert "Attributes" in quality and "hair_color" in quality and " vs " in quality
    # an unbiased KID below 0 is shown as 0, not as a negative distance
    floor = "return import('/static/card.js').then(m => m.shownFloor('kid', arguments[0]))"
    assert js(browser, floor, -0.0004) == "0 (indistinguishable)"
    assert js(browser, floor, 0.002) == 0.002
    # the card's pictures load when they come near the screen, not with the page (~2 MB)
    below = "return document.getElementById('pictures').getBoundingClientRect().top - innerHeight"
    assert js(browser, below) > 200 and js(browser, requested("/files/")) == 0
    js(browser, "document.getElementById('pictures').scrollIntoView()")
    pictures = "[...document.querySelectorAll('#pictures img')]"
    wait_until(browser, lambda d: js(d, f"return {pictures}.every(i => i.naturalWidth > 0)"))
    js(browser, "window.scrollTo(0, 0)")
    assert js(browser, f"return {pictures}.map(i => i.src.split('/files/')[1])") == [
        "samples.png?version=2",
        "training.gif?version=2",
        "losses.png?version=2",
    ]
    assert js(browser, "return [...document.images].filter(i => i.src && !i.alt).length") == 0
    # by keyboard: arrows move between the tiles, Enter opens one, Escape closes it
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    js(browser, "document.querySelector('#gallery .tile').focus()")
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT, Keys.ARROW_DOWN, Keys.ENTER).perform()
    wait_until(browser, lambda d: js(d, "return document.getElementById('detail').open"))
    assert text(browser, "detail-seed") == "7"  # 0 -> 1 -> one row (6 tiles) down
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(browser, lambda d: not js(d, "return document.getElementById('detail').open"))
    # focus is back (restored with the close event, a task of its own)
    wait_until(browser, lambda d: js(d, "return document.activeElement.dataset.seed") == "7")
    # the other model: its own gallery and card
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "model")).select_by_value("fashion")
    wait_until(browser, lambda d: js(d, f"return {GALLERY}[0].alt.startsWith('fashion')"))
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    assert js(browser, f"return {GALLERY}[0].naturalWidth") == 28
    wait_until(browser, lambda d: "--data fashion-mnist" in text(d, "training"))
    wait_until(browser, lambda d: "model=fashion" in d.current_url)
    assert browser.title == "fashion v1 · dcgan-serve"  # the tab says what it shows
    # a random seed from the whole 64-bit range opens in the dialog, on its own page
    click(browser, "#random")
    wait_until(browser, lambda d: js(d, "return document.getElementById('detail').open"))
    seed = int(text(browser, "detail-seed"))
    assert 0 <= seed < 2**64 and browser.title.startswith(f"seed {seed} · fashion v1")
    assert f"seed={seed}" in browser.current_url
    wait_until(
        browser, lambda d: js(d, "return document.getElementById('detail-img').naturalWidth")
    )
    click(browser, "#detail-close")
    # a screenshot for people to look at (not compared with anything)
    shot = tmp_path_factory.getbasetemp() / "web-page.png"
    browser.save_screenshot(str(shot))
    assert Image.open(shot).size[0] > 0
    browser.set_window_size(1280, 1000)


def test_the_page_loads_every_module_once_and_a_missing_one_is_an_error(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """The page is ES modules: each is fetched (once, as JavaScript: a module of another
    type does not run) and nothing is left on window; a module that is not there is an
    error in the console, which fails every test here (clean_console)."""
    static = ROOT / "service" / "static"
    modules = sorted(p.name for p in static.glob("*.js"))
    open_page(browser, bundled + "/")
    fetched = js(
        browser,
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.includes('/static/') && n.endsWith('.js'))",
    )
    assert sorted(u.removeprefix(bundled + "/static/") for u in fetched) == modules
    # a module's top level is its own: the page's functions are not globals
    assert js(browser, "return typeof shownFloor + typeof state + typeof openDetail") == (
        "undefined" * 3
    )
    failed = js(
        browser,
        "return import('/static/no-such-module.js').then(() => 'loaded', e => e.name)",
    )
    assert failed == "TypeError"
    errors = console_errors(browser)
    assert any("no-such-module.js" in e and "404" in e for e in errors), errors


def test_the_psi_slider_has_a_name_and_renders_once_when_it_stops(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """10 key presses on the ψ slider: one new page of tiles, not one per press (15 presses
    were 377 requests and 4.9 s to settle)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, bundled + "/")
    assert js(browser, "return document.getElementById('psi').getAttribute('aria-label')")
    click(browser, "#psi-on")
    wait_until(browser, lambda d: js(d, f"return {GALLERY}[0].src.includes('truncation=0.7')"))
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    images = requested("/images/")
    before = js(browser, images)
    js(browser, "document.getElementById('psi').focus()")
    ActionChains(browser).send_keys(*[Keys.ARROW_LEFT] * 10).perform()
    wait_until(browser, lambda d: js(d, f"return {GALLERY}[0].src.includes('truncation=0.2')"))
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    time.sleep(0.5)
    assert js(browser, images) - before <= 24 + 1  # one page (and the open seed, if any)


def test_a_clicked_image_shows_its_seed_and_a_permalink_that_restores_the_view(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    open_page(browser, bundled + "/")
    click(browser, "#next")
    click(browser, "#next")
    wait_until(browser, lambda d: "seeds 48–71" in text(d, "page-label"))
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    js(browser, "const p = document.getElementById('psi-on'); p.click();")  # ψ on, 0.7
    wait_until(browser, lambda d: "truncation=0.7" in js(d, f"return {GALLERY}[0].src"))
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    click(browser, '#gallery .tile[data-seed="50"]')
    click(browser, "#use-a")
    click(browser, '#gallery .tile[data-seed="53"]')
    click(browser, "#use-b")
    click(browser, '#gallery .tile[data-seed="50"]')
    assert js(browser, "return document.getElementById('detail').open")
    assert text(browser, "detail-seed") == "50"
    wait_until(
        browser, lambda d: js(d, "return document.getElementById('detail-img').naturalWidth")
    )
    link = js(browser, "return document.getElementById('permalink').href")
    for part in (
        "model=cartoon-faces",
        "version=2",
        "page=2",
        "seed=50",
        "psi=0.7",
        "a=50",
        "b=53",
    ):
        assert part in link
    assert browser.current_url == link  # the address bar is the permalink too
    # the permalink, opened fresh in another tab, shows the same state
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        browser.get(link)
        wait_until(browser, lambda d: js(d, "return document.getElementById('detail').open"))
        assert text(browser, "detail-seed") == "50"
        assert "seeds 48–71" in text(browser, "page-label")
        assert js(browser, "return document.getElementById('psi-on').checked")
        assert js(browser, SEEDS_AB) == ["50", "53"]
        assert js(browser, "return document.getElementById('model').value") == "cartoon-faces"
        wait_until(browser, lambda d: js(d, GALLERY_DECODED))
        assert console_errors(browser) == []
    finally:
        browser.close()
        browser.switch_to.window(first)
    # the arrow keys walk the seeds; Escape closes and the seed leaves the URL
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    wait_until(browser, lambda d: text(d, "detail-seed") == "51")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(browser, lambda d: not js(d, "return document.getElementById('detail').open"))
    # the dialog's close event, which rewrites the URL, is dispatched as a task of its own
    wait_until(browser, lambda d: "seed=" not in d.current_url)


def test_the_interpolation_slider_scrubs_the_frames_and_play_animates_them(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    open_page(browser, bundled + "/#model=cartoon-faces&a=3&b=9&steps=8&method=lerp")
    frame = "document.getElementById('frame')"
    wait_until(browser, lambda d: js(d, f"return {frame}.naturalWidth > 0"))
    assert text(browser, "frame-label").startswith("Frame 1 of 8: seed 3 → seed 9 (lerp)")
    first = js(browser, f"return {frame}.src")
    slider = browser.find_element("id", "frame-slider")
    slider.send_keys(Keys.END)
    wait_until(browser, lambda d: text(d, "frame-label").startswith("Frame 8 of 8"))
    last = js(browser, f"return {frame}.src")
    assert last != first and last.startswith("data:image/png;base64,")
    slider.send_keys(Keys.ARROW_LEFT)
    wait_until(browser, lambda d: text(d, "frame-label").startswith("Frame 7 of 8"))
    # play/pause: the frame moves by itself, then stops
    click(browser, "#play")
    seen = {js(browser, f"return {frame}.src")}
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        seen.add(js(browser, f"return {frame}.src"))
        time.sleep(0.03)
    assert len(seen) >= 3
    click(browser, "#play")
    assert js(browser, "return document.getElementById('play').getAttribute('aria-pressed')") == (
        "false"
    )
    stopped = js(browser, f"return {frame}.src")
    time.sleep(0.3)
    assert js(browser, f"return {frame}.src") == stopped
    # a new pair from the form
    for element_id, value in (("seed-a", "4"), ("seed-b", "5"), ("steps", "3")):
        js(browser, "document.getElementById(arguments[0]).value = arguments[1]", element_id, value)
    click(browser, "#interp-form button[type=submit]")
    wait_until(
        browser, lambda d: text(d, "frame-label").startswith("Frame 1 of 3: seed 4 → seed 5")
    )
    wait_until(browser, lambda d: "a=4&b=5&steps=3" in d.current_url)


def test_downloads_answer_200_and_land_as_files(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, bundled + "/#model=cartoon-faces&seed=7&a=1&b=2&steps=4")
    wait_until(browser, lambda d: js(d, "return document.getElementById('detail').open"))
    Select(browser.find_element("id", "dl-upscale")).select_by_value("2")
    links = js(
        browser,
        "return ['dl-png', 'dl-webp', 'dl-gif', 'dl-webp-anim']"
        ".map(id => [document.getElementById(id).href, document.getElementById(id).download])",
    )
    types = ["image/png", "image/webp", "image/gif", "image/webp"]
    for (href, _), media_type in zip(links, types, strict=True):
        r = httpx.get(href, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == media_type, href
    assert links[0][1] == "cartoon-faces-v2-seed7-x2.png"
    png = Image.open(downloaded_after_click(browser, "#dl-png", links[0][1]))
    assert png.size == (128, 128)
    curl = js(browser, "return document.getElementById('curl').value")
    assert curl.startswith(f"curl -s '{links[0][0]}'") and "X-API-Key" not in curl
    click(browser, "#detail-close")
    gif = Image.open(downloaded_after_click(browser, "#dl-gif", links[2][1]))
    assert gif.format == "GIF" and gif.n_frames == 6  # 4 frames there, 2 back


def downloaded_after_click(driver: Any, css: str, name: str) -> Path:
    (driver.downloads / name).unlink(missing_ok=True)
    click(driver, css)
    return downloaded(driver, name)


def test_with_an_api_key_the_page_asks_for_it_and_sends_it_only_in_a_header(
    browser: Any, keyed: str, clean_console: Any
) -> None:
    browser.get("about:blank")
    browser.get(keyed + "/")
    wait_until(browser, lambda d: "needs an API key" in text(d, "status"))
    assert js(browser, "return document.getElementById('key-panel').open")
    assert js(browser, f"return {GALLERY}.length") == 0  # nothing asked before the key
    # the controls ask for the key too, instead of requesting /models//images/24.png?version=null
    js(browser, "document.getElementById('key-panel').open = false")
    click(browser, "#next")
    js(browser, "document.getElementById('goto').value = '7'")
    js(browser, "document.getElementById('goto-form').requestSubmit()")
    js(browser, "document.getElementById('interp-form').requestSubmit()")
    assert js(browser, requested("/models/")) == js(browser, requested("/models?")) == 0
    assert js(browser, "return document.getElementById('key-panel').open")
    assert "enter it under API key" in text(browser, "status")
    assert not js(browser, "return document.getElementById('detail').open")
    browser.find_element("id", "key").send_keys(KEY + "\n")
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    # <img> cannot send the header: the images are fetched with it, shown as object URLs
    assert all(s.startswith("blob:") for s in js(browser, f"return {GALLERY}.map(i => i.src)"))
    assert js(browser, "return sessionStorage.getItem('dcgan-serve.api-key')") == KEY
    assert js(browser, "return document.getElementById('model').value") == "gray"
    # versions that failed to load are listed, greyed, with their reason
    unavailable = text(browser, "unavailable")
    assert "corrupt v1 unavailable: onnxruntime cannot load" in unavailable
    assert "tampered v1 unavailable: sha256" in unavailable
    disabled = js(
        browser, "return [...document.querySelectorAll('#model option:disabled')].map(o => o.value)"
    )
    assert set(disabled) == {"corrupt", "nomanifest", "tampered"}
    pictures = "[...document.querySelectorAll('#pictures img')]"
    js(browser, "document.getElementById('pictures').scrollIntoView()")  # they load when seen
    wait_until(browser, lambda d: js(d, f"return {pictures}.length && {pictures}[0].naturalWidth"))
    js(browser, "window.scrollTo(0, 0)")
    # a download with the key: fetched with the header, saved under its name
    click(browser, '#gallery .tile[data-seed="3"]')
    name = js(browser, "return document.getElementById('dl-webp').download")
    assert name == "gray-v1-seed3-x4.webp"
    assert Image.open(downloaded_after_click(browser, "#dl-webp", name)).size == (64, 64)
    assert 'X-API-Key: $DCGAN_API_KEY"' in js(
        browser, "return document.getElementById('curl').value"
    )
    # the key never went into a URL: not the page's, not any request's
    urls = js(browser, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any("/images/3.png" in u for u in urls)
    assert not [u for u in [browser.current_url, *urls] if KEY in u]
    assert js(browser, "return document.getElementById('permalink').href").find(KEY) == -1


def test_the_page_fits_a_phone_screen(browser: Any, bundled: str, clean_console: Any) -> None:
    browser.set_window_size(390, 844)
    try:
        open_page(browser, bundled + "/#model=cartoon-faces&seed=3")
        assert js(browser, "return document.documentElement.scrollWidth <= window.innerWidth")
        tops = js(
            browser, "return [...document.querySelectorAll('#gallery .tile')].map(t => t.offsetTop)"
        )
        assert tops.count(tops[0]) == 4  # four tiles a row
        dialog = js(
            browser, "return document.getElementById('detail').getBoundingClientRect().right"
        )
        assert dialog <= js(browser, "return window.innerWidth")
    finally:
        browser.set_window_size(1280, 1000)


def test_an_unavailable_version_is_short_in_the_picker_and_explained_in_the_list(
    browser: Any, clean_console: Any, tmp_path: Path
) -> None:
    """A broken v2 beside a good v1: the Version select says "v2 (unavailable)" (the reason
    in its tooltip and in the list below), and a phone-width page stays as wide as the screen
    (before: the reason in the option made the select ~590 px wide)."""
    from tests.helpers import make_tiny_model

    make_tiny_model(tmp_path, "tiny", 1)
    broken = make_tiny_model(tmp_path, "tiny", 2, seed=2)
    (broken / "generator.onnx").write_bytes(b"not an onnx file at all, and long enough")
    with running_server(tmp_path) as srv:
        browser.set_window_size(390, 844)
        try:
            open_page(browser, srv.url + "/")
            options = js(
                browser,
                "return [...document.querySelectorAll('#version option')]"
                ".map(o => [o.textContent, o.title, o.disabled])",
            )
            assert options[0] == ["v1", "", False]
            assert options[1][0] == "v2 (unavailable)" and options[1][2]
            assert "sha256" in options[1][1]  # the reason, in the tooltip
            assert "tiny v2 unavailable: sha256" in text(browser, "unavailable")
            assert js(browser, "return document.documentElement.scrollWidth <= innerWidth")
        finally:
            browser.set_window_size(1280, 1000)


def test_a_version_without_a_truncation_center_offers_no_psi(
    browser: Any, clean_console: Any, tmp_path: Path
) -> None:
    """A version exported before truncation centers existed answers ψ with a 422: the page
    disables the ψ switch there, and a permalink with ψ to it turns ψ off and says why,
    instead of showing 24 broken tiles."""
    import json

    from tests.helpers import make_tiny_model

    make_tiny_model(tmp_path, "tiny", 1)
    old = make_tiny_model(tmp_path, "tiny", 2, seed=2) / "manifest.json"
    data = json.loads(old.read_text())
    del data["truncation"]
    old.write_text(json.dumps(data))
    with running_server(tmp_path) as srv:
        open_page(browser, srv.url + "/#model=tiny&version=1&psi=0.5")
        assert not js(browser, "return document.getElementById('psi-on').disabled")
        assert "truncation=0.5" in js(browser, f"return {GALLERY}[0].src")
        open_page(browser, srv.url + "/#model=tiny&version=2&psi=0.5")
        assert js(browser, "return document.getElementById('psi-on').disabled")
        assert not js(browser, "return document.getElementById('psi-on').checked")
        assert "truncation" not in js(browser, f"return {GALLERY}[0].src")
        assert "no truncation center" in text(browser, "status")


@pytest.mark.parametrize("width", [390, 821, 1280])
def test_twenty_digit_seeds_stay_inside_their_tiles_and_the_pager(
    browser: Any, bundled: str, clean_console: Any, width: int
) -> None:
    """The last page holds seeds up to 2^64 - 1 (what random requests return): every caption
    fits its tile and nothing is wider than the window (before: captions overlapped)."""
    last_page = (2**64 - 1) // 24
    browser.set_window_size(width, 900)
    try:
        open_page(browser, f"{bundled}/#model=fashion&page={last_page}")
        wait_until(browser, lambda d: "18446744073709551615" in text(d, "gallery"))
        overflowing = js(
            browser,
            "return [...document.querySelectorAll('#gallery .tile span, #page-label')]"
            ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)",
        )
        assert overflowing == []
        assert js(browser, "return document.documentElement.scrollWidth <= innerWidth")
        # the largest seed itself opens from a permalink (one more is not a seed)
        open_page(browser, f"{bundled}/#model=fashion&page={last_page}&seed={2**64 - 1}")
        wait_until(browser, lambda d: js(d, "return document.getElementById('detail').open"))
        assert text(browser, "detail-seed") == str(2**64 - 1)
    finally:
        browser.set_window_size(1280, 1000)


@pytest.mark.parametrize(
    ("fragment", "said"),
    [
        ("#model=nope", "Model nope is not available here: showing cartoon-faces."),
        ("#model=fashion&version=9", "fashion v9 is not available: showing v1."),
    ],
)
def test_a_permalink_to_what_is_not_here_says_so(
    browser: Any, bundled: str, clean_console: Any, fragment: str, said: str
) -> None:
    """Before: the page fell back to another model or version without a word."""
    open_page(browser, f"{bundled}/{fragment}")
    assert said in text(browser, "status")


def test_a_wrong_key_stays_to_be_corrected_and_forget_asks_again(
    browser: Any, keyed: str, clean_console: Any
) -> None:
    """Before: a wrong key cleared the field and dropped focus; after Forget, Next showed
    broken images instead of asking for the key again."""
    browser.get(keyed + "/")
    js(browser, "sessionStorage.clear()")  # a key an earlier test gave
    browser.get("about:blank")
    browser.get(keyed + "/")
    wait_until(browser, lambda d: js(d, "return document.getElementById('key-panel').open"))
    key = browser.find_element("id", "key")
    key.send_keys("wrong-key\n")
    wait_until(browser, lambda d: "needs an API key" in text(d, "status"))
    console_errors(browser)  # the 401 of the wrong key is expected here
    assert js(browser, "return document.getElementById('key').value") == "wrong-key"
    assert js(browser, "return document.activeElement.id") == "key"
    key.clear()
    key.send_keys(KEY + "\n")
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))
    assert not js(browser, "return document.getElementById('key-panel').open")
    js(browser, "document.getElementById('key-panel').open = true")
    click(browser, "#key-forget")
    assert js(browser, f"return {GALLERY}.length") == 0
    assert js(browser, "return document.getElementById('key-panel').open")
    before = js(browser, requested("/images/"))
    click(browser, "#next")
    assert js(browser, requested("/images/")) == before  # asks for the key, fetches nothing
    assert "enter it under API key" in text(browser, "status")


CONTRAST = """
const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
const lum = (c) => {
  const [r, g, b] = rgb(c).map(channel);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => {
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};
const bg = (e) => {
  for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c !== "transparent" && !c.endsWith(", 0)")) return c;
  }
  return "rgb(255, 255, 255)";
};
const text = document.querySelector(arguments[0]);
const control = document.querySelector(arguments[1]);
return [ratio(getComputedStyle(text).color, bg(text)),
        ratio(getComputedStyle(control).borderTopColor, bg(control.parentElement))];
"""


def test_muted_text_and_control_edges_have_enough_contrast(
    browser: Any, keyed: str, clean_console: Any
) -> None:
    """The unavailable-versions list was 3.0:1 (text needs 4.5:1) and input borders 1.39:1
    (a control's edge needs 3:1, WCAG 1.4.11)."""
    browser.get("about:blank")
    browser.get(keyed + "/")
    js(browser, f"sessionStorage.setItem('dcgan-serve.api-key', '{KEY}')")
    open_page(browser, keyed + "/")
    wait_until(browser, lambda d: text(d, "unavailable"))
    text_ratio, edge_ratio = js(browser, CONTRAST, "#unavailable li", "#goto")
    assert text_ratio >= 4.5, text_ratio
    assert edge_ratio >= 3.0, edge_ratio


def test_back_and_forward_walk_the_pages_and_back_closes_the_dialog(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """Paging and opening a seed add history entries (before: they replaced the URL, and
    Back left the page; on a phone it left the site instead of closing the dialog)."""
    open_page(browser, bundled + "/")

    def page() -> str:
        return str(js(browser, "return new URLSearchParams(location.hash.slice(1)).get('page')"))

    def dialog_open() -> bool:
        return bool(js(browser, "return document.getElementById('detail').open"))

    click(browser, "#next")
    click(browser, "#next")
    assert page() == "2"
    click(browser, '#gallery .tile[data-seed="50"]')
    wait_until(browser, lambda _: dialog_open())
    click(browser, "#detail-next")  # within the dialog: no entry of its own
    wait_until(browser, lambda d: text(d, "detail-seed") == "51")
    browser.back()
    wait_until(browser, lambda _: not dialog_open())
    assert page() == "2" and "seed=" not in browser.current_url
    browser.back()
    wait_until(browser, lambda _: page() == "1")
    browser.forward()
    wait_until(browser, lambda _: page() == "2")
    # Escape closes the dialog as Back does: the next Back goes to page 1, not to a copy
    click(browser, '#gallery .tile[data-seed="49"]')
    wait_until(browser, lambda _: dialog_open())
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(browser, lambda d: not dialog_open() and "seed=" not in d.current_url)
    browser.back()
    wait_until(browser, lambda _: page() == "1")
    browser.back()
    wait_until(browser, lambda _: page() == "0")
    assert browser.current_url.startswith(bundled)
    wait_until(browser, lambda d: js(d, GALLERY_DECODED))


def test_messages_show_where_one_looks_and_clear_by_themselves(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """Before: the copy confirmation showed behind the dialog's backdrop, and every message
    stayed for ever, pushing the page down."""
    open_page(browser, bundled + "/")
    assert js(browser, "return getComputedStyle(document.getElementById('status')).position") == (
        "fixed"  # over the page's foot, not in its flow
    )
    click(browser, '#gallery .tile[data-seed="4"]')
    wait_until(browser, lambda d: js(d, "return document.getElementById('detail').open"))
    click(browser, "#copy-curl")
    wait_until(browser, lambda d: text(d, "detail-status"))
    assert text(browser, "status") == ""
    on_top = (
        "const e = document.getElementById('detail-status'); const r = e.getBoundingClientRect();"
        "return e.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));"
    )
    assert js(browser, on_top)
    wait_until(browser, lambda d: text(d, "detail-status") == "", 10)
    click(browser, "#detail-close")


def test_the_grid_is_one_tab_stop_and_a_skip_link_reaches_it(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """Before: 24 Tab stops for the tiles and no skip link."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, bundled + "/")
    stops = "return [...document.querySelectorAll('#gallery .tile')].filter(t => t.tabIndex >= 0)"
    assert len(js(browser, stops)) == 1
    js(browser, "document.getElementById('skip').focus()")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    assert js(browser, "return document.activeElement.dataset.seed") == "0"
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT).perform()
    assert js(browser, "return document.activeElement.dataset.seed") == "2"
    assert js(browser, f"{stops}.map(t => t.dataset.seed)") == ["2"]  # the stop moved along
    assert "seed=" not in browser.current_url and "gallery-section" not in browser.current_url


def test_controls_are_finger_sized_on_a_phone(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """Before: phone buttons were 31-33 px tall and the checkbox 13 px (aim: 44 px)."""
    browser.set_window_size(390, 844)
    try:
        open_page(browser, bundled + "/")
        small = js(
            browser,
            "return [...document.querySelectorAll('button, a.button, select, input')]"
            ".filter(e => e.offsetParent !== null && !e.closest('dialog, .tile'))"
            ".map(e => [e.id || e.textContent.trim(), e.type, e.getBoundingClientRect().height])"
            ".filter(([, type, h]) => type === 'checkbox' ? h < 24 : type !== 'range' && h < 43.5)",
        )
        assert small == []
    finally:
        browser.set_window_size(1280, 1000)


def test_the_page_recovers_by_itself_when_the_server_comes_back(
    browser: Any, clean_console: Any, prepared_models: Path
) -> None:
    """The server stops while the page is open, and a page turn fails: the page says the
    server is away (not a stale "Failed to fetch"); when it is back the tiles load by
    themselves and the message clears. Before: broken tiles, never retried."""
    from testkit.servers import free_port

    port = free_port()
    env = {"DCGAN_DEFAULT_MODEL": "tiny"}
    with running_server(prepared_models, env, port=port) as first:
        open_page(browser, first.url + "/")
        first.proc.terminate()
        first.proc.wait(20)
    click(browser, "#next")
    wait_until(browser, lambda d: "not answering" in text(d, "status"))
    with running_server(prepared_models, env, port=port):
        wait_until(browser, lambda d: js(d, GALLERY_DECODED), 30)
        wait_until(browser, lambda d: text(d, "status") == "")
        assert "seeds 24–47" in text(browser, "page-label")
    console_errors(browser)  # the failed requests while it was away are expected here


def test_play_goes_forth_and_back_like_the_download_at_the_chosen_speed(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """Before: Play jumped from the last frame to the first while the downloaded GIF plays
    forth and back, and there was no speed control (frame_ms)."""
    from selenium.webdriver.support.ui import Select

    open_page(browser, f"{bundled}/#model=fashion&steps=4")
    wait_until(browser, lambda d: "Frame 1 of 4" in text(d, "frame-label"))
    Select(browser.find_element("id", "frame-ms")).select_by_value("50")
    wait_until(browser, lambda d: "ms=50" in d.current_url)
    gif = js(browser, "return document.getElementById('dl-gif').href")
    assert "frame_ms=50" in gif
    # every frame shown while playing, in order
    js(
        browser,
        "window.seen = []; new MutationObserver(() => window.seen.push("
        "document.getElementById('frame-slider').value)).observe("
        "document.getElementById('frame-slider'), {attributes: true});",
    )
    click(browser, "#play")
    time.sleep(1.2)  # 50 ms frames: about 24 of them
    click(browser, "#play")
    seen = [int(v) for v in js(browser, "return window.seen")]
    steps = [b - a for a, b in itertools.pairwise(seen) if b != a]
    assert len(seen) > 10 and set(steps) <= {1, -1}, seen  # no jump from 3 back to 0
    assert -1 in steps and 3 in seen
    animation = Image.open(io.BytesIO(httpx.get(gif, timeout=30).content))
    assert animation.n_frames == 6 and animation.info["duration"] == 50  # 4 there, 2 back


def test_a_model_exported_while_the_page_is_open_appears_by_itself(
    browser: Any, clean_console: Any, tmp_path: Path
) -> None:
    """Before: a reloaded server's new models showed only after a page reload. The view
    on screen stays as it is (the same tiles)."""
    from tests.helpers import make_tiny_model

    make_tiny_model(tmp_path, "tiny", 1)
    with running_server(tmp_path) as srv:
        open_page(browser, srv.url + "/")
        js(browser, "document.querySelector('#gallery img').dataset.mark = 'first'")
        make_tiny_model(tmp_path, "late", 1, seed=5)
        assert httpx.post(f"{srv.url}/admin/reload", timeout=30).json()["added"] == ["late/1"]
        options = "return [...document.querySelectorAll('#model option')].map(o => o.value)"
        wait_until(browser, lambda d: "late" in js(d, options), 20)
        assert js(browser, "return document.querySelector('#gallery img').dataset.mark") == "first"
        assert js(browser, "return document.getElementById('model').value") == "tiny"


def test_focus_returns_to_the_last_seed_after_the_dialog_crossed_a_page(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """Open seed 23, arrow to 24 (the next page), Escape: the dialog closes as Back does,
    back on the first page, and the focus is on tile 23 again (before: the tile that opened
    the dialog had been redrawn away, and focus fell to the page)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, bundled + "/")
    js(browser, "document.querySelector('#gallery .tile[data-seed=\"23\"]').focus()")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_until(browser, lambda d: text(d, "detail-seed") == "23")
    js(browser, "document.getElementById('detail-img').focus()")
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    wait_until(browser, lambda d: text(d, "detail-seed") == "24")
    assert "seeds 24–47" in text(browser, "page-label")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(browser, lambda d: not js(d, "return document.getElementById('detail').open"))
    wait_until(browser, lambda d: js(d, "return document.activeElement.dataset.seed") == "23")
    assert "seeds 0–23" in text(browser, "page-label")


# ReDoc's sidebar credit shows Redocly's logo from their CDN and hides it when it fails to load
REDOC_LOGO = "https://cdn.redoc.ly/"


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock"), ("/redoc", ".api-content")])
def test_api_docs_render_offline(clean_console: Any, keyed: str, path: str, rendered: str) -> None:
    """Swagger UI and ReDoc draw the API from the service's own files (FastAPI's defaults
    load them from a CDN: blank on a machine without internet access), key or not."""
    driver = clean_console
    driver.get("about:blank")
    driver.get(keyed + path)
    wait_until(driver, lambda d: js(d, f"return document.querySelectorAll('{rendered}').length"))
    assert "/generate" in js(driver, "return document.body.innerText")
    loaded = js(driver, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert any(url.endswith("/openapi.json") for url in loaded), loaded
    elsewhere = [
        u for u in loaded if not u.startswith(keyed + "/") and not u.startswith(REDOC_LOGO)
    ]
    assert elsewhere == [], elsewhere
    errors = [e for e in console_errors(driver) if REDOC_LOGO not in e]
    assert errors == [], errors


@pytest.mark.parametrize("width", [821, 900, 1000, 1280, 1920])
def test_tiles_never_shrink_below_their_pixels_nor_blow_up_on_wide_screens(
    browser: Any, bundled: str, clean_console: Any, width: int
) -> None:
    """The faces are 64 px: no tile shows them smaller (they did between 821 and ~1000 px),
    and at 1920 px none is more than about 2× (it was 2.6×, beside a mostly empty panel)."""
    browser.set_window_size(width, 1000)
    try:
        open_page(browser, bundled + "/")
        sizes = js(browser, f"return {GALLERY}.map(i => i.getBoundingClientRect().width)")
        assert len(sizes) == 24 and min(sizes) >= 64, sizes
        assert max(sizes) <= 2.1 * 64, sizes
        if width >= 1300:
            assert (
                js(browser, "return document.getElementById('frame').getBoundingClientRect().width")
                >= 384
            )
    finally:
        browser.set_window_size(1280, 1000)


def test_the_walks_ends_flank_the_slider_and_open_their_seed(
    browser: Any, bundled: str, clean_console: Any
) -> None:
    """A and B show beside the slider (the walk's own first and last frames, ψ included); a
    click opens that seed, and closing the dialog gives the focus back to the end."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, bundled + "/#model=cartoon-faces&a=3&b=9&steps=5&psi=0.7")
    wait_until(browser, lambda d: "Frame 1 of 5" in text(d, "frame-label"))
    walk = httpx.get(
        bundled + "/interpolate?model=cartoon-faces&seed_a=3&seed_b=9&steps=5"
        "&truncation=0.7&format=json",
        timeout=30,
    ).json()["frames"]
    ends = js(
        browser,
        "return ['end-a', 'end-b'].map(id => { const b = document.getElementById(id);"
        " return [b.hidden, b.firstElementChild.src, b.getAttribute('aria-label'),"
        " b.firstElementChild.naturalWidth, b.getBoundingClientRect().width]; })",
    )
    assert [e[1] for e in ends] == [f"data:image/png;base64,{f}" for f in (walk[0], walk[-1])]
    assert [e[0] for e in ends] == [False, False]
    assert ends[0][2] == "Open seed A, 3" and ends[1][2] == "Open seed B, 9"
    assert ends[0][3] == 64 and ends[0][4] >= 44  # decoded, and a finger's size
    # the slider lies between them
    order = js(
        browser,
        "return ['end-a', 'frame-slider', 'end-b'].map(id =>"
        " document.getElementById(id).getBoundingClientRect().left)",
    )
    assert order == sorted(order)
    js(browser, "document.getElementById('end-b').focus()")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_until(browser, lambda d: text(d, "detail-seed") == "9")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_until(browser, lambda d: not js(d, "return document.getElementById('detail').open"))
    wait_until(browser, lambda d: js(d, "return document.activeElement.id") == "end-b")
    # a new pair: the ends follow it
    for element_id, value in (("seed-a", "4"), ("seed-b", "5")):
        js(browser, "document.getElementById(arguments[0]).value = arguments[1]", element_id, value)
    click(browser, "#interp-form button[type=submit]")
    wait_until(
        browser,
        lambda d: (
            js(d, "return document.getElementById('end-a').getAttribute('aria-label')")
            == "Open seed A, 4"
        ),
    )


def test_animation_downloads_come_enlarged(browser: Any, bundled: str, clean_console: Any) -> None:
    """The GIF/WebP downloads are 4× by default (a 64 px walk is 256 px), with a size and
    filter to choose; before they were always the model's own 64 px."""
    from selenium.webdriver.support.ui import Select

    open_page(browser, bundled + "/#model=cartoon-faces&a=1&b=2&steps=4")
    wait_until(browser, lambda d: "Frame 1 of 4" in text(d, "frame-label"))
    link = js(browser, "const a = document.getElementById('dl-gif'); return [a.href, a.download]")
    assert "upscale=4" in link[0] and link[1] == "cartoon-faces-v2-1-to-2-slerp4-x4.gif"
    gif = Image.open(downloaded_after_click(browser, "#dl-gif", link[1]))
    assert gif.size == (256, 256) and gif.n_frames == 6
    Select(browser.find_element("id", "anim-upscale")).select_by_value("2")
    Select(browser.find_element("id", "anim-filter")).select_by_value("lanczos")
    href = js(browser, "return document.getElementById('dl-webp-anim').href")
    assert "upscale=2&upscale_filter=lanczos" in href
    webp = Image.open(io.BytesIO(httpx.get(href, timeout=30).content))
    assert webp.format == "WEBP" and webp.size == (128, 128) and webp.n_frames == 6
    Select(browser.find_element("id", "anim-upscale")).select_by_value("1")
    href = js(browser, "return document.getElementById('dl-gif').href")
    assert "upscale" not in href


def test_download_sizes_over_the_output_budget_are_not_offered(
    browser: Any, clean_console: Any
) -> None:
    """With DCGAN_MAX_OUTPUT_PIXELS=4,194,304 a 16-frame 64 px walk fits 8× exactly (16 ×
    512² px: the budget itself is allowed, as the server allows it); 64 frames fit 4× exactly
    but not 8×, and an 8× choice moves to 4×. A size over it would download the 422's JSON
    under a .gif name."""
    require_browser()
    with running_server(ROOT / "models", {"DCGAN_MAX_OUTPUT_PIXELS": str(2**22)}) as server:
        open_page(browser, server.url + "/#model=cartoon-faces&a=1&b=2&steps=16")
        wait_until(browser, lambda d: "Frame 1 of 16" in text(d, "frame-label"))
        offered = (
            "return [...document.getElementById('anim-upscale').options]"
            ".filter(o => !o.disabled).map(o => o.value)"
        )
        assert js(browser, offered) == ["1", "2", "4", "8"]
        js(browser, "document.getElementById('anim-upscale').value = '8'")
        js(browser, "document.getElementById('steps').value = '64'")
        click(browser, "#interp-form button[type=submit]")
        wait_until(browser, lambda d: "Frame 1 of 64" in text(d, "frame-label"))
        assert js(browser, offered) == ["1", "2", "4"]
        href = js(browser, "return document.getElementById('dl-gif').href")
        assert "upscale=4" in href
        assert httpx.get(href, timeout=60).status_code == 200
