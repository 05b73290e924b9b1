"""Shared helpers for the benchmarks: timing, optional peers, ratio tables.

Timings never go into tests; they are printed here, always as ratios
against peers measured in the same process and run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def median_seconds(fn: Callable[[], Any], repeat: int = 7, warmup: int = 2, budget_s: float = 10.0) -> float:
    """Median wall time of fn(), after warm-up calls (compilation, caches) and, if it warmed
    up, once tc's optimised code has taken over."""
    for _ in range(warmup):
        fn()
    if warmup:
        settle()
    times: list[float] = []
    started = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - started > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def settle() -> None:
    """Wait until tc's code made so far runs optimised: tiered compilation answers the first
    calls with quick code while the optimised code is made in the background (tc/tiering.py),
    and a benchmark times the code that runs on."""
    tc = sys.modules.get("tc")
    if tc is not None:
        tc.finish_compiling()


def optional_import(name: str) -> Any | None:
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # a peer that is missing or broken is skipped, not fatal
        return None


def print_table(title: str, rows: list[tuple[str, float | None]], baseline: str = "tc") -> None:
    """One line per implementation: time and how many times slower than `baseline`."""
    base = dict(rows).get(baseline)
    print(f"\n{title}")
    print(f"  {'implementation':<22}{'time':>12}{'vs ' + baseline:>12}")
    for name, seconds in rows:
        if seconds is None:
            print(f"  {name:<22}{'n/a':>12}")
            continue
        ratio = f"{seconds / base:.2f}x" if base else "-"
        shown = f"{seconds * 1e3:>10.2f}ms" if seconds >= 1e-3 else f"{seconds * 1e6:>10.2f}us"
        print(f"  {name:<22}{shown}{ratio:>12}")


def machine_note() -> str:
    return f"cores: {os.cpu_count()}"
