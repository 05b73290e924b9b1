"""The parser fuzzer: mutated .tx and .tir inputs end in success or a located TcError, in time.

The mutations and the campaign are `mutators.py`'s. By default a short campaign
runs (a few hundred mutants, seconds); `TC_FUZZ_LONG=1` (or `--runslow`) runs
the long one and prints its counts. `TC_FUZZ_SEED` picks another campaign.
A failure prints the mutant; `mutators.mutant_for(seed_corpus(), SEED, INDEX)`
rebuilds it.
"""

from __future__ import annotations

import json
import os

import pytest
from mutators import Report, campaign

SHORT = 250
LONG = 5000
SEED = int(os.environ.get("TC_FUZZ_SEED", "0"))
# Marked slow unless asked for by the environment, so that either switch runs it.
LONG_MARKS = [] if os.environ.get("TC_FUZZ_LONG") else [pytest.mark.slow]


def _check(report: Report) -> None:
    shown = "\n\n".join(str(f) for f in report.failures[:10])
    assert not report.failures, f"{len(report.failures)} mutant(s) failed:\n\n{shown}\n\n{report.summary()}"


def test_short_campaign() -> None:
    report = campaign(SHORT, SEED)
    assert report.tried == SHORT
    assert report.counts["accepted"] and report.counts["rejected"], report.summary()  # both paths ran
    _check(report)


@pytest.mark.parametrize("count", [pytest.param(LONG, marks=LONG_MARKS)])
def test_long_campaign(count: int, request: pytest.FixtureRequest) -> None:
    if not (os.environ.get("TC_FUZZ_LONG") or request.config.getoption("--runslow", default=False)):
        pytest.skip("the long fuzz campaign runs with TC_FUZZ_LONG=1 or --runslow")
    report = campaign(count, SEED + 1)
    print(json.dumps(report.summary(), indent=2))
    _check(report)
