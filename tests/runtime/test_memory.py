"""glibc's thresholds are raised once per process, unless TC_MALLOC_TUNING=0."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = "from tc.runtime.memory import keep_freed_memory; print(keep_freed_memory(), keep_freed_memory())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_thresholds_are_raised_once_or_left_alone() -> None:
    on = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert on.stdout.split() == ["True", "True"]
    off = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        check=True,
        env={"TC_MALLOC_TUNING": "0"},
    )
    assert off.stdout.split() == ["False", "False"]
