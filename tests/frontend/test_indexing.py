"""Basic indexing (`x[...]`): types, numpy semantics (native code and the reference), errors.

Slices clamp as in Python (out-of-range, negative and empty bounds give
numpy's answers); an integer index out of range is a TcIndexError raised
before any native code runs.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tc
from tc import tensor as T
from tc.ir import parse_module, print_module
from tc.ir.errors import TcCompilationError, TcIndexError, TcTypeError
from tc.ir.ops.shape import Subtensor


def test_types_follow_numpy() -> None:
    x = T.matrix("x")
    s = T.tensor("float64", (4, 6), name="s")
    i = T.lscalar("i")
    assert x[2].type.shape == (None,)
    assert x[:, 1:-1:2].type.shape == (None, None)
    assert s[1:3].type.shape == (2, 6)
    assert s[::-1, 1::2].type.shape == (4, 3)
    assert s[i].type.shape == (6,)
    assert s[i : i + 2].type.shape == (None, 6)
    assert s[None, 1].type.shape == (1, 6)
    assert s[..., 0].type.shape == (4,)
    assert s[1, ..., None].type.shape == (6, 1)
    assert x.shape[0].type.shape == ()
    assert x[:] is x  # nothing indexed, nothing built


def test_spec_is_readable_ir() -> None:
    x, i = T.matrix("x"), T.iscalar("i")
    out = x[i * 2 : (i + 1) * 2, ::-1]
    assert out.owner.op_class is Subtensor
    assert out.owner.attributes["spec"] == ("$:$", "::-1")
    f = tc.function([x, i], out)
    text = f.dump("tir")
    assert "tx.subtensor" in text and '{spec = ["$:$", "::-1"]}' in text
    assert print_module(parse_module(text)) == text


def test_constant_index_out_of_a_static_range_fails_when_building() -> None:
    s = T.tensor("float64", (4, 6), name="s")
    with pytest.raises(TcIndexError, match="index 4 is out of bounds for axis 0 with size 4"):
        s[4]
    with pytest.raises(TcIndexError, match="too many indices"):
        s[1, 2, 3]
    with pytest.raises(TcIndexError, match="step"):
        s[::0]
    with pytest.raises(TcIndexError, match="integer"):
        s[1.5]
    with pytest.raises(TcIndexError, match="integer scalar"):
        s[T.dscalar("d")]
    with pytest.raises(TcTypeError, match="iterate"):
        list(T.vector("v"))
    assert len(list(s)) == 4


@functools.cache
def sliced(step: int):  # type: ignore[no-untyped-def]
    x, a, b = T.matrix("x"), T.lscalar("a"), T.iscalar("b")
    return tc.function([x, a, b], [x[a:b:step], x[a::step, b:], x[:b, a]])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(0, 7),
    a=st.integers(-10, 10),
    b=st.integers(-10, 10),
    step=st.sampled_from([1, 2, 3, -1, -2]),
)
def test_symbolic_bounds_clamp_like_numpy(rows: int, a: int, b: int, step: int) -> None:
    x = np.arange(rows * 3, dtype=np.float64).reshape(rows, 3)
    f = sliced(step)
    in_range = -3 <= a < 3
    if not in_range:
        with pytest.raises(TcIndexError, match="out of bounds for axis 1 with size 3"):
            f(x, a, b)
        return
    first, second, third = f(x, a, b)
    np.testing.assert_array_equal(first, x[a:b:step])
    np.testing.assert_array_equal(second, x[a::step, b:])
    np.testing.assert_array_equal(third, x[:b, a])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_constant_specs_on_strided_arguments(data: st.DataObject) -> None:
    shape = data.draw(st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)))
    base = np.arange(np.prod(shape) * 2, dtype=np.float64).reshape(shape[0], shape[1], 2 * shape[2])
    x = base[:, ::-1, ::2]  # a strided argument
    key = []
    for n in shape:
        if data.draw(st.booleans()):
            key.append(data.draw(st.integers(-n, n - 1)))
        else:
            start = data.draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
            stop = data.draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
            step = data.draw(st.sampled_from([None, 1, 2, -1, -3]))
            key.append(slice(start, stop, step))
    v = T.tensor("float64", (None, None, None), name="v")
    f = tc.function([v], v[tuple(key)] * 1.0)
    np.testing.assert_array_equal(f(x), x[tuple(key)])


def test_shape_entries_and_negative_indices() -> None:
    x = T.matrix("x")
    f = tc.function([x], [x.shape[0], x.shape[-1], x[-1], x[-2, -1], x[None, ..., 1]])
    a = np.arange(12.0).reshape(4, 3)
    n, m, last, corner, column = f(a)
    assert n == 4 and m == 3
    np.testing.assert_array_equal(last, a[-1])
    assert corner == a[-2, -1]
    np.testing.assert_array_equal(column, a[None, ..., 1])


def test_index_out_of_range_raises_and_changes_nothing() -> None:
    data = tc.shared(np.arange(6.0).reshape(3, 2), name="data")
    total = tc.shared(np.zeros(2), name="total")
    i = T.lscalar("i")
    f = tc.function([i], data[i], updates=[(total, total + data[i])])
    np.testing.assert_array_equal(f(-1), [4.0, 5.0])
    np.testing.assert_array_equal(total.get_value(), [4.0, 5.0])
    for bad in (3, -4, 10**6):
        with pytest.raises(
            TcIndexError, match=r"tx.subtensor at .*test_indexing.py:\d+.*index -?\d+ is out of"
        ):
            f(bad)
    np.testing.assert_array_equal(total.get_value(), [4.0, 5.0])


def test_scalar_functions_check_indices_too() -> None:
    # all arguments and results are scalars: the fast call paths must still check
    i = T.lscalar("i")
    f = tc.function([i], T.arange(10)[i] * 2)
    assert f(3) == 6 and f(-1) == 18
    with pytest.raises(TcIndexError):
        f(10)


def test_sizes_from_float_data_are_refused_when_compiling() -> None:
    x = T.vector("x")
    n = T.cast(x.sum(), "int64")
    with pytest.raises(TcCompilationError, match="tx.subtensor"):
        tc.function([x], x[:n])


def test_indices_of_every_integer_dtype() -> None:
    x = T.vector("x")
    scalars = [T.scalar(f"i{k}", dtype=d) for k, d in enumerate(["int8", "int16", "int32", "uint8"])]
    f = tc.function([x, *scalars], [x[s] for s in scalars])
    a = np.arange(300.0)
    assert [float(r) for r in f(a, -3, 200, 7, 250)] == [297.0, 200.0, 7.0, 250.0]


def test_integer_array_indices_go_to_advanced_indexing() -> None:
    x = T.matrix("x")
    try:
        out = x[T.arange(x.shape[0]), T.ivector("y")]
    except TcTypeError as err:  # advanced indexing is another module; it may not be there
        assert "not available" in str(err)
        return
    assert out.ndim == 1


def test_indices_computed_from_data_are_gathered_and_checked() -> None:
    x, v, i = T.tensor3("x"), T.vector("v"), T.lscalar("i")
    k = T.argmax(v)
    f = tc.function([x, v, i], [x[k], x[:, k], x[1, k, ::-1], x[None, i, k], x[:, k + 0, k], x[k, i, 1:]])
    a = np.arange(24.0).reshape(2, 3, 4)
    expected = [a[1], a[:, 1], a[1, 1, ::-1], a[None, 1, 1], a[:, 1, 1], a[1, 1, 1:]]
    for got, want in zip(f(a, np.array([0.0, 5.0, 1.0]), 1), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert "tx.gather" in f.dump("tir-opt")
    with pytest.raises(TcIndexError, match="index 2 is out of bounds for axis 0 with size 2"):
        f(a, np.array([0.0, 1.0, 9.0]), 1)
    x2 = T.matrix("x2")
    with pytest.raises(TcCompilationError, match="tx.subtensor"):  # a slice bound sizes the result
        tc.function([x2, v], x2[: T.argmax(v)])


def test_inc_and_set_through_gathered_indices() -> None:
    x, v, i = T.matrix("x"), T.vector("v"), T.lscalar("i")
    k = T.argmax(v)
    outputs = [
        T.inc_subtensor(x[k], 1.0),
        T.inc_subtensor(x[:, k], 1.0),
        T.set_subtensor(x[1:, k], 7.0),
        T.set_subtensor(x[i, k], -1.0),
        T.inc_subtensor(x[:, k], x[0, :2]),
    ]
    a = np.arange(6.0).reshape(2, 3)
    expected = [a.copy() for _ in outputs]
    expected[0][1] += 1
    expected[1][:, 1] += 1
    expected[2][1:, 1] = 7
    expected[3][1, 1] = -1
    expected[4][:, 1] += a[0, :2]
    got = tc.function([x, v, i], outputs)(a, np.array([0.0, 3.0, 1.0]), 1)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_set_through_a_gathered_index_is_exact() -> None:
    x, v = T.matrix("x"), T.vector("v")
    f = tc.function([x, v], T.set_subtensor(x[:, T.argmax(v)], 0.3))
    a = np.full((2, 3), np.inf)
    a[0, 0] = 0.1
    np.testing.assert_array_equal(
        f(a, np.array([0.0, 3.0, 1.0])), [[0.1, 0.3, np.inf], [np.inf, 0.3, np.inf]]
    )
    with pytest.raises(TcIndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        f(a, np.array([1.0, 1.0, 1.0, 5.0]))


@pytest.mark.parametrize("value", [0.5, 2.0, np.array([2.5]), T.dscalar("d")], ids=repr)
def test_inc_and_set_subtensor_refuse_a_lossy_value(value) -> None:  # type: ignore[no-untyped-def]
    """Theano refuses the downcast; truncating 0.5 to 0 (or 2.7 to 2) silently was a wrong answer."""
    x = T.ivector("x")
    i = T.lscalar("i")
    with pytest.raises(tc.TcTypeError, match="x holds int32 .* would lose values; cast it first"):
        T.inc_subtensor(x[i], value)
    with pytest.raises(tc.TcTypeError, match="set_subtensor: x holds int32"):
        T.set_subtensor(x[0:1], value)
    with pytest.raises(tc.TcTypeError, match="inc_subtensor: x holds int32"):
        T.inc_subtensor(x[T.lvector("k")], value)


def test_inc_and_set_subtensor_take_values_that_fit() -> None:
    x = T.ivector("x")
    f = tc.function([x], [T.inc_subtensor(x[1], 2), T.set_subtensor(x[0:1], T.cast(2.7, "int32"))])
    added, written = f(np.array([1, 1, 1], np.int32))
    np.testing.assert_array_equal(added, [1, 3, 1])
    np.testing.assert_array_equal(written, [2, 1, 1])
    y = T.fvector("y")
    g = tc.function([y], T.set_subtensor(y[0:1], 2.7))  # a Python float fits any float x, as in Theano
    assert g(np.zeros(2, np.float32))[0] == np.float32(2.7)
