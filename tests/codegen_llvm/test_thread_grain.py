"""How many elements a loop needs before it takes a second thread: fewer when its body calls
math functions (codegen_llvm/kernel_body.py's thread_grain), where each element costs tens of
instructions."""

from __future__ import annotations

import re

import numpy as np

import tc
from tc import tensor as T
from tc.codegen_llvm.parallel import GRAIN, MIN_GRAIN


def _grains(f) -> set[int]:  # type: ignore[no-untyped-def]
    """The grain arguments of the function's calls to tc_parallel_for."""
    calls = re.findall(r"call i1 @\"tc_parallel_for\"\(.*, i64 (\d+)\)", f.dump("llvm"))
    return {int(grain) for grain in calls}


def test_arithmetic_keeps_the_full_grain_and_math_takes_a_smaller_one() -> None:
    x = T.vector("x", dtype="float32")
    assert _grains(tc.function([x], x * 2 + 1)) == {GRAIN}
    assert _grains(tc.function([x], T.tanh(x) * 2)) == {max(MIN_GRAIN, GRAIN // 9)}
    assert _grains(tc.function([x], T.exp(x) + T.sigmoid(x))) == {max(MIN_GRAIN, GRAIN // 17)}


def test_a_small_costly_loop_gives_the_same_bits_on_one_and_two_threads() -> None:
    """20 x 500 (a hidden layer over a minibatch): above the costly grain, below GRAIN."""
    x, b = T.matrix("x"), T.vector("b")
    h = T.tanh(x + b)
    f = tc.function([x, b], [h, 1 - h * h])
    rng = np.random.default_rng(3)
    xv, bv = rng.standard_normal((20, 500)), rng.standard_normal(500)
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(xv, bv)
        native.set_num_threads(2)
        two = f(xv, bv)
    finally:
        native.set_num_threads(2)
    for a, c in zip(one, two, strict=True):
        assert a.tobytes() == c.tobytes()
    np.testing.assert_allclose(two[0], np.tanh(xv + bv), rtol=1e-15, atol=1e-15)
