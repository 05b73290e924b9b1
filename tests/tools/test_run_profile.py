"""`tc run --profile` and `--profile-out`: the table on stderr, the timeline as JSON, even when
a call fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from test_cli import TUTORIAL, tc

ROOT = Path(__file__).parents[2]
LOGREG = ROOT / "examples" / "logreg.tx"


def test_profile_prints_each_op_of_the_function_called(tmp_path: Path) -> None:
    x = tmp_path / "x.npy"
    y = tmp_path / "y.npy"
    np.save(x, np.ones((5, 784)))
    np.save(y, np.zeros(5, np.int32))
    done = tc("run", LOGREG, "errors", x, y, "--repeat", "3", "--profile")
    assert done.returncode == 0, done.stderr
    assert "Function profile: 'errors': 3 calls (0 failed)" in done.stderr
    assert "tx.dot" in done.stderr and "%copy" in done.stderr
    assert str(LOGREG) in done.stderr  # ops name the .tx lines that made them


def test_profile_out_writes_a_timeline_also_when_a_call_fails(tmp_path: Path) -> None:
    trace = tmp_path / "trace.json"
    done = tc("run", TUTORIAL, "--script", "accumulator 1; accumulator [1, 2]", "--profile-out", trace)
    assert done.returncode == 1
    assert "Function profile: 'accumulator': 2 calls (1 failed)" in done.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(1 for e in events if e.get("cat") == "call") == 2


def test_an_artifact_cannot_be_profiled(tmp_path: Path) -> None:
    built = tc("compile", TUTORIAL, "-o", tmp_path / "tutorial")
    assert built.returncode == 0, built.stderr
    done = tc("run", tmp_path / "tutorial", "accumulator", "1", "--profile")
    assert done.returncode == 2
    assert "--profile needs the .tx model" in done.stderr
