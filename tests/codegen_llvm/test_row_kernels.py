"""Kernels over rows x columns: a bias row or a per-row column broadcast against a matrix,
or a value per trailing row axes (an NCHW per-channel bias: rows (N, C), columns (H, W)).

They run a vectorised loop per row (spread over threads by element ranges);
any other layout takes the strided nest. Both must equal numpy.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import tc
import tc.tensor as T

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (37, 501), (300, 257), (0, 4), (4, 0)])
def test_bias_rows_and_max_columns_match_numpy(shape: tuple[int, int]) -> None:
    x, b, c = T.dmatrix("x"), T.dvector("b"), T.dcol("c")
    f = tc.function([x, b, c], [T.tanh(x + b), T.exp(x - c), x * b - c, T.sin(c + b)])
    a, bias, col = RNG.normal(size=shape), RNG.normal(size=shape[1]), RNG.normal(size=(shape[0], 1))
    got = f(a, bias, col)
    expected = [np.tanh(a + bias), np.exp(a - col), a * bias - col, np.sin(col + bias)]
    for value, want in zip(got, expected, strict=True):
        np.testing.assert_allclose(value, want, rtol=1e-14, atol=1e-300)


def test_three_axes_and_non_contiguous_operands() -> None:
    x, row = T.dtensor3("x"), T.dmatrix("row")
    f = tc.function([x, row], T.exp(x) * row)
    a, r = RNG.normal(size=(6, 7, 8)), RNG.normal(size=(7, 8))
    np.testing.assert_allclose(f(a, r), np.exp(a) * r, rtol=1e-14)
    # transposed and sliced operands take the strided nest
    np.testing.assert_allclose(f(a[:, :, ::-1], r.T.copy().T), np.exp(a[:, :, ::-1]) * r, rtol=1e-14)
    b = RNG.normal(size=(8, 7)).T
    np.testing.assert_allclose(f(a, b), np.exp(a) * b, rtol=1e-14)


@pytest.mark.parametrize("shape", [(7, 5, 3, 4), (1, 1, 1, 1), (2, 3, 0, 4), (50, 20, 12, 12)])
def test_per_channel_bias_and_other_trailing_row_operands(shape: tuple[int, ...]) -> None:
    x, b, m = T.ftensor4("x"), T.fvector("b"), T.fmatrix("m")
    bias = b.dimshuffle("x", 0, "x", "x")  # varies along C only
    plane = m.dimshuffle("x", 0, 1, "x")  # along C and H, broadcast along N and W
    f = tc.function([x, b, m], [T.tanh(x + bias), x * plane - bias])
    assert "kernel.rows" in f.dump("llvm")  # vectorised rows, not the strided nest
    a = RNG.normal(size=shape).astype(np.float32)
    vb, vm = RNG.normal(size=shape[1]).astype(np.float32), RNG.normal(size=shape[1:3]).astype(np.float32)
    want = [np.tanh(a + vb[None, :, None, None]), a * vm[None, :, :, None] - vb[None, :, None, None]]
    for got, expected in zip(f(a, vb, vm), want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=3e-6, atol=1e-6)
    # a reversed view of the input takes the strided nest, with the same numbers
    flipped = a[:, :, ::-1]
    got = f(flipped, vb, vm[:, ::-1].copy())[0]
    np.testing.assert_allclose(got, np.tanh(flipped + vb[None, :, None, None]), rtol=3e-6, atol=1e-6)


def test_huge_trig_arguments_fall_back_to_exact_math() -> None:
    x, b = T.dmatrix("x"), T.dvector("b")
    f = tc.function([x, b], T.sin(x + b))
    a = np.full((3, 70), 1e300)
    np.testing.assert_array_equal(f(a, np.zeros(70)), np.sin(a))


def test_thread_count_does_not_change_results() -> None:
    x, b = T.dmatrix("x"), T.dvector("b")
    f = tc.function([x, b], T.tanh(x + b) * T.exp(-x))
    a, bias = RNG.normal(size=(700, 300)), RNG.normal(size=300)
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(a, bias)
        native.set_num_threads(3)
        three = f(a, bias)
    finally:
        native.set_num_threads(2)
    assert one.tobytes() == three.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_rows_of_every_width_around_the_short_run_split(dtype: str) -> None:
    # Rows under control.SHORT_RUN elements run as blocks of elements (the max: masked vector
    # loops), longer ones row by row; a thread's range may start or end inside a row (301 rows
    # split over the cores), and a block inside one too.
    x = T.matrix("x", dtype=dtype)
    shifted = x - x.max(axis=1, keepdims=True)
    f = tc.function([x], [T.exp(shifted), x.min(axis=1)])
    for width in [1, 2, 7, 10, 15, 16, 17, 31, 32, 33, 63, 64, 65, 130]:
        a = RNG.normal(size=(301, width)).astype(dtype)
        soft, low = f(a)
        np.testing.assert_allclose(
            soft, np.exp(a - a.max(axis=1, keepdims=True)), rtol=4e-7 if dtype == "float32" else 1e-14
        )
        np.testing.assert_array_equal(low, a.min(axis=1))


@pytest.mark.parametrize("width", [3, 10, 31, 40, 200])
def test_row_max_and_min_propagate_nan_wherever_it_sits(width: int) -> None:
    x = T.fmatrix("x")
    f = tc.function([x], [x.max(axis=1), x.min(axis=1)])
    a = RNG.normal(size=(width, width)).astype("float32")
    a[np.arange(width), np.arange(width)] = np.nan  # row r has its nan at column r
    a[0] = -np.inf
    a[0, width // 2] = np.nan
    high, low = f(a)
    np.testing.assert_array_equal(high, a.max(axis=1))
    np.testing.assert_array_equal(low, a.min(axis=1))
    b = np.abs(a[1:])  # no nan in row 0 of this one
    b[0] = np.arange(width, dtype="float32")
    high, low = f(b)
    np.testing.assert_array_equal(high, b.max(axis=1))
    assert high[0] == width - 1 and low[0] == 0


def _loops_with(text: str, option: str) -> int:
    """How many loops of the LLVM IR `text` carry `option`: each loop is a distinct node listing
    its option nodes, which are uniqued (loops with the same option share one node)."""
    nodes = dict(re.findall(r"^(!\d+) = !\{ !\"(llvm\.loop\.[^}]*?) \}$", text, re.M))
    loops = re.findall(r"^!(\d+) = distinct !\{ !\1((?:, !\d+)*) \}$", text, re.M)
    return sum(any(nodes.get(ref) == option for ref in refs.split(", ")[1:]) for _, refs in loops)


def test_short_runs_carry_their_loop_options() -> None:
    # The options sit on distinct, self-referencing loop nodes that LLVM parsed and used.
    from tc.codegen_llvm.control import SHORT_RUNS, short_storing_runs

    x = T.fmatrix("x")
    f = tc.function([x], x - x.max(axis=1, keepdims=True))
    text = f.dump("llvm")
    # the max's short run reads under masks on every host; the subtraction's, which stores, only
    # where masked stores are cheap (AVX-512), else it takes one plain vector iteration at a time
    masked_stores = short_storing_runs() is SHORT_RUNS
    predicated, unrolled_once = (
        'llvm.loop.vectorize.predicate.enable", i32 1',
        'llvm.loop.interleave.count", i32 1',
    )
    assert _loops_with(text, predicated) == (2 if masked_stores else 1)
    assert _loops_with(text, unrolled_once) == (0 if masked_stores else 1)
    # the subtraction's short and long runs of columns and the max's short run
    assert text.count("!llvm.loop") == 3
    assert _loops_with(text, 'llvm.loop.interleave.count", i32 4') == 1
    assert "distinct !{" in text
    # a body that calls a math function runs short rows as blocks of elements (loops._short_rows):
    # a flat loop interleaved as the long rows' (one node for both), no short-run options
    text = tc.function([x], T.exp(x - x.max(axis=1, keepdims=True))).dump("llvm")
    assert _loops_with(text, predicated) == 1  # the max's
    assert _loops_with(text, unrolled_once) == 0
    assert text.count("!llvm.loop") == 3
    assert text.count('!"llvm.loop.interleave.count", i32 4') == 1


@pytest.mark.parametrize("width", [1, 7, 10, 31])
def test_short_rows_spread_row_column_and_bool_operands_across_blocks(width: int) -> None:
    # loops._short_rows: blocks of SHORT_ROWS_BLOCK elements start and end inside rows; a row
    # operand (bias), a column operand (per-row value), a scalar and a bool column each spread
    x, bias, mask = T.matrix("x"), T.vector("bias"), T.vector("mask", dtype="bool")
    per_row = x.sum(axis=1, keepdims=True)
    f = tc.function([x, bias, mask], T.switch(mask.dimshuffle(0, "x"), T.tanh(x * bias - per_row), 2.5))
    a, b = RNG.normal(size=(301, width)), RNG.normal(size=width)
    m = RNG.random(301) < 0.5
    want = np.where(m[:, None], np.tanh(a * b - a.sum(axis=1, keepdims=True)), 2.5)
    np.testing.assert_allclose(f(a, b, m), want, rtol=1e-14, atol=1e-12)  # (the sums round apart)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_long_runs_interleave_four_vector_iterations(dtype: str) -> None:
    # control.LONG_RUNS: the vectoriser left tanh's long body at one vector per iteration
    x = T.vector("x", dtype=dtype)
    f = tc.function([x], T.tanh(x))
    text = f.dump("llvm-opt")
    bodies = re.findall(r"^vector\.body[\w.]*:.*?^\s+br i1", text, re.S | re.M)
    tanh_body = max(bodies, key=len)  # (the others copy)
    assert tanh_body.count("store <") == 4
    values = np.linspace(-30, 30, 1001).astype(dtype)
    np.testing.assert_allclose(f(values), np.tanh(values), rtol=4 * np.finfo(dtype).eps)
