"""Screenshots of the web page with the bundled models, at desktop and phone width, for
docs/ (people look at them; nothing compares them). Needs Debian's chromium and
chromium-driver, as the browser tests do.

    .venv/bin/python bench/page_screenshots.py   # docs/page-desktop.png, docs/page-phone.png
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testkit.browser import chrome, wait_until  # noqa: E402
from testkit.servers import running_server  # noqa: E402

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
LOADED = (
    "const i = [...document.querySelectorAll('#gallery img')];"
    "return i.length && i.every(x => x.complete && x.naturalWidth > 0)"
    " && document.getElementById('frame-label').textContent.startsWith('Frame');"
)


def main() -> None:
    out = ROOT / "docs"
    with running_server(ROOT / "models") as server, chrome(Path("/tmp")) as browser:
        for name, (width, height) in SIZES.items():
            browser.set_window_size(width, height)
            browser.get("about:blank")
            browser.get(f"{server.url}/#model=cartoon-faces&a=3&b=11")
            wait_until(browser, lambda d: d.execute_script(LOADED))
            path = out / f"page-{name}.png"
            browser.save_screenshot(str(path))
            print(f"wrote {path.relative_to(ROOT)} ({width}×{height})")


if __name__ == "__main__":
    main()
