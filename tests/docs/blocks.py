"""The fenced code blocks of README.md and docs/: what the docs tests run or check.

A block is run unless the HTML comment just above it says otherwise (the site does not show
it): ``<!-- not run: REASON -->`` (checked, not run), ``<!-- run: slow -->`` (run by `make
test-slow`) or ``<!-- run: shows an error -->`` (run; an HTTP error or a failing command is
what it shows). docs/benchmarks.md's blocks reproduce benchmark runs of minutes: checked, not
run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LANGUAGES = {"bash": "bash", "sh": "bash", "python": "python", "yaml": "yaml"}
MARKER = re.compile(r"<!--\s*(not run|run):\s*(.*?)\s*-->")
FENCE = re.compile(r"^(\s*)```(\w*)[^\n]*$")
FILE_DEFAULTS = {"docs/benchmarks.md": "benchmark runs of minutes: checked, not run"}


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository
    line: int  # of the opening fence
    language: str  # bash, python or yaml
    code: str
    mode: str  # "run", "slow", "error" or "check"
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def markdown_files() -> list[Path]:
    pages = [p for p in DOCS.rglob("*.md") if "_gen" not in p.parts]
    return [ROOT / "README.md", *sorted(pages)]


def blocks_of(path: Path) -> list[Block]:
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, language = match.group(1), match.group(2)
        end = next(
            j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"
        )  # a fence without its end is a broken page: StopIteration fails the test
        code = "\n".join(line[len(indent) :] for line in lines[i + 1 : end]) + "\n"
        if language in LANGUAGES:
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = MARKER.search(previous)
            mode, reason = "run", ""
            if rel in FILE_DEFAULTS:
                mode, reason = "check", FILE_DEFAULTS[rel]
            if marker and marker.group(1) == "not run":
                mode, reason = "check", marker.group(2)
            elif marker:
                mode = {"slow": "slow", "shows an error": "error"}[marker.group(2)]
            if LANGUAGES[language] == "yaml":
                mode, reason = "check", reason or "a YAML fragment: parsed"
            found.append(Block(rel, i + 1, LANGUAGES[language], code, mode, reason))
        i = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for path in markdown_files() for block in blocks_of(path)]


def commands(code: str) -> list[str]:
    """The shell commands of a block: continuation lines joined, comments dropped, split at
    ; && || and |."""
    text = re.sub(r"\\\n", " ", code)
    out = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        out += [part.strip() for part in re.split(r";|&&|\|\||\|", line) if part.strip()]
    return out


def dcgan_invocations(code: str) -> list[list[str]]:
    """The words after `dcgan` (or `-m training`) of every such command in a block."""
    found = []
    for command in commands(code):
        words = command.split()
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
            words.pop(0)  # VAR=value before the command
        if words and words[0].rsplit("/", 1)[-1] == "dcgan":
            found.append(words[1:])
        elif "-m" in words and words[words.index("-m") + 1 :][:1] == ["training"]:
            found.append(words[words.index("-m") + 2 :])
    return found
