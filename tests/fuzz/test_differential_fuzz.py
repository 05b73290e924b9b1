"""Differential fuzzing: random well-typed graphs compiled by tc must compute what
numpy computes, at every optimisation level and in the interpreter, and fail
only with tc.TcError (tests/fuzz/differential.py says how they are compared).

The CI profile runs a fixed stream of 200 programs, every other one also
compiled at O0 (18-40 s on the two shared cores); the long profile
(TC_FUZZ_LONG=1, or `pytest --runslow`) runs 20,000 from the stream TC_FUZZ_SEED
(default 1), every third also at O0 (about an hour on two cores). Both run in
worker subprocesses (tests/fuzz/run_differential.py), so a crash or a hang fails
the test with the program that caused it. Every bug they found is listed, with
its regression test, in tests/fuzz/found_bugs.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
from run_differential import run

CI_SEED = 2026
CI_PROGRAMS = 200
LONG_PROGRAMS = 20_000


def _failures(summary: dict) -> str:
    lines = [json.dumps({k: v for k, v in summary.items() if k != "distinct_failures"})]
    for failure in summary["distinct_failures"]:
        lines.append(
            f"\n--- {failure['kind']} ({failure['engine']}, {failure['label']}) x{failure['count']}, "
            f"seed {failure['seed']} program {failure['index']}\n{failure['message']}\n"
            f"{failure['reproducer']}"
        )
    return "\n".join(lines)


def _check(summary: dict) -> None:
    bad = summary["crashes"] + summary["wrong_results"] + summary["internal_errors"]
    assert bad == 0, _failures(summary)
    assert summary["rejected"] <= summary["programs"] // 20, f"too many graphs rejected: {_failures(summary)}"


def test_differential_fuzz_ci_profile() -> None:
    summary = run(CI_SEED, CI_PROGRAMS, jobs=2, o0_every=2)
    assert summary["programs"] == CI_PROGRAMS
    _check(summary)


# Marked slow (skipped without --runslow, see tests/conftest.py) unless TC_FUZZ_LONG=1 asks for it.
def _slow_unless_asked(test: Callable[..., None]) -> Callable[..., None]:
    return test if os.environ.get("TC_FUZZ_LONG") == "1" else pytest.mark.slow(test)


@_slow_unless_asked
def test_differential_fuzz_long_profile(request: pytest.FixtureRequest) -> None:
    if os.environ.get("TC_FUZZ_LONG") != "1" and not request.config.getoption("--runslow", default=False):
        pytest.skip("long fuzzing: set TC_FUZZ_LONG=1 or pass --runslow")
    summary = run(int(os.environ.get("TC_FUZZ_SEED", "1")), LONG_PROGRAMS, jobs=2, o0_every=3)
    print(json.dumps({k: v for k, v in summary.items() if k != "distinct_failures"}, indent=1))
    _check(summary)
