"""Float sums stay accurate however many values they add, on any thread count.

Adding 10^7 float32 values one after another loses about 10^7 * 2^-24 of
the result (the sum of 10^7 float32 0.1s came out 998501.4); the blocked
sums of codegen_llvm/reduce.py must stay within a few ulps of math.fsum,
for whole arrays, rows, columns, the sums inside mean/var/softmax/logsumexp
and fused producers, give the same bits on one thread and on two, and agree
with constant folding (numpy's pairwise sums) to a few ulps.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.codegen_llvm.reduce_spread import SPREAD_AT
from tc.codegen_llvm.reduce_walk import BLOCK

RNG = np.random.default_rng(20261130)
ULPS = {"float32": 2.0**-24, "float64": 2.0**-53}


def _exact(values: np.ndarray) -> float:
    return math.fsum(values.astype(np.float64).ravel())


def _relative(got: object, want: np.ndarray) -> float:
    want = np.asarray(want, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - want) / np.abs(want)))


def _exact_sums(values: np.ndarray, axis: int) -> np.ndarray:
    return np.apply_along_axis(math.fsum, axis, values.astype(np.float64))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sum_and_mean_of_ten_million_tenths(dtype: str) -> None:
    x = T.vector("x", dtype=dtype)
    f = tc.function([x], [x.sum(), x.mean()])
    data = np.full(10**7, 0.1, dtype)
    total, mean = f(data)
    exact = _exact(data)
    tolerance = 1e-6 if dtype == "float32" else 1e-14
    assert abs(float(total) - exact) / exact <= tolerance
    assert abs(float(mean) - exact / data.size) / (exact / data.size) <= tolerance
    assert abs(float(total) - exact) / exact <= 8 * ULPS[dtype]  # a few ulps, like numpy's


@pytest.mark.parametrize("n", [1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK - 5, 1_000_003])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sums_across_block_boundaries(n: int, dtype: str) -> None:
    x = T.vector("x", dtype=dtype)
    f = tc.function([x], [x.sum(), x[::-1].sum(), x[::3].sum()])  # unit, negative, strided runs
    data = (RNG.random(n) + 0.5).astype(dtype)
    for got, view in zip(f(data), [data, data[::-1], data[::3]], strict=True):
        assert _relative(got, np.asarray(_exact(view))) <= 8 * ULPS[dtype]


def test_row_and_column_sums_of_a_large_float32_matrix() -> None:
    x = T.fmatrix("x")
    f = tc.function([x], [x.sum(axis=1), x.sum(axis=0), x.mean(axis=0), x.sum(), T.sum(x * x, axis=0)])
    data = (RNG.standard_normal((3000, 3000)) * 10 + 100).astype(np.float32)
    rows, columns, means, total, squares = f(data)
    assert _relative(rows, _exact_sums(data, 1)) <= 4e-7
    assert _relative(columns, _exact_sums(data, 0)) <= 4e-7  # numpy's own column sums: 3e-6
    assert _relative(means, _exact_sums(data, 0) / 3000) <= 4e-7
    assert _relative(total, np.asarray(_exact(data))) <= 4e-7
    assert _relative(squares, _exact_sums(data.astype(np.float64) ** 2, 0)) <= 1e-6


def test_tall_columns_and_middle_axes_of_float32() -> None:
    """Each output element takes 2.5 million contributions (numpy's float32 is off by 2%)."""
    x, y = T.fmatrix("x"), T.ftensor3("y")
    f = tc.function([x], x.sum(axis=0))
    tall = np.full((2_500_000, 4), 0.1, np.float32)
    assert _relative(f(tall), _exact_sums(tall, 0)) <= 1e-6
    g = tc.function([y], [y.sum(axis=(0, 2)), y.mean(axis=(0, 2), keepdims=True), y.sum(axis=1)])
    cube = (RNG.random((300, 7, 5000)) + 0.5).astype(np.float32)
    middle, middle_mean, inner = g(cube)
    wide = cube.astype(np.float64)
    assert _relative(middle, wide.sum(axis=(0, 2))) <= 4e-7
    assert _relative(middle_mean, wide.mean(axis=(0, 2), keepdims=True)) <= 4e-7
    assert _relative(inner, wide.sum(axis=1)) <= 4e-7


def test_sums_inside_var_softmax_logsumexp_and_fused_kernels() -> None:
    x = T.fmatrix("x")
    n = 1_000_000
    f = tc.function(
        [x],
        [
            T.var(x, axis=1),
            T.std(x),
            T.nnet.softmax(x)[:, :3],
            T.nnet.logsumexp(x, axis=1),
            T.sum(T.exp(x * 0.5), axis=1),
        ],
    )
    data = (RNG.standard_normal((2, n)) * 0.1 + 1.0).astype(np.float32)
    var, std, softmax, lse, fused = f(data)
    wide = data.astype(np.float64)
    assert _relative(var, wide.var(axis=1)) <= 1e-5  # a variance loses digits to the mean's rounding
    assert _relative(std, np.asarray(wide.std())) <= 1e-5
    shifted = np.exp(wide - wide.max(axis=1, keepdims=True))
    assert _relative(softmax, (shifted / shifted.sum(axis=1, keepdims=True))[:, :3]) <= 1e-6
    peak = wide.max(axis=1)
    assert _relative(lse, peak + np.log(np.exp(wide - peak[:, None]).sum(axis=1))) <= 1e-6
    assert _relative(fused, np.exp(wide * 0.5).sum(axis=1)) <= 1e-6


def test_results_are_bit_identical_on_one_and_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread count set before compiling (TC_NUM_THREADS) or on the loaded code."""
    data = (RNG.standard_normal((4, 2_500_000)) + 1.0).astype(np.float32)
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("TC_NUM_THREADS", threads)
        x = T.fmatrix("x")
        e = T.exp(x * 0.25)  # used twice: a kernel of its own, spread over the threads
        f = tc.function([x], [x.sum(), x.sum(axis=0), x.sum(axis=1), T.sum(e) + T.max(e), T.mean(e, axis=0)])
        results.append([r.tobytes() for r in f(data)])
        native = f._code_owner
        try:
            native.set_num_threads(1 if threads == "2" else 2)
            results.append([r.tobytes() for r in f(data)])
        finally:
            native.set_num_threads(int(threads))
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_folded_sums_agree_with_native_sums(dtype: str) -> None:
    values = np.full(10**6, 0.1, dtype)
    folded = tc.function([], [T.sum(T.constant(values)), T.mean(T.constant(values))])
    assert "tx.reduce" not in folded.dump("tir-opt")  # the sums were folded
    x = T.vector("x", dtype=dtype)
    native = tc.function([x], [x.sum(), x.mean()])
    exact = _exact(values)
    tolerance = 1e-6 if dtype == "float32" else 1e-14
    for got_folded, got_native, want in zip(folded(), native(values), [exact, exact / 10**6], strict=True):
        assert abs(float(got_folded) - float(got_native)) / want <= tolerance
        assert abs(float(got_native) - want) / want <= 8 * ULPS[dtype]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
def test_long_runs_spread_over_threads_give_one_threads_bits(dtype: str) -> None:
    """A run of at least reduce_spread.SPREAD_AT elements has its blocks computed on the
    pool's threads and added in block order: the bits of the one-thread loop."""
    x = T.vector("x", dtype=dtype)
    f = tc.function([x], [x.sum(), x.max(), T.sum(abs(x)) + T.sum(x * x)])
    n = SPREAD_AT * 3 + 777  # not a whole number of blocks
    data = RNG.integers(-1000, 1000, n).astype(dtype)
    if dtype.startswith("float"):
        data = data * np.array(0.37, dtype) + 0.5
    native = f._code_owner
    results = []
    for threads in (1, 2, 1):
        native.set_num_threads(threads)
        results.append([r.tobytes() for r in f(data)])
    assert results[0] == results[1] == results[2]
    if dtype.startswith("int"):
        wide = data.astype(np.int64)
        expected = [wide.sum(), wide.max(), np.abs(wide).sum() + (wide * wide).sum()]
        assert [int(r) for r in f(data)] == [int(e) for e in expected]  # sums of int32 are int64
    else:
        # The values cancel (they have both signs): the error is bounded by the sum of their
        # magnitudes, not by the sum's (which numpy's own float64 sum misses by several ulps).
        error = abs(float(f(data)[0]) - _exact(data))
        assert error <= 4 * ULPS[dtype] * _exact(np.abs(data))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_whole_matrix_norms_are_one_run_of_its_elements(dtype: str) -> None:
    """A shared matrix's L1 and L2 norms (a reduction of every axis of a contiguous buffer)
    walk its elements as one run, spread over the threads: the bits of the same values
    reduced as a vector, on one thread and on two; a transposed view takes the nest."""
    data = (RNG.standard_normal((300, 7, 40)) * 3).astype(dtype)  # rows shorter than a block
    matrix = tc.shared(data, name="W")
    vector = tc.shared(data.ravel(), name="v")

    def norms(w: T.TensorVariable) -> list[T.TensorVariable]:
        return [abs(w).sum(), (w**2).sum(), w.mean()]

    f = tc.function([], norms(matrix) + norms(vector) + [matrix.dimshuffle(2, 0, 1).sum()])
    native = f._code_owner
    results = []
    for threads in (1, 2):
        native.set_num_threads(threads)
        results.append([r.tobytes() for r in f()])
    assert results[0] == results[1]
    assert results[0][:3] == results[0][3:6]
    wide = data.astype(np.float64)
    l1, l2, mean, *_, transposed_sum = (float(r) for r in f())
    pairs = ((l1, np.abs(wide)), (l2, wide * wide), (mean * data.size, wide), (transposed_sum, wide))
    for got, values in pairs:
        assert abs(got - _exact(values)) <= 4 * ULPS[dtype] * _exact(np.abs(values))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_matrix_arguments_blocks_spread_over_threads_give_one_threads_bits(dtype: str) -> None:
    """A reduction of every axis of a matrix argument (reduce_spread.spread_row_blocks): each
    row's blocks computed by whichever thread takes the row, added in row and block order:
    the bits of one thread, and of the same values in a Fortran-ordered copy (rows strided);
    rows of one block, of three, and rows too long for a round's slots (each spread alone)."""
    m = T.matrix("m", dtype=dtype)
    f = tc.function([m], [m.sum(), abs(m).sum() + (m * m).sum(), m.max(), m.mean()])
    native = f._code_owner
    for shape in ((SPREAD_AT // 500 + 3, 500), (70, 3000), (2, 600_000)):
        data = (RNG.standard_normal(shape) * 3 + 0.5).astype(dtype)
        results = []
        for threads in (1, 2):
            native.set_num_threads(threads)
            results.append([r.tobytes() for r in f(data)])
        assert results[0] == results[1], shape
        assert [r.tobytes() for r in f(np.asfortranarray(data))] == results[0], shape
        wide = data.astype(np.float64)
        total, norms, peak, mean = (float(r) for r in f(data))
        assert abs(total - _exact(wide)) <= 4 * ULPS[dtype] * _exact(np.abs(wide))
        assert abs(norms - _exact(np.abs(wide)) - _exact(wide * wide)) <= 8 * ULPS[dtype] * norms
        assert peak == data.max() and abs(mean * data.size - total) <= 4 * ULPS[dtype] * abs(total) + 1e-300


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reductions_fused_into_one_walk_give_each_ones_bits(dtype: str) -> None:
    """Several members of one walk take each block together where their lanes fit the vector
    registers (AVX-512), else one after another (reduce_block._lanes_in_order): either way
    each member's lanes see its elements in the same order as alone."""
    data = (RNG.standard_normal((784, 500)) * 2).astype(dtype)
    w = tc.shared(data, name="W")
    members = [abs(w).sum(), (w**2).sum(), w.mean()]
    fused = tc.function([], members)
    assert len([op for op in fused.dump("tir-opt").splitlines() if "kernel.reduce" in op]) == 1
    alone = [tc.function([], member)().tobytes() for member in members]
    assert [r.tobytes() for r in fused()] == alone


def test_rows_spread_over_threads_give_one_threads_bits() -> None:
    """Row-wise reductions of at least SPREAD_AT elements run their rows on the pool's
    threads, each row reduced by one thread into its own slot; column-wise ones (also
    checked here) give each thread a range of columns."""
    m = T.fmatrix("m")
    rows = [m.sum(axis=1), m.max(axis=1), T.nnet.softmax(m), T.mean(m * m, axis=1)]
    f = tc.function([m], [*rows, m.sum(axis=0), T.mean(T.exp(m), axis=0), m.max(axis=0)])
    data = (RNG.standard_normal((SPREAD_AT // 300 + 7, 1500)) + 1.0).astype(np.float32)
    native = f._code_owner
    results = []
    for threads in (1, 2):
        native.set_num_threads(threads)
        results.append([r.tobytes() for r in f(data)])
    assert results[0] == results[1]
    sums, peaks = f(data)[:2]
    assert _relative(sums, data.astype(np.float64).sum(axis=1)) <= 4 * ULPS["float32"]
    assert (peaks == data.max(axis=1)).all()
    columns, _, column_peaks = f(data)[4:]
    assert _relative(columns, data.astype(np.float64).sum(axis=0)) <= 4 * ULPS["float32"]
    assert (column_peaks == data.max(axis=0)).all()


@pytest.mark.parametrize(
    "shape,axes",
    [
        ((300, 1500), (0,)),  # a matrix's column sums: two ranges of 752 and 748 columns
        ((3, 100, 1100), (0, 1)),  # two reduced axes outside the kept one
        ((40, 3, 1100), (0,)),  # a kept axis between: each range holds columns of every row
        ((70000, 1030), (0,)),  # many rows, a width that is no multiple of the ranges' 16
        ((0, 2000), (0,)),  # no rows: the identities
        ((2000, 0), (0,)),  # no columns
    ],
)
def test_columns_spread_over_threads_give_one_threads_bits(
    shape: tuple[int, ...], axes: tuple[int, ...]
) -> None:
    """Reductions that keep the innermost axis give each thread a contiguous range of
    columns (reduce_spread.spread_columns): float32 sums (in a float64 scratch), float64
    sums, means, maxima, int32 sums (into int64) and a product give one thread's bits."""
    x = T.tensor("float64", [False] * len(shape), name="x")
    x32, xi = T.cast(x, "float32"), T.cast(x * 100, "int32")
    outputs = [
        x32.sum(axis=axes),
        x.sum(axis=axes),
        T.mean(x32, axis=axes),
        x.max(axis=axes) if shape[0] else x.sum(axis=axes),
    ]
    outputs += [xi.sum(axis=axes), T.prod(1 + x * 1e-3, axis=axes)]
    f = tc.function([x], outputs)
    assert "reduce.columns" in f.dump("llvm")
    data = RNG.standard_normal(shape) + 0.5
    native = f._code_owner
    results = []
    for threads in (1, 2):
        native.set_num_threads(threads)
        results.append([r.tobytes() for r in f(data)])
    assert results[0] == results[1]
    sums32, sums64, means = f(data)[:3]
    np.testing.assert_allclose(
        sums32, data.astype(np.float32).astype(np.float64).sum(axis=axes), rtol=1e-6, atol=1e-3
    )
    np.testing.assert_allclose(sums64, data.sum(axis=axes), rtol=1e-12, atol=1e-9)
    if shape[0]:
        np.testing.assert_allclose(means, data.astype(np.float32).mean(axis=axes), rtol=1e-5, atol=1e-5)
        assert (f(data)[3] == data.max(axis=axes)).all()
    assert (f(data)[4] == (data * 100).astype(np.int32).sum(axis=axes, dtype=np.int64)).all()
