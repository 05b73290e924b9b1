"""tx.gather and tx.scatter_add on the GPU backend: run in the grid emulator against the CPU,
the index checks through the device's error word, and the PTX through ptxas."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_ptx.grid import EMULATED
from tc.codegen_ptx.launch import EmulatedDevice
from tc.codegen_ptx.program import STEP_BUILDERS, build_program
from tc.ir import Function
from tc.ir.errors import TcIndexError
from tc.ir.ops.indexing import Gather, ScatterAdd, index_checks

from . import harness

FLOATS = ["float32", "float64"]
INDEX_DTYPES = ["int32", "int64"]
RNG = np.random.default_rng(7)


def run_with_device(
    function: Function, args: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], EmulatedDevice]:
    """harness.run_emulated, also returning the device (to read its error word)."""
    module = EMULATED.new_module()
    program, _ = build_program(function, EMULATED, module)
    device = EmulatedDevice(module)
    inputs = [
        np.asarray(a, dtype=v.type.dtype.numpy)
        if v.type.rank == 0
        else device.upload(np.asarray(a, v.type.dtype.numpy))
        for a, v in zip(args, function.args, strict=True)
    ]
    results, _ = program.run(device, inputs, {})
    host = [np.asarray(r) if isinstance(r, np.ndarray) else device.download(r) for r in results]
    return host, device


def assert_matches_cpu(f, args: Sequence[np.ndarray], ops: Sequence[str]) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """The emulated program's results equal the CPU's; the fused IR has `ops`."""
    dump = f.dump()
    for op in ops:
        assert op in dump, dump
    expected = f(*args)
    expected = expected if isinstance(expected, list) else [expected]
    got, _ = harness.run_emulated(harness.fused(f), args)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        e = np.asarray(e)
        assert g.dtype == e.dtype and g.shape == e.shape
        if e.dtype.kind == "f":  # atomic adds of repeats may sum in another order
            tolerance = 1e-5 if e.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, e, rtol=tolerance, atol=tolerance)
        else:
            np.testing.assert_array_equal(g, e)
    return got


def float_matrix(dtype: str, name: str) -> T.Variable:
    return T.tensor(dtype, (False, False), name=name)


def index_vector(dtype: str, name: str) -> T.Variable:
    return T.tensor(dtype, (False,), name=name)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_label_pick_and_its_gradient(dtype: str, index_dtype: str) -> None:
    """The logistic-regression cost's `p[T.arange(n), y]`, and its gradient (a scatter_add)."""
    p, y, w = float_matrix(dtype, "p"), index_vector(index_dtype, "y"), T.tensor(dtype, (False,), name="w")
    picked = p[T.arange(y.shape[0]), y]
    f = tc.function([p, y, w], [picked, tc.grad((picked * w).sum(), p)])
    probs = RNG.random((6, 4)).astype(dtype)
    labels = np.array([0, 3, 1, 3, -1, 2], index_dtype)
    weights = RNG.random(6).astype(dtype)
    picked_value, gradient = assert_matches_cpu(f, [probs, labels, weights], ["tx.gather", "tx.scatter_add"])
    np.testing.assert_array_equal(picked_value, probs[np.arange(6), labels])
    expected = np.zeros_like(probs)
    np.add.at(expected, (np.arange(6), labels), weights)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax_nll_and_its_gradient(dtype: str) -> None:
    """The whole cost: log-softmax rows picked by labels (needs the reductions on the device)."""
    from tc.codegen_ptx import steps  # noqa: F401  (registers every step)
    from tc.ir.ops.reduce import Reduce

    if Reduce not in STEP_BUILDERS:
        pytest.skip("tx.reduce has no device step yet")
    x, y = float_matrix(dtype, "x"), T.lvector("y")
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - T.log(T.exp(shifted).sum(axis=1, keepdims=True))
    cost = -T.mean(log_p[T.arange(y.shape[0]), y])
    f = tc.function([x, y], [cost, tc.grad(cost, x)])
    args = [RNG.standard_normal((5, 3)).astype(dtype), np.array([2, 0, 1, 1, -3])]
    assert_matches_cpu(f, args, ["tx.gather", "tx.scatter_add"])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_embedding_lookup_and_gradient_with_repeats(dtype: str, index_dtype: str) -> None:
    """`W[idx]` with a (batch, sequence) index matrix; repeated rows accumulate in the gradient."""
    W = float_matrix(dtype, "W")
    idx = T.tensor(index_dtype, (False, False), name="idx")
    g = T.tensor(dtype, (False, False, False), name="g")
    rows = W[idx]
    f = tc.function([W, idx, g], [rows, tc.grad((rows * g).sum(), W)])
    table = RNG.standard_normal((7, 5)).astype(dtype)
    tokens = np.array([[0, 3, 3, -1], [6, 3, -7, 2], [3, 3, 3, 3]], index_dtype)
    upstream = RNG.standard_normal((3, 4, 5)).astype(dtype)
    looked_up, gradient = assert_matches_cpu(f, [table, tokens, upstream], ["tx.gather", "tx.scatter_add"])
    np.testing.assert_array_equal(looked_up, table[tokens])
    expected = np.zeros_like(table)
    np.add.at(expected, tokens, upstream)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-5)


