"""The README is one screen, every link and picture in it exists, and what its examples say
is also on the docs site (where the tests run them)."""

from __future__ import annotations

import re

from tests.docs.blocks import DOCS, ROOT, blocks_of

README = ROOT / "README.md"


def test_the_readme_fits_on_one_screen() -> None:
    assert len(README.read_text().splitlines()) <= 120


def test_every_link_and_picture_of_the_readme_exists() -> None:
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r'src="([^"]+)"', text)
    local = [t for t in targets if not re.match(r"https?:", t)]
    assert len(local) >= 15
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []


def test_every_line_of_the_readme_examples_is_in_the_docs() -> None:
    docs = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    lines = [line for b in blocks_of(README) for line in b.code.splitlines() if line.strip()]
    assert lines
    missing = [line for line in lines if line not in docs]
    assert missing == [], "say these on a docs page too"
