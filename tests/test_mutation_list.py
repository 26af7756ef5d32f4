"""The mutation list (tests/mutations.py) still points at code that exists.

`make mutants` reports an entry whose line has changed as MOVED and fails; this finds it in
the fast suite, at the commit that moved the line, rather than at the end of CI.
"""

from __future__ import annotations

import pytest

from tests.mutations import MUTATIONS, ROOT


@pytest.mark.parametrize("entry", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_mutation_finds_its_line_once_and_names_tests_that_exist(
    entry: tuple[str, str, str, str, str],
) -> None:
    name, file, old, new, tests = entry
    assert (ROOT / file).read_text().count(old) == 1, f"{name}: its line moved in {file}"
    assert old != new
    for test in tests.split():
        if not test.startswith("-"):  # "-k" and its word
            path = test.split("::")[0]
            if path.endswith(".py"):
                assert (ROOT / path).is_file(), f"{name}: no {path}"
