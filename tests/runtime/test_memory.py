"""Native memory: glibc's thresholds are raised once per process (unless
TC_MALLOC_TUNING=0), and compiled code is freed with the last function using it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import tc
from tc import tensor as T

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


# -- compiled code is freed with its last function -------------------------------------------
#
# Each check runs in a fresh interpreter, so the heap it measures holds nothing of other tests.
# Before the fix every compiled function kept about 125 KiB of native memory (llvmlite never
# freed the optimisation pipeline, and functions lived in reference cycles), so 200 functions
# grew RSS by about 25 MiB and 600 cached loads of a scalar function by 65 MiB.

CHURN = """
import gc, os, sys
import numpy as np
import tc
import tc.codegen_llvm.jit as jit
from tc import tensor as T

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

count, kind = int(sys.argv[1]), sys.argv[2]
x = T.dvector("x") if kind == "distinct" else T.dscalar("x")
argument = np.ones(4) if kind == "distinct" else 1.5

def compile_call_drop(k):
    tc.function([x], x * k)(argument)

for k in range(50):  # warm-up: LLVM's and the allocator's one-time growth
    compile_call_drop(-1 - k if kind == "distinct" else 3)
gc.collect()
start, compiled = rss_mib(), jit.compile_count
for k in range(count):
    compile_call_drop(k if kind == "distinct" else 3)
gc.collect()
print(rss_mib() - start, jit.compile_count - compiled)
"""


def _churn(tmp_path: Path, count: int, kind: str) -> tuple[float, int]:
    """RSS growth (MiB) and native compilations over `count` compile-call-drop rounds."""
    env = dict(os.environ, TC_CACHE_DIR=str(tmp_path), TC_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", CHURN, str(count), kind], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    growth, compiled = done.stdout.split()
    return float(growth), int(compiled)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_compiling_and_dropping_functions_stays_flat(tmp_path: Path) -> None:
    # 20 MiB per 2,000 functions (the slow test's bound), plus 4 MiB for noise
    # in so short a run; measured: about 3 MiB.
    growth, compiled = _churn(tmp_path, 200, "distinct")
    assert compiled >= 200
    assert growth < 6, f"RSS grew {growth:.1f} MiB over 200 compiled functions"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_two_thousand_functions_stay_flat(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not request.config.getoption("--runslow", default=False):
        pytest.skip("compiles 2,000 functions (minutes); run with --runslow")
    growth, compiled = _churn(tmp_path, 2000, "distinct")
    assert compiled >= 2000
    assert growth < 20, f"RSS grew {growth:.1f} MiB over 2,000 compiled functions"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_loading_a_cached_function_again_and_again_stays_flat(tmp_path: Path) -> None:
    # A scalar function: each load maps the cached object and JIT-compiles the CPython entry.
    growth, compiled = _churn(tmp_path, 600, "cached")
    assert compiled <= 600  # the entries only: the function itself came from the cache
    assert growth < 6, f"RSS grew {growth:.1f} MiB over 600 loads of one cached function"


def test_functions_die_with_their_last_reference() -> None:
    """No reference cycle: native code goes when the function does, not at the next
    full collection (which native memory does nothing to hasten)."""
    for variable, argument in ((T.dvector("v"), np.ones(3)), (T.dscalar("s"), 1.0)):
        built = tc.function([variable], variable * 2)  # a scalar one gets a native entry too
        built(argument)
        code = weakref.ref(built._code_owner)
        gc.disable()
        try:
            del built
            assert code() is None
        finally:
            gc.enable()


HELD_ENTRY = """
import numpy as np
import tc
from tc import tensor as T

s = T.dscalar("s")
f = tc.function([s], s * 2)
entry = f.__call__
del f
import gc; gc.collect()
assert float(entry(1.5)) == 3.0  # the native entry
assert float(entry(np.array(2.0))) == 4.0  # its fallback, the general path
print("ok")
"""


def test_an_entry_held_without_its_function_still_works() -> None:
    done = subprocess.run([sys.executable, "-c", HELD_ENTRY], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
