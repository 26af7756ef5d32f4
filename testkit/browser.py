"""A real headless browser for tests: Debian's chromium + chromedriver through selenium.

Nothing is downloaded: the driver and the browser are the Debian packages' files, given by
path, so Selenium Manager never runs. Without them (or without selenium) a test skips and
says how to install them; CI sets DCGAN_REQUIRE_BROWSER=1 so that it fails instead.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testkit.tools import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# --disable-background-networking and friends: no update checks, sync or QUIC probes, which
# fail (slowly, or with errors) on a machine without internet access
ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL = "apt-get install chromium chromium-driver; pip install selenium (in the dev extra)"


def require_browser() -> None:
    """Skip (fail under DCGAN_REQUIRE_BROWSER=1) without selenium, chromium or chromedriver."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if not missing:
        return
    unavailable(
        f"no browser to test with ({', '.join(missing)} missing): {INSTALL}",
        "DCGAN_REQUIRE_BROWSER",
    )


@contextmanager
def chrome(downloads: Path, width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium with a fresh profile; files it downloads land in ``downloads``."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dcgan-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ARGS:
            options.add_argument(arg)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "safebrowsing.enabled": False,
            },
        )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_script_timeout(20)
            yield driver
        finally:
            driver.quit()


def wait_until(driver: Any, condition: Callable[[Any], Any], timeout: float = 20) -> Any:
    """The first truthy value of ``condition(driver)`` within ``timeout`` seconds."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def console_errors(driver: Any) -> list[str]:
    """The browser log's errors since the last call (reading the log empties it)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
