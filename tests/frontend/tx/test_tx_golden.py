"""Golden tests for the .tx frontend: each `golden/NAME.tx` lowers (no passes) to
exactly `golden/NAME.expected.tir`, printed with locations.

TC_UPDATE_GOLDEN=1 rewrites the expected files (review the diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tc.artifact import build_file
from tc.frontend.tx import SourceFile
from tc.ir import parse_module, print_module

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.tx"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    source = SourceFile(case.name, case.read_text(), GOLDEN)
    got = print_module(build_file(case, source).module, locations=True)
    expected = case.with_suffix(".expected.tir")
    if os.environ.get("TC_UPDATE_GOLDEN"):
        expected.write_text(got)
    assert got == expected.read_text()
    assert print_module(parse_module(got), locations=True) == got
