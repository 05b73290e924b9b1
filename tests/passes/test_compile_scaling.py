"""Compile work grows linearly with the length of a graph.

Long chains (unrolled recurrences, generated models) used to take minutes:
passes that rescanned the block per op, and LLVM spending superlinear time
on one huge fused loop. These tests count work deterministically, never
time it: Python function calls made while compiling (cProfile's count, which
a quadratic pass or lowering blows up) and the size of the LLVM input, for
chains of 400 and 1600 ops; 4x the ops may cost at most ~4.5x the work.
`bench/compile_scaling.py` prints the seconds.
"""

from __future__ import annotations

import cProfile
import pstats
import sys

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.ir.ops.kernel import KernelElementwise
from tc.passes.fuse import MAX_KERNEL_OPS
from tc.runtime import CompiledFunction

SMALL, LARGE = 400, 1600
MAX_RATIO = 4.5


def chain(kind: str, ops: int):  # type: ignore[no-untyped-def]
    """x -> `ops` elementwise ops: tanh(y * 1.01 + 0.1) steps, or y * 1.01 + 0.1 steps."""
    x = T.dvector("x")
    y = x
    if kind == "tanh":
        for _ in range(ops // 3):
            y = T.tanh(y * 1.01 + 0.1)
    else:
        for _ in range(ops // 2):
            y = y * 1.01 + 0.1
    return x, y


def reference(kind: str, ops: int, x: np.ndarray) -> np.ndarray:
    y = x
    if kind == "tanh":
        for _ in range(ops // 3):
            y = np.tanh(y * 1.01 + 0.1)
    else:
        for _ in range(ops // 2):
            y = y * 1.01 + 0.1
    return y


@pytest.fixture(autouse=True)
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TC_CACHE", "0")  # the work measured must include LLVM's input


def compile_counting_calls(kind: str, ops: int) -> tuple[CompiledFunction, int]:
    x, y = chain(kind, ops)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        f = tc.function([x], y)
    finally:
        profiler.disable()
    return f, pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["tanh", "affine"])
def test_compile_work_is_linear_in_chain_length(kind: str) -> None:
    compile_counting_calls(kind, 30)  # imports and one-time set-up are not the chain's work
    small, small_calls = compile_counting_calls(kind, SMALL)
    large, large_calls = compile_counting_calls(kind, LARGE)
    assert large_calls <= MAX_RATIO * small_calls, (small_calls, large_calls)
    small_llvm, large_llvm = len(small.dump("llvm")), len(large.dump("llvm"))
    assert large_llvm <= MAX_RATIO * small_llvm, (small_llvm, large_llvm)


def test_long_chains_become_bounded_kernels() -> None:
    """LLVM's time per loop grows faster than its length: fusion stops at MAX_KERNEL_OPS."""
    x, y = chain("affine", 3 * MAX_KERNEL_OPS)
    kernels = [op for op in tc.function([x], y).ir_function().body.ops if isinstance(op, KernelElementwise)]
    assert len(kernels) >= 3
    for kernel in kernels:
        body = [op for op in kernel.body.block.ops if op.name not in ("tx.constant", "kernel.yield")]
        assert len(body) <= MAX_KERNEL_OPS


@pytest.mark.parametrize("kind", ["tanh", "affine"])
def test_3000_op_chain_compiles_and_matches_numpy(kind: str) -> None:
    """No recursion proportional to the graph depth anywhere (Python's default limit)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        x, y = chain(kind, 3000)
        f = tc.function([x], y)
    finally:
        sys.setrecursionlimit(limit)
    data = np.random.default_rng(0).normal(size=1001)
    np.testing.assert_allclose(f(data), reference(kind, 3000, data), rtol=1e-12)
