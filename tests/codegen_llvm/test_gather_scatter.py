"""tx.gather and tx.scatter_add: native code against numpy, and the index checks.

A bad index must never reach memory: the native code returns a status that
becomes a TcIndexError naming the op, its line, the axis, its size and the
index, and a failed call leaves every shared variable as it was.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tc
from tc import tensor as T
from tc.frontend.graph import make_apply
from tc.ir import parse_module, run_function
from tc.ir.errors import TcIndexError, TcShapeError, TcTypeError
from tc.ir.ops.indexing import Gather, ScatterAdd

SOURCE_DTYPES = ["float64", "float32", "int32", "uint8", "bool"]
INDEX_DTYPES = ["int64", "int32", "int8", "uint8"]


def gather(x: T.Variable, *indices: T.Variable) -> T.Variable:
    return make_apply(Gather, [x, *indices]).out


def scatter_add(base: T.Variable, updates: T.Variable, *indices: T.Variable) -> T.Variable:
    return make_apply(ScatterAdd, [base, updates, *indices]).out


@functools.cache
def compiled_gather(dtype: str, index_dtype: str, rank: int, k: int, index_rank: int):  # type: ignore[no-untyped-def]
    x = T.tensor(dtype, (False,) * rank, name="x")
    indices = [T.tensor(index_dtype, (False,) * index_rank, name=f"i{a}") for a in range(k)]
    return tc.function([x, *indices], gather(x, *indices))


@pytest.mark.parametrize("dtype", SOURCE_DTYPES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_gather_matches_numpy(dtype: str, data: st.DataObject) -> None:
    index_dtype = data.draw(st.sampled_from(INDEX_DTYPES))
    rank = data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, rank))
    index_rank = data.draw(st.integers(0, 2))
    shape = data.draw(hnp.array_shapes(min_dims=rank, max_dims=rank, min_side=1, max_side=4))
    x = data.draw(hnp.arrays(np.dtype(dtype), shape))
    if data.draw(st.booleans()):  # a strided source: every other element of a wider array
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    index_shape = data.draw(
        hnp.array_shapes(min_dims=index_rank, max_dims=index_rank, min_side=0, max_side=3)
    )
    signed = np.dtype(index_dtype).kind == "i"
    indices = [
        data.draw(
            hnp.arrays(np.dtype(index_dtype), index_shape, elements=st.integers(-n if signed else 0, n - 1))
        )
        for n in shape[:k]
    ]
    f = compiled_gather(dtype, index_dtype, rank, k, index_rank)
    result = f(x, *indices)
    expected = x[tuple(indices)]
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


def test_gather_broadcasts_static_unit_index_axes() -> None:
    x = T.matrix("x")
    rows = T.tensor("int64", (False, True), name="rows")  # a column of row numbers
    cols = T.lvector("cols")
    f = tc.function([x, rows, cols], gather(x, rows, cols))
    a = np.arange(20.0).reshape(4, 5)
    r, c = np.array([[0], [3], [-1]]), np.array([4, 0])
    np.testing.assert_array_equal(f(a, r, c), a[r, c])
    other = T.lvector("other")
    g = tc.function([x, cols, other], gather(x, cols, other))
    with pytest.raises(TcShapeError, match="tx.gather"):
        g(a, [0, 1], [0, 1, 2])  # `?` never stretches: the index lengths must agree


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int8"])
def test_scatter_add_accumulates_repeated_indices(dtype: str) -> None:
    base, updates = T.tensor(dtype, (False, False), name="base"), T.tensor(dtype, (False, False), name="u")
    i = T.lvector("i")
    f = tc.function([base, updates, i], scatter_add(base, updates, i))
    rng = np.random.default_rng(0)
    b = rng.integers(-5, 5, size=(4, 3)).astype(dtype)
    u = rng.integers(-5, 5, size=(6, 3)).astype(dtype)
    idx = np.array([0, 2, 0, -1, 2, 0])
    expected = b.copy()
    np.add.at(expected, (idx,), u)
    np.testing.assert_array_equal(f(b, u, idx), expected)
    np.testing.assert_array_equal(f(b.T.copy().T, u[:, ::-1], idx[::-1]), _add_at(b, idx[::-1], u[:, ::-1]))


def _add_at(base: np.ndarray, idx: np.ndarray, updates: np.ndarray) -> np.ndarray:
    out = base.copy()
    np.add.at(out, (idx,), updates)
    return out


@functools.cache
def compiled_scatter_add(dtype: str, rank: int, k: int, index_rank: int):  # type: ignore[no-untyped-def]
    base = T.tensor(dtype, (False,) * rank, name="base")
    updates = T.tensor(dtype, (False,) * (index_rank + rank - k), name="updates")
    indices = [T.tensor("int64", (False,) * index_rank, name=f"i{a}") for a in range(k)]
    return tc.function([base, updates, *indices], scatter_add(base, updates, *indices))


@pytest.mark.parametrize("dtype", ["float64", "int32"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_scatter_add_matches_numpy_add_at(dtype: str, data: st.DataObject) -> None:
    rank = data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, rank))
    index_rank = data.draw(st.integers(1, 2))
    shape = data.draw(hnp.array_shapes(min_dims=rank, max_dims=rank, min_side=1, max_side=4))
    index_shape = data.draw(hnp.array_shapes(min_dims=index_rank, max_dims=index_rank, min_side=0))
    small = st.integers(-100, 100)
    base = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=small))
    updates = data.draw(hnp.arrays(np.dtype(dtype), index_shape + shape[k:], elements=small))
    indices = [
        data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-n, n - 1))) for n in shape[:k]
    ]
    expected = base.copy()
    np.add.at(expected, tuple(indices), updates)
    f = compiled_scatter_add(dtype, rank, k, index_rank)
    np.testing.assert_array_equal(f(base, updates, *indices), expected)


def test_scatter_add_with_two_index_arrays() -> None:
    base = T.tensor3("base")
    updates, i, j = T.matrix("u"), T.lvector("i"), T.lvector("j")
    f = tc.function([base, updates, i, j], scatter_add(base, updates, i, j))
    b = np.zeros((2, 3, 4))
    u = np.arange(12.0).reshape(3, 4)
    i_, j_ = np.array([1, 1, -2]), np.array([2, 2, 0])
    expected = b.copy()
    np.add.at(expected, (i_, j_), u)
    np.testing.assert_array_equal(f(b, u, i_, j_), expected)


@pytest.mark.parametrize("bad", [3, -4, 100, -(2**40)])
def test_out_of_range_index_raises_index_error(bad: int) -> None:
    x, i = T.matrix("x"), T.lvector("i")
    f = tc.function([x, i], gather(x, i))
    a = np.ones((3, 2))
    with pytest.raises(TcIndexError) as info:
        f(a, [0, bad, 1])
    message = str(info.value)
    assert "tx.gather" in message and "test_gather_scatter.py" in message
    assert f"index {bad} is out of bounds for axis 0 with size 3" in message
    assert isinstance(info.value, IndexError) and isinstance(info.value, tc.TcIndexError)
    np.testing.assert_array_equal(f(a, [2, -3]), a[[2, -3]])  # the function still works


def test_second_axis_and_empty_axis_and_empty_index() -> None:
    x, i, j = T.matrix("x"), T.lvector("i"), T.ivector("j")
    f = tc.function([x, i, j], gather(x, i, j))
    with pytest.raises(TcIndexError, match="index 5 is out of bounds for axis 1 with size 2"):
        f(np.ones((3, 2)), [0, 1], np.array([1, 5], np.int32))
    with pytest.raises(TcIndexError, match="axis 0 with size 0"):
        f(np.ones((0, 2)), [0], np.array([0], np.int32))
    assert f(np.ones((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int32)).shape == (0,)


def test_scatter_add_checks_its_indices() -> None:
    base, u, i = T.vector("base"), T.vector("u"), T.lvector("i")
    f = tc.function([base, u, i], scatter_add(base, u, i))
    with pytest.raises(TcIndexError, match="tx.scatter_add.*index 4 is out of bounds for axis 0 with size 4"):
        f(np.zeros(4), np.ones(2), [1, 4])


def test_reference_semantics_raise_index_error_too() -> None:
    module = parse_module(
        """module {
  func @f(%x: tensor<3xf64>, %i: tensor<2xi64>) -> tensor<2xf64> {
    %0 = tx.gather %x, %i : tensor<3xf64>, tensor<2xi64> -> tensor<2xf64>
    return %0 : tensor<2xf64>
  }
}"""
    )
    function = module.function("f")
    (out,) = run_function(function, np.array([1.0, 2.0, 3.0]), np.array([-1, 0]))
    np.testing.assert_array_equal(out, [3.0, 1.0])
    message = r"tx.gather at \S+: index 3 is out of bounds for axis 0 with size 3"
    with pytest.raises(TcIndexError, match=message):
        run_function(function, np.array([1.0, 2.0, 3.0]), np.array([3, 0]))


def test_type_rules() -> None:
    x = T.matrix("x")
    with pytest.raises(TcTypeError, match="integer dtype"):
        gather(x, T.vector("f"))
    with pytest.raises(TcTypeError, match="3 index arrays for a source of rank 2"):
        gather(x, T.lvector("a"), T.lvector("b"), T.lvector("c"))
    with pytest.raises(TcTypeError, match="gathered shape"):
        scatter_add(x, T.tensor3("u"), T.lvector("i"))
    with pytest.raises(TcTypeError, match="dtype of the base"):
        scatter_add(x, T.fmatrix("u"), T.lvector("i"))
    with pytest.raises(TcTypeError, match="bool"):
        scatter_add(T.tensor("bool", (False,)), T.tensor("bool", (False,)), T.lvector("i"))


def _in_place(f: tc.runtime.CompiledFunction) -> list[object]:
    """What plan-buffers decided for each update of `f`."""
    return [op.attributes.get("in_place") for op in f.ir_function().body.ops if op.name == "tx.store"]


def test_failed_call_leaves_shared_state_unchanged() -> None:
    """An update that does not depend on the gather could be written in place before it runs."""
    w = tc.shared(np.ones((3, 4)), name="w")
    i = T.lvector("i")
    doubled = w * 2.0
    f = tc.function([i], [doubled.sum(), gather(w, i)], updates={w: doubled})
    assert _in_place(f) == [False]
    f([0, 2])
    np.testing.assert_array_equal(w.get_value(), 2 * np.ones((3, 4)))
    with pytest.raises(TcIndexError):
        f([0, 3])
    np.testing.assert_array_equal(w.get_value(), 2 * np.ones((3, 4)))


def test_in_place_stores_still_allowed_after_the_last_check() -> None:
    w = tc.shared(np.ones(4), name="w")
    v, i = T.vector("v"), T.lvector("i")
    f = tc.function([v, i], [], updates={w: w + gather(v, i).sum()})
    assert _in_place(f) == [True]
    f(np.ones(3), [1, 1])
    np.testing.assert_array_equal(w.get_value(), 3 * np.ones(4))
    with pytest.raises(TcIndexError):
        f(np.ones(3), [1, -5])
    np.testing.assert_array_equal(w.get_value(), 3 * np.ones(4))


def test_scalar_index_functions_report_index_errors() -> None:
    """All-scalar functions have fast call paths; an index check must still raise."""
    i = T.lscalar("i")
    f = tc.function([i], gather(T.constant(np.array([10.0, 20.0, 30.0])), i))
    assert f(1) == 20.0 and f(-1) == 30.0
    with pytest.raises(TcIndexError, match="index 3 is out of bounds"):
        f(3)


def test_each_check_names_its_own_op_and_axis() -> None:
    """Checks are numbered over every (op, axis) in program order; the error names the failing one."""
    x, i, j = T.matrix("x"), T.lvector("i"), T.lvector("j")
    rows = gather(x, i)  # axis 0 of x: check 0
    picked = gather(rows, i, j)  # axes 0 and 1 of rows: checks 1 and 2
    f = tc.function([x, i, j], picked)
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(f(a, [1, 0], [3, -4]), a[[1, 0]][[1, 0], [3, -4]])
    with pytest.raises(TcIndexError) as info:
        f(a, [0, 1], [1, 4])
    line = picked.owner.location.line  # type: ignore[union-attr]
    assert f"test_gather_scatter.py:{line}" in str(info.value)
    assert "index 4 is out of bounds for axis 1 with size 4" in str(info.value)


def test_index_errors_name_the_users_axis() -> None:
    """take along axis 1 gathers from a transposed view; the error said axis 0."""
    import tc
    from tc import tensor as T

    x, indices, v = T.dmatrix("x"), T.lvector("i"), T.dvector("v")
    take = tc.function([x, indices], T.take(x, indices, axis=1))
    with pytest.raises(TcIndexError, match="index 5 is out of bounds for axis 1 with size 3"):
        take(np.ones((2, 3)), np.array([0, 5]))
    pick = tc.function([x, v], x[:, T.argmax(v)])
    with pytest.raises(TcIndexError, match="index 4 is out of bounds for axis 1 with size 3"):
        pick(np.ones((2, 3)), np.arange(5.0))
