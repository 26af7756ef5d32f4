"""Reading an export's folder safely: every check of a path under a models folder.

A request, a discovery scan or a training command never opens a path outside the models
folder: every folder and file is resolved (symlinks followed) and refused if it lands
outside, and only regular files are opened, so a FIFO or a device cannot block. Problems
are returned as short reasons that name files as in their version folder and carry no host
path (the API shows them).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from contract.manifest import MANIFEST_FILE, Manifest, ManifestTooLarge, sha256_file

log = logging.getLogger(__name__)

# ASCII digits only, no leading zero, at least 1: str.isdigit() also takes "²" (int() then
# fails) and Arabic-Indic digits (int() reads them), and "01" would silently merge with "1"
VERSION_RE = re.compile(r"[1-9][0-9]{0,8}")
_MAX_ERRORS = 3  # of a manifest's validation errors, in its reason
_MAX_DETAIL = 200  # characters of an exception's text, in a reason
# an absolute path in an exception's text: "/" after a space, quote, colon, ... or at the start
_ABSOLUTE_PATH_RE = re.compile(r"(?<![\w.~/-])/[^\s'\"`<>]*")


def version_number(name: str) -> int | None:
    """The version a folder name stands for, or None when it is not a canonical number."""
    return int(name) if VERSION_RE.fullmatch(name) else None


def existing_folder(path: Path) -> Path | None:
    """``path`` resolved when it is a folder, else None."""
    try:
        real = path.resolve(strict=True)
        return real if stat.S_ISDIR(os.stat(real).st_mode) else None
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return None


def subfolders(folder: Path, label: str) -> list[Path]:
    """Folders and symlinks in ``folder``, sorted; files are left out quietly.

    Symlinks are kept whatever they point to so that the checks of a loop or an escape
    report them. A folder that cannot be listed is logged and counts as empty.
    """
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                        found.append(folder / entry.name)
                except OSError:  # cannot tell what it is: let the checks say why
                    found.append(folder / entry.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", label, _os_problem(exc))
    return sorted(found)


def _resolve_inside(root: Path, path: Path, label: str) -> tuple[Path, str]:
    """``path`` with its symlinks resolved, and "" when it stays inside ``root`` (resolved);
    else the problem. The problem never names a symlink's target (it may be a host path).
    """
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        broken = os.path.islink(path)
        return path, f"{label} is a broken symlink" if broken else f"{label} is missing"
    except RuntimeError:  # before Python 3.13, with the path in its message
        return path, f"cannot read {label}: symlink loop"
    except OSError as exc:
        return path, f"cannot read {label}: {_os_problem(exc)}"
    if not real.is_relative_to(root):
        return path, f"{label} points outside the models folder"
    return real, ""


def _inside_as(
    root: Path, path: Path, label: str, is_kind: Callable[[int], bool], noun: str
) -> str:
    """Why ``path`` is not ``noun`` inside ``root`` (symlinks followed); "" when it is."""
    real, problem = _resolve_inside(root, path, label)
    if problem:
        return problem
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        return f"cannot read {label}: {_os_problem(exc)}"
    return "" if is_kind(mode) else f"{label} is not {noun} ({_kind(mode)})"


def folder_inside(root: Path, folder: Path, label: str) -> str:
    return _inside_as(root, folder, label, stat.S_ISDIR, "a folder")


def regular_file_inside(root: Path, path: Path) -> str:
    """Why ``path`` is not a regular file inside ``root`` (symlinks followed); "" when it is.

    Only then may it be opened: opening a FIFO blocks until a writer comes, forever at
    start-up, and a device file has no end. Files are named as in their version folder.
    (Checked by path just before opening: whoever could swap a file in between can write
    to the models folder anyway.)
    """
    return _inside_as(root, path, path.name, stat.S_ISREG, "a regular file")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def read_manifest(root: Path, folder: Path) -> Manifest | str:
    """The version's manifest, or what is wrong with it."""
    path = folder / MANIFEST_FILE
    problem = regular_file_inside(root, path)
    if problem:
        return problem
    try:
        return Manifest.load(path)
    except ValidationError as exc:
        return f"invalid manifest: {_validation_problem(exc)}"
    except UnicodeDecodeError as exc:
        return f"invalid manifest: not UTF-8 text (byte {exc.start})"
    except ManifestTooLarge as exc:
        return f"invalid manifest: {exc}"
    except OSError as exc:
        return f"cannot read {MANIFEST_FILE}: {_os_problem(exc)}"


def checksum_problem(onnx_path: Path, manifest: Manifest) -> str:
    """Why the (checked, regular) ONNX file does not match the manifest's sha256, or ""."""
    try:
        matches = sha256_file(onnx_path) == manifest.onnx_sha256
    except OSError as exc:
        return f"cannot read {manifest.onnx_file}: {_os_problem(exc)}"
    return "" if matches else f"sha256 of {manifest.onnx_file} does not match the manifest"


def _validation_problem(exc: ValidationError) -> str:
    """The fields at fault and what is wrong, e.g. "nz: Input should be greater than ..."."""
    errors = exc.errors(include_url=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        detail = errors[0]["msg"].removeprefix("Invalid JSON: ")
        return _one_line(f"not valid JSON ({detail})")
    parts = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        if error["loc"]
        else error["msg"]
        for error in errors[:_MAX_ERRORS]
    ]
    if len(errors) > _MAX_ERRORS:
        parts.append(f"and {len(errors) - _MAX_ERRORS} more")
    # field names can come from the file (extra keys): the text gets the same cleaning
    return _one_line("; ".join(parts))


def _os_problem(exc: OSError) -> str:
    """The error without its file names, which are host paths: "permission denied"."""
    return (exc.strerror or type(exc).__name__).lower()


def sanitize(text: str, folder: Path, root: Path) -> str:
    """An exception's text fit for a reason: files named relative to the version folder,
    no other host path, one line.
    """
    places = {str(p) for base in (folder, root) for p in (base, os.path.realpath(base))}
    for place in sorted(places, key=len, reverse=True):  # the version folder before its root
        text = text.replace(place + os.sep, "")
    return _one_line(text)


def _one_line(text: str) -> str:
    """The first line of ``text``, short, with any absolute path replaced by <path>."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = _ABSOLUTE_PATH_RE.sub("<path>", line)
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 3] + "..."
