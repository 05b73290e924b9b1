"""Golden IR tests: each `golden/NAME.tir` starts with `// RUN: PIPELINE`; the pass
pipeline's printed output must equal `golden/NAME.expected.tir` exactly.

TC_UPDATE_GOLDEN=1 rewrites the expected files (review the diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tc.ir import parse_module, print_module
from tc.passes import run_pipeline

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.glob("*.tir") if not p.name.endswith(".expected.tir"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    text = case.read_text()
    first = text.splitlines()[0]
    assert first.startswith("// RUN: "), f"{case.name} must start with '// RUN: PIPELINE'"
    pipeline = first.removeprefix("// RUN: ").strip()
    module = parse_module(text, str(case))
    run_pipeline(module, pipeline)
    got = print_module(module)
    expected_path = case.with_suffix(".expected.tir")
    if os.environ.get("TC_UPDATE_GOLDEN"):
        expected_path.write_text(got)
    assert got == expected_path.read_text()
    # The output is itself valid IR that prints back to the same text.
    assert print_module(parse_module(got)) == got


ALL_TIR = sorted(Path(__file__).resolve().parents[1].rglob("*.tir"))


@pytest.mark.parametrize("path", ALL_TIR, ids=[p.name for p in ALL_TIR])
def test_every_tir_file_round_trips(path: Path) -> None:
    """print -> parse -> print is a fixed point for every IR file in the tests."""
    text = path.read_text()
    locations = "loc(" in text
    printed = print_module(parse_module(text, str(path)), locations=locations)
    assert print_module(parse_module(printed), locations=locations) == printed
    if path.name.endswith(".expected.tir"):
        assert printed == text  # expected outputs are already in printed form
