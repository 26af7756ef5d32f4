"""Every shell and Python example of README.md and docs/ that a user would paste is run
against a real dcgan-serve serving the bundled models/ (tests/docs/blocks.py says which and
how they are marked); the ones that cannot run here (a Docker engine, a cluster, a GPU, hours
of training) are parsed, and what can be validated is: compose files, kustomize directories,
Dockerfile targets, and every `dcgan` command's subcommand and options."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit.servers import Running
from testkit.tools import unavailable
from tests.docs.blocks import ROOT, Block, all_blocks, commands, dcgan_invocations

BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if b.mode in ("run", "error")]
SLOW = [b for b in BLOCKS if b.mode == "slow"]
ADDRESSES = ("127.0.0.1:8000", "localhost:8000")
# what a scratch folder leaves out of the checkout: examples write runs/ and data/ of their own
NOT_LINKED = {".git", "runs", "data", "evaluations", "site", ".pytest_cache", ".mypy_cache"}
MAGIC = {
    ".png": b"\x89PNG",
    ".gif": b"GIF8",
    ".jpeg": b"\xff\xd8",
    ".jpg": b"\xff\xd8",
    ".webp": b"RIFF",
}
# curl fails on an HTTP error status, so a docs line whose request fails fails its test
CURL_FAILS = 'curl() { command curl --fail-with-body "$@"; }\n'


def scratch(tmp_path: Path) -> Path:
    """A folder that looks like the checkout (its files linked) for a block to run in."""
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCGAN_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def written_images(code: str) -> list[str]:
    return [m for m in re.findall(r"(?:-o|--out)\s+(\S+)", code) if Path(m).suffix in MAGIC]


def run_block(block: Block, cwd: Path, address: str, timeout: float) -> None:
    code = block.code
    for local in ADDRESSES:
        code = code.replace(local, address)
    if block.language == "python":
        argv = [sys.executable, "-c", code]
    else:
        prelude = "set -e -o pipefail\n" + CURL_FAILS if block.mode != "error" else ""
        argv = ["bash", "-c", prelude + code]
    done = subprocess.run(
        argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout
    )
    output = f"{block.id}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    if block.mode == "error":
        assert done.stdout or done.stderr, output
        return
    assert done.returncode == 0, output
    for name in written_images(block.code):
        path = cwd / name
        assert path.is_file(), f"{block.id}: the example writes {name}, but it is not there"
        assert path.read_bytes().startswith(MAGIC[path.suffix]), f"{block.id}: {name}"


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_example_runs_against_a_real_server(
    block: Block, docs_server: Running, tmp_path: Path
) -> None:
    run_block(block, scratch(tmp_path), f"127.0.0.1:{docs_server.port}", timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("block", SLOW, ids=[b.id for b in SLOW])
def test_slow_example_runs(block: Block, docs_server: Running, tmp_path: Path) -> None:
    run_block(block, scratch(tmp_path), f"127.0.0.1:{docs_server.port}", timeout=600)


def test_the_examples_are_found_and_most_of_them_run() -> None:
    """The parser sees the blocks (a broken marker or fence would hide them)."""
    assert len(RUN) >= 18, [b.id for b in RUN]
    assert {b.file for b in RUN} >= {"README.md", "docs/serving/index.md"}
    for block in BLOCKS:
        if block.mode == "check" and block.file != "docs/benchmarks.md":
            assert block.reason, f"{block.id}: say why it is not run"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_example_parses(block: Block) -> None:
    if block.language == "bash":
        done = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True)
        assert done.returncode == 0, f"{block.id}: {done.stderr}"
    elif block.language == "python":
        compile(block.code, block.id, "exec")
    else:
        yaml.safe_load(block.code)


# ---- what the blocks that are not run name must exist ----------------------------------------


def cli_tree() -> dict[str, set[str]]:
    """ "train" -> its options, "data cartoon-faces" -> its options, ... (from the CLI)."""
    import typer.main

    from training.cli import app

    tree: dict[str, set[str]] = {}

    def walk(command: object, path: str) -> None:
        options = set()
        for param in getattr(command, "params", []):
            if param.param_type_name == "option":
                options |= {*param.opts, *param.secondary_opts}
        tree[path] = options | {"--help"}
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return tree


DCGAN = [(b, words) for b in BLOCKS if b.language == "bash" for words in dcgan_invocations(b.code)]


@pytest.mark.parametrize(
    ("block", "words"), DCGAN, ids=[f"{b.id}:{' '.join(w[:2])}" for b, w in DCGAN]
)
def test_dcgan_commands_use_options_the_cli_has(block: Block, words: list[str]) -> None:
    tree = cli_tree()
    path = ""
    for word in words:
        if f"{path} {word}".strip() not in tree:
            break
        path = f"{path} {word}".strip()
    assert path, f"{block.id}: `dcgan {' '.join(words)}` names no dcgan command"
    options = {w.split("=")[0] for w in words if re.fullmatch(r"--?[a-z][a-z0-9-]*(=.*)?", w)}
    unknown = sorted(options - tree[path])
    assert unknown == [], f"{block.id}: dcgan {path} has no {unknown}"


CHECKED = [b for b in BLOCKS if b.mode == "check" and b.language == "bash"]


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (Debian: {name})", "DCGAN_REQUIRE_DEPLOY_TOOLS")
    return found


def docker_compose_files(block: Block) -> list[list[str]]:
    found = []
    for command in commands(block.code):
        if re.match(r"docker(-| )compose\b", command):
            files = re.findall(r"-f\s+(\S+)", command) or ["docker-compose.yml"]
            found.append(files)
    return found


def kustomize_dirs(block: Block) -> list[str]:
    return [m for c in commands(block.code) for m in re.findall(r"kubectl apply -k\s+(\S+)", c)]


def docker_targets(block: Block) -> list[str]:
    return [m for c in commands(block.code) for m in re.findall(r"--target\s+(\S+)", c)]


COMPOSE = [(b, files) for b in CHECKED for files in docker_compose_files(b)]
KUSTOMIZE = [(b, d) for b in CHECKED for d in kustomize_dirs(b)]
TARGETS = [(b, t) for b in CHECKED for t in docker_targets(b)]


@pytest.mark.parametrize(("block", "files"), COMPOSE, ids=[b.id for b, _ in COMPOSE])
def test_compose_commands_name_valid_compose_files(block: Block, files: list[str]) -> None:
    argv = [tool("docker-compose")]
    for name in files:
        argv += ["-f", name]
    done = subprocess.run([*argv, "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{block.id}: {done.stderr}"


@pytest.mark.parametrize(("block", "folder"), KUSTOMIZE, ids=[b.id for b, _ in KUSTOMIZE])
def test_kubectl_apply_folders_render(block: Block, folder: str) -> None:
    done = subprocess.run(
        [tool("kubectl"), "kustomize", folder], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and "kind:" in done.stdout, f"{block.id}: {done.stderr}"


@pytest.mark.parametrize(("block", "target"), TARGETS, ids=[b.id for b, _ in TARGETS])
def test_docker_build_targets_exist(block: Block, target: str) -> None:
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M | re.I)
    assert target in stages, f"{block.id}: the Dockerfile has no target {target} ({stages})"


def test_the_checked_blocks_are_validated() -> None:
    assert len(COMPOSE) >= 2 and len(KUSTOMIZE) >= 3 and len(TARGETS) >= 2
    assert len(DCGAN) >= 20


@pytest.mark.parametrize(
    ("language", "code"),
    [
        # a model that does not exist: curl fails on the 404
        ("bash", "curl -s -X POST 'http://127.0.0.1:8000/generate?model=nope' -d '{}' -o x.png\n"),
        # a PNG saved as .webp: the file is not what the line says
        ("bash", "curl -s 'http://127.0.0.1:8000/models/fashion/files/losses.png' -o x.webp\n"),
        ("python", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:8000/nope')\n"),
    ],
)
def test_an_example_that_lies_fails(
    language: str, code: str, docs_server: Running, tmp_path: Path
) -> None:
    block = Block("lie.md", 1, language, code, "run")
    with pytest.raises(AssertionError):
        run_block(block, scratch(tmp_path), f"127.0.0.1:{docs_server.port}", timeout=60)


def test_the_log_lines_the_docs_quote_are_what_the_server_logs(docs_server: Running) -> None:
    """`model cartoon-faces v2 runs on CPUExecutionProvider`, `inference engine: ...`: the
    lines a reader is told to look for in the log."""
    pages = " ".join(" ".join(p.read_text().split()) for p in (ROOT / "docs").rglob("*.md"))
    quoted = set(re.findall(r"`((?:model \S+ v\d+ runs on CPU|inference engine: )[^`]*)`", pages))
    assert len(quoted) >= 2, quoted
    log = docs_server.output()
    assert [line for line in quoted if line not in log] == []
