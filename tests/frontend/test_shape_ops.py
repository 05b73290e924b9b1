"""reshape, flatten, concatenate, stack, arange, alloc, zeros/ones(_like), fill, inc/set_subtensor.

Each against numpy through native code, the run-time checks (messages name
both shapes), and numeric gradient checks.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tc
from tc import tensor as T
from tc.gradient import verify_grad
from tc.ir import run_function
from tc.ir.errors import TcShapeError, TcTypeError, TcValueError

A = np.arange(24.0).reshape(6, 4)
V = np.arange(4.0) - 1.5


def test_reshape_and_flatten() -> None:
    x = T.matrix("x")
    n = T.lscalar("n")
    f = tc.function(
        [x, n],
        [
            x.reshape((x.shape[0] // 2, -1)),
            x.reshape((n, -1, 2)),
            T.reshape(x.T, (-1,)),  # a transposed source: copied, not viewed
            x[::2].flatten(),
            x.flatten(2),
            T.reshape(x, x.shape[::-1]),
            x.reshape(24, ndim=1),
        ],
    )
    expected = [
        A.reshape(3, -1),
        A.reshape(4, -1, 2),
        A.T.reshape(-1),
        A[::2].flatten(),
        A.reshape(6, 4),
        A.reshape(4, 6),
        A.reshape(24),
    ]
    for got, want in zip(f(A, 4), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(
        TcShapeError, match=r"cannot reshape an array of shape \(6, 4\) into shape \(5, -1, 2\)"
    ):
        f(A, 5)


def test_reshape_rejects_static_mismatches_when_building() -> None:
    s = T.tensor("float64", (2, 3), name="s")
    with pytest.raises(TcValueError, match="cannot reshape"):
        s.reshape((4, 2))
    with pytest.raises(TcValueError, match="more than one -1"):
        s.reshape((-1, -1))
    assert s.reshape((3, -1)).type.shape == (3, 2)


def test_concatenate_and_stack() -> None:
    x, v = T.matrix("x"), T.vector("v")
    f = tc.function(
        [x, v],
        [
            T.concatenate([x, x[:2] * 2, v[None, :]]),
            T.concatenate([x, x.T.T[:, :1]], axis=-1),
            T.stack([v, v + 1, v * 2]),
            T.stack([v, v], axis=1),
            T.stack([x[0, 0], x[1, 1]]),
            T.concatenate([v, T.cast(v, "int32")]),
        ],
    )
    expected = [
        np.concatenate([A, A[:2] * 2, V[None, :]]),
        np.concatenate([A, A[:, :1]], axis=-1),
        np.stack([V, V + 1, V * 2]),
        np.stack([V, V], axis=1),
        np.stack([A[0, 0], A[1, 1]]),
        np.concatenate([V, V.astype(np.int32)]),
    ]
    for got, want in zip(f(A, V), expected, strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


def test_concatenate_names_both_shapes() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    f = tc.function([x, y], T.concatenate([x, y]))
    with pytest.raises(TcShapeError, match=r"tx.concatenate at .*shapes \(6, 4\) and \(2, 3\) differ"):
        f(A, np.zeros((2, 3)))
    s, t = T.tensor("float64", (2, 3), name="s"), T.tensor("float64", (2, 4), name="t")
    with pytest.raises(TcTypeError, match="must match"):
        T.concatenate([s, t])


def test_arange() -> None:
    start, stop, step = T.lscalar("start"), T.iscalar("stop"), T.lscalar("step")
    f = tc.function([start, stop, step], [T.arange(stop), T.arange(start, stop, step)])
    for a, b, c in [(0, 5, 1), (2, 11, 3), (5, -3, -2), (4, 4, 1), (3, 0, 1), (-7, 7, 5)]:
        first, second = f(a, b, c)
        np.testing.assert_array_equal(first, np.arange(b))
        np.testing.assert_array_equal(second, np.arange(a, b, c))
        assert second.dtype == np.int64
    with pytest.raises(TcValueError, match="step must not be zero"):
        f(0, 5, 0)
    assert T.arange(2.5).type.shape == (3,)  # constant arguments give a constant
    np.testing.assert_array_equal(tc.function([], T.arange(0.5, 2.0, 0.5))(), np.arange(0.5, 2.0, 0.5))
    x = T.vector("x")
    with pytest.raises(tc.TcError, match="tx.arange"):
        tc.function([x], T.arange(x[0]))  # a float bound known only at run time


def test_alloc_zeros_ones_fill() -> None:
    x, v, n = T.matrix("x"), T.vector("v"), T.lscalar("n")
    f = tc.function(
        [x, v, n],
        [
            T.alloc(1.5, n, 3),
            T.alloc(v, n, 4),
            T.zeros((2, n)),
            T.ones(n, dtype="int32"),
            T.zeros_like(x),
            T.ones_like(x, dtype="int8"),
            T.fill(x, 2.0),
            T.second(v, 7.0),
            T.zeros(x.shape),
        ],
    )
    got = f(A, V, 3)
    expected = [
        np.full((3, 3), 1.5),
        np.broadcast_to(V, (3, 4)),
        np.zeros((2, 3)),
        np.ones(3, np.int32),
        np.zeros_like(A),
        np.ones_like(A, dtype=np.int8),
        np.full_like(A, 2.0),
        np.full_like(V, 7.0),
        np.zeros(A.shape),
    ]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
        assert g.dtype == e.dtype
    with pytest.raises(TcValueError, match="negative size"):
        f(A, V, -1)
    with pytest.raises(TcShapeError, match="tx.alloc"):
        tc.function([v, n], T.alloc(v, n, 5))(V, 2)


def test_inc_and_set_subtensor() -> None:
    x, v, i = T.matrix("x"), T.vector("v"), T.lscalar("i")
    f = tc.function(
        [x, v, i],
        [
            T.inc_subtensor(x[1:3], 10.0),
            T.set_subtensor(x[:, 0], x[:, 1]),
            T.inc_subtensor(x[i], v),
            T.set_subtensor(x[i:, ::-2], v[:2]),
        ],
    )
    expected = [A.copy() for _ in range(4)]
    expected[0][1:3] += 10.0
    expected[1][:, 0] = A[:, 1]
    expected[2][-2] += V
    expected[3][-2:, ::-2] = V[:2]
    for g, e in zip(f(A, V, -2), expected, strict=True):
        np.testing.assert_array_equal(g, e)
    with pytest.raises(TcShapeError, match="tx.inc_subtensor"):
        f(A, np.zeros(3), 0)
    with pytest.raises(TcTypeError, match="inc_subtensor"):
        T.inc_subtensor(x * 2, 1.0)


def test_reference_semantics_match_native_code() -> None:
    x, i = T.matrix("x"), T.lscalar("i")
    outputs = [x[i:, ::-1], x.reshape((-1, 2)), T.concatenate([x, x]), T.arange(i), T.alloc(x[0], i, 4)]
    f = tc.function([x, i], outputs)
    for got, want in zip(f(A, 2), run_function(f.ir_function("tir"), A, np.int64(2)), strict=True):
        np.testing.assert_array_equal(got, want)


RNG = np.random.default_rng(7)
M = RNG.normal(size=(5, 4))
W = RNG.normal(size=4)


@pytest.mark.parametrize(
    "build, point",
    [
        (lambda x: x[1:4, ::-2] * 3, [M]),
        (lambda x: x[2] ** 2, [M]),
        (lambda x: x[-1, 1:] * x[0, :3], [M]),
        (lambda x: x.reshape((2, -1)) * np.arange(10.0), [M]),
        (lambda x: x.reshape((x.shape[1], x.shape[0])) ** 2, [M]),
        (lambda x: x.T.flatten() * np.arange(20.0), [M]),
        (lambda x, w: T.concatenate([x, w[None, :], x[:2]]) ** 2, [M, W]),
        (lambda x, w: T.concatenate([x, w[None, :] * x], axis=1) ** 2, [M, W]),
        (lambda x, w: T.stack([w, w * 3, x[0]], axis=1) ** 2, [M, W]),
        (lambda w: T.alloc(w, 3, 4) * np.arange(12.0).reshape(3, 4), [W]),
        (lambda x: T.alloc(x.sum(), 2, 3) * np.arange(6.0).reshape(2, 3), [M]),
        (lambda x, w: T.inc_subtensor(x[1:3], w) ** 2, [M, W]),
        (lambda x, w: T.set_subtensor(x[:4, 1], w) ** 2, [M, W]),
        (lambda x: x * T.ones_like(x) * 3 + T.zeros_like(x), [M]),
    ],
)
def test_gradients(build, point) -> None:  # type: ignore[no-untyped-def]
    verify_grad(build, point, n_tests=1)


def test_gradients_with_run_time_sizes() -> None:
    """The rules build shape arithmetic (tx.shape entries) where sizes are `?`."""
    x, y, v = T.matrix("x"), T.matrix("y"), T.vector("v")
    i, j, n = T.lscalar("i"), T.lscalar("j"), T.lscalar("n")
    p1, p2, p3, p4, p5 = (T.matrix(f"p{k}") for k in range(1, 6))
    costs = [
        ((T.concatenate([x, y]) * p1).sum(), [x, y]),
        ((x.reshape((x.shape[1], -1)) * p2).sum(), [x]),
        ((x[i:j] * p3).sum(), [x]),
        ((T.set_subtensor(x[i:j], y) * p4).sum(), [x, y]),
        ((T.alloc(v, n, 4) * p5).sum(), [v]),
    ]
    outputs = [g for cost, wrt in costs for g in T.grad(cost, wrt)]
    f = tc.function([x, y, v, i, j, n, p1, p2, p3, p4, p5], outputs)
    X, Y = RNG.normal(size=(4, 5)), RNG.normal(size=(2, 5))
    P1, P2, P3 = RNG.normal(size=(6, 5)), RNG.normal(size=(5, 4)), RNG.normal(size=(2, 5))
    P4, P5 = RNG.normal(size=(4, 5)), RNG.normal(size=(3, 4))
    gx1, gy1, gx2, gx3, gx4, gy4, gv5 = f(X, Y, W, 1, 3, 3, P1, P2, P3, P4, P5)
    np.testing.assert_allclose(gx1, P1[:4])
    np.testing.assert_allclose(gy1, P1[4:])
    np.testing.assert_allclose(gx2, P2.reshape(4, 5))
    expected = np.zeros_like(X)
    expected[1:3] = P3
    np.testing.assert_allclose(gx3, expected)
    expected = P4.copy()
    expected[1:3] = 0.0
    np.testing.assert_allclose(gx4, expected)
    np.testing.assert_allclose(gy4, P4[1:3])
    np.testing.assert_allclose(gv5, P5.sum(axis=0))


def test_tx_files_call_the_shape_builders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "shapes.tx"
    source.write_text(
        "fn shapes(x: f64[?, ?], n: i64) -> (i64[?], f64[?], f64[?, ?], f64[?, ?]) {\n"
        "    return arange(n), flatten(x), alloc(1.5, n, 2), zeros_like(x)\n"
        "}\n"
    )
    r, flat, filled, zeros = tc.compile_file(source).shapes(A, 3)
    np.testing.assert_array_equal(r, np.arange(3))
    np.testing.assert_array_equal(flat, A.ravel())
    np.testing.assert_array_equal(filled, np.full((3, 2), 1.5))
    np.testing.assert_array_equal(zeros, np.zeros_like(A))


def test_reshape_to_a_shape_vector_argument() -> None:
    x, s = T.matrix("x"), T.lvector("s")
    f = tc.function([x, s], x.reshape(s, ndim=2))
    np.testing.assert_array_equal(f(A, [3, 8]), A.reshape(3, 8))
    with pytest.raises(TcShapeError, match=r"into shape \(-1, 3\) \(only a literal -1 is inferred\)"):
        f(A, [-1, 3])
    with pytest.raises(tc.TcError, match="index 1 is out of bounds for axis 0 with size 1"):
        f(A, [24])
    with pytest.raises(TcValueError, match="pass ndim"):
        x.reshape(s)


@functools.cache
def joiner(rank: int, axis: int):  # type: ignore[no-untyped-def]
    a, b = T.tensor("float64", (None,) * rank, name="a"), T.tensor("float32", (None,) * rank, name="b")
    return tc.function([a, b], [T.concatenate([a, b, a], axis=axis), T.stack([a, a * 2], axis=axis)])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rank=st.integers(1, 3))
def test_concatenate_and_stack_on_random_shapes(data: st.DataObject, rank: int) -> None:
    axis = data.draw(st.integers(0, rank - 1))
    shape = data.draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank))
    other = list(shape)
    other[axis] = data.draw(st.integers(0, 4))
    a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    b = (np.arange(np.prod(other)) + 0.5).astype(np.float32).reshape(other)
    if data.draw(st.booleans()) and a.ndim > 1:
        a = np.asfortranarray(a)  # a strided layout
    joined, stacked = joiner(rank, axis)(a, b)
    np.testing.assert_array_equal(joined, np.concatenate([a, b, a], axis=axis))
    assert joined.dtype == np.float64
    np.testing.assert_array_equal(stacked, np.stack([a, a * 2], axis=axis))
    assert T.stack(T.vector("p"), T.vector("q")).type.shape == (2, None)  # Theano's older form


@functools.cache
def incrementer(step: int):  # type: ignore[no-untyped-def]
    x, a, b = T.matrix("x"), T.lscalar("a"), T.lscalar("b")
    region = x[a:b:step, ::-1]
    return tc.function([x, a, b], [T.inc_subtensor(region, 1.0), T.set_subtensor(region, region * 10)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(0, 6), a=st.integers(-8, 8), b=st.integers(-8, 8), step=st.sampled_from([1, 2, -1, -3])
)
def test_inc_and_set_with_symbolic_bounds_match_numpy(rows: int, a: int, b: int, step: int) -> None:
    x = np.arange(rows * 3, dtype=np.float64).reshape(rows, 3)
    added, written = incrementer(step)(x, a, b)
    expected_added, expected_written = x.copy(), x.copy()
    expected_added[a:b:step, ::-1] += 1.0
    expected_written[a:b:step, ::-1] = x[a:b:step, ::-1] * 10
    np.testing.assert_array_equal(added, expected_added)
    np.testing.assert_array_equal(written, expected_written)


def test_flatten_of_an_empty_tensor() -> None:
    """flatten joined the trailing axes with -1, which is ambiguous when a kept axis is 0."""
    x = T.dtensor3("x")
    f = tc.function([x], [T.flatten(x, 2), T.flatten(x)])
    joined, flat = f(np.zeros((0, 3, 4)))
    assert joined.shape == (0, 12) and flat.shape == (0,)
    assert T.flatten(T.tensor("float64", (None, 3, 4)), 2).type.shape == (None, 12)