def test_gather_from_a_transposed_view_with_broadcast_indices() -> None:
    """A strided source, and index arrays broadcast against each other (a column and a row)."""
    x = T.matrix("x")
    rows = T.tensor("int64", (False, True), name="rows")
    cols = T.ivector("cols")
    f = tc.function([x, rows, cols], [x.T[cols], x[rows, cols]])
    a = np.arange(20.0).reshape(4, 5)
    r, c = np.array([[0], [3], [-1]]), np.array([4, 0, -2], np.int32)
    transposed, crossed = assert_matches_cpu(f, [a, r, c], ["tx.gather"])
    np.testing.assert_array_equal(transposed, a.T[c])
    np.testing.assert_array_equal(crossed, a[r, c])


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "float32"])
def test_inc_subtensor_adds_at_repeated_indices(dtype: str) -> None:
    """Integer and float scatter-adds into a base that is not zero."""
    x, y, i = float_matrix(dtype, "x"), float_matrix(dtype, "y"), T.ivector("i")
    f = tc.function([x, y, i], T.inc_subtensor(x[i], y))
    base = RNG.integers(-5, 5, (4, 3)).astype(dtype)
    updates = RNG.integers(-5, 5, (5, 3)).astype(dtype)
    positions = np.array([1, -3, 0, 3, 1], np.int32)
    (got,) = assert_matches_cpu(f, [base, updates, positions], ["tx.scatter_add"])
    expected = base.copy()
    np.add.at(expected, positions, updates)
    np.testing.assert_array_equal(got, expected)


def test_empty_index_arrays() -> None:
    W, i = T.matrix("W"), T.lvector("i")
    rows = W[i]
    f = tc.function([W, i], [rows, tc.grad(rows.sum(), W)])
    table = RNG.random((3, 2))
    looked_up, gradient = assert_matches_cpu(f, [table, np.zeros(0, np.int64)], ["tx.gather"])
    assert looked_up.shape == (0, 2)
    np.testing.assert_array_equal(gradient, np.zeros((3, 2)))


def checks_of(f) -> list[tuple[object, int]]:  # type: ignore[no-untyped-def]
    return [(type(op), axis) for op, axis in index_checks(harness.fused(f))]


def assert_error_word(f, args: Sequence[np.ndarray], check: int, bad: int, size: int) -> None:  # type: ignore[no-untyped-def]
    """The CPU raises for `bad` on axis size `size`; the device records check `check` in its word."""
    with pytest.raises(TcIndexError, match=f"index {bad} is out of bounds for axis \\d+ with size {size}"):
        f(*args)
    _, device = run_with_device(harness.fused(f), args)
    word = device.download(device.error_word)
    assert word.tolist() == [check + 1, bad, size, 0]


@pytest.mark.parametrize("bad", [4, -5, 100])
def test_bad_label_sets_the_error_word(bad: int) -> None:
    """Two gathers: the second's axis-1 index is check 2 (checks 0, 1, 2 in program order)."""
    x, i, y = T.matrix("x"), T.lvector("i"), T.ivector("y")
    f = tc.function([x, i, y], [x[i], x[T.arange(y.shape[0]), y]])
    assert checks_of(f) == [(Gather, 0), (Gather, 0), (Gather, 1)]
    a = RNG.random((3, 4))
    labels = np.array([0, 1, bad], np.int32)
    assert_error_word(f, [a, np.array([2, -3]), labels], check=2, bad=bad, size=4)


def test_bad_embedding_row_sets_the_error_word_once() -> None:
    """The lookup (check 0) fails first; its gradient's scatter-add (check 1) then fails too,
    but the word keeps the first failure."""
    W, idx, g = T.matrix("W"), T.lmatrix("idx"), T.tensor3("g")
    f = tc.function([W, idx, g], tc.grad((W[idx] * g).sum(), W))
    assert checks_of(f) == [(Gather, 0), (ScatterAdd, 0)]
    tokens = np.array([[0, 1], [2, -9]])
    assert_error_word(f, [RNG.random((5, 2)), tokens, RNG.random((2, 2, 2))], check=0, bad=-9, size=5)


def test_bad_scatter_index_sets_the_error_word() -> None:
    W, i, j, u = T.matrix("W"), T.lvector("i"), T.ivector("j"), T.matrix("u")
    f = tc.function([W, i, j, u], [W[i], T.inc_subtensor(W[j], u)])
    assert checks_of(f) == [(Gather, 0), (ScatterAdd, 0)]
    args = [RNG.random((3, 2)), np.array([0, -1]), np.array([1, 3, 0], np.int32), RNG.random((3, 2))]
    assert_error_word(f, args, check=1, bad=3, size=3)


def test_good_indices_leave_the_error_word_zero() -> None:
    W, i = T.matrix("W"), T.lvector("i")
    f = tc.function([W, i], W[i])
    (rows,), device = run_with_device(harness.fused(f), [np.eye(3), np.array([-3, 2, 0])])
    np.testing.assert_array_equal(rows, np.eye(3)[[-3, 2, 0]])
    assert device.download(device.error_word).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("architecture", ["sm_80", "sm_90"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8"])
def test_ptx_assembles(architecture: str, dtype: str) -> None:
    harness.needs_ptxas()
    W, i = float_matrix(dtype, "W"), T.ivector("i")
    u = float_matrix(dtype, "u")
    f = tc.function([W, u, i], [W[i], T.inc_subtensor(W[i], u)])
    ptx = harness.ptx_of(harness.fused(f), architecture)  # assembled by ptxas
    atomics = set(re.findall(r"atom\.[\w.]+", ptx))
    assert any(".cas.b64" in a for a in atomics), atomics  # the error word
    if dtype.startswith("float"):
        assert any(a.endswith(f".add.f{dtype[5:]}") for a in atomics), atomics
