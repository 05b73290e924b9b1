"""Native views and value-dependent sizes: the logistic_sgd minibatch pattern and its relatives.

`train_x[index * batch_size:(index + 1) * batch_size]` of a shared matrix,
given through `givens`, must be a view (no copy) whose size the runtime
computes from `index` before the call; shared integer scalars, stored
counters and non-contiguous sources must work the same.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tc
from tc import tensor as T
from tc.ir.errors import TcIndexError
from tc.ir.shapes import ArgValue, ShapePlan


def test_minibatch_through_givens_is_a_view() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(10, 7))
    labels = rng.integers(0, 3, size=10).astype(np.int32)
    train_x = tc.shared(data, name="train_x")
    train_y = tc.shared(labels, name="train_y")
    weights = tc.shared(np.zeros(7), name="weights")
    index = T.lscalar("index")
    batch_size = 4
    x, y = T.matrix("x"), T.ivector("y")
    cost = ((T.dot(x, weights) - T.cast(y, "float64")) ** 2).mean()
    window = slice(index * batch_size, (index + 1) * batch_size)
    f = tc.function(
        [index],
        [cost, T.arange(y.shape[0])],
        updates=[(weights, weights - 0.1 * T.grad(cost, weights))],
        givens={x: train_x[window], y: train_y[window]},
    )
    optimized = f.dump("tir-opt")
    assert "tx.subtensor %train_x" in optimized
    assert ".copy" not in f.dump("llvm")  # the minibatch is read in place
    w = np.zeros(7)
    for i in (0, 1, 2, 3):  # the last minibatch is short, the one after it empty
        xb, yb = data[i * 4 : (i + 1) * 4], labels[i * 4 : (i + 1) * 4].astype(np.float64)
        c, r = f(i)
        if len(xb):
            np.testing.assert_allclose(c, ((xb @ w - yb) ** 2).mean())
            w = w - 0.1 * 2 * xb.T @ (xb @ w - yb) / len(xb)
        np.testing.assert_array_equal(r, np.arange(len(xb)))
        np.testing.assert_allclose(weights.get_value(), w)


def test_shape_plan_tracks_values() -> None:
    x, i = T.matrix("x"), T.iscalar("i")
    f = tc.function([x, i], x[i * 2 : i * 2 + 3])
    plan: ShapePlan = f._plan
    assert plan.uses_values and plan.has_checks is False
    assert repr(ArgValue(1)) in repr(plan.result_shapes[0])
    assert plan.evaluate([(9, 2), ()], [np.zeros((9, 2)), np.int32(2)])[0][0] == (3, 2)
    assert plan.evaluate([(9, 2), ()], [np.zeros((9, 2)), np.int32(4)])[0][0] == (1, 2)


def test_shared_integer_scalars_and_stored_counters() -> None:
    table = tc.shared(np.arange(12.0).reshape(6, 2), name="table")
    position = tc.shared(np.int64(0), name="position")
    step = position + 1
    f = tc.function([], [table[step], table[position : step + 1].sum()], updates=[(position, step)])
    for k in range(5):
        row, total = f()
        np.testing.assert_array_equal(row, np.arange(12.0).reshape(6, 2)[k + 1])
        assert total == np.arange(12.0).reshape(6, 2)[k : k + 2].sum()
        assert int(position.get_value()) == k + 1
    with pytest.raises(TcIndexError, match="index 6 is out of bounds for axis 0 with size 6"):
        f()
    assert int(position.get_value()) == 5  # a failed call changes nothing


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    layout=st.sampled_from(["c", "transposed", "strided", "reversed"]),
)
def test_reshape_of_any_layout(rows: int, cols: int, layout: str) -> None:
    base = np.arange(rows * cols * 2, dtype=np.float64)
    source = {
        "c": base[: rows * cols].reshape(rows, cols),
        "transposed": base[: rows * cols].reshape(cols, rows).T,
        "strided": base.reshape(rows, 2 * cols)[:, ::2],
        "reversed": base[: rows * cols].reshape(rows, cols)[::-1],
    }[layout]
    np.testing.assert_array_equal(_reshaper()(source)[0], source.reshape(-1))
    np.testing.assert_array_equal(_reshaper()(source)[1], source.T.reshape(cols, rows))


_cache: dict[str, tc.function] = {}  # type: ignore[valid-type]


def _reshaper():  # type: ignore[no-untyped-def]
    if "f" not in _cache:
        x = T.matrix("x")
        _cache["f"] = tc.function([x], [x.reshape((-1,)), x.T.reshape((x.shape[1], -1)) + 0.0])
    return _cache["f"]


def test_views_of_views_and_outputs_that_are_views() -> None:
    x = T.tensor3("x")
    i = T.lscalar("i")
    out = x[1:, i][:, ::-1].T[1]
    f = tc.function([x, i], [out, x[i], x.dimshuffle(2, 0, 1)[0, 1:]])
    a = np.arange(60.0).reshape(3, 4, 5)
    got = f(a, -2)
    np.testing.assert_array_equal(got[0], a[1:, -2][:, ::-1].T[1])
    np.testing.assert_array_equal(got[1], a[-2])
    np.testing.assert_array_equal(got[2], a.transpose(2, 0, 1)[0, 1:])
    assert all(g.flags.c_contiguous for g in got)


def test_concatenate_of_strided_and_computed_parts() -> None:
    x = T.matrix("x")
    f = tc.function([x], T.concatenate([x.T, (x * 2).T[::-1], x[:1].T], axis=1))
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(f(a), np.concatenate([a.T, (a * 2).T[::-1], a[:1].T], axis=1))


def test_bounds_wrap_like_the_machine_integers_they_are() -> None:
    """int32 arithmetic wraps in native code; the plan must size the result the same way."""
    x, i = T.vector("x"), T.iscalar("i")
    f = tc.function([x, i], x[i * 1000000 :] + 0.0)
    a = np.arange(10.0)
    for k in (0, 3000, -1, 2147):
        with np.errstate(over="ignore"):
            start = int(np.int32(k) * np.int32(1000000))
        np.testing.assert_array_equal(f(a, k), a[start:])


def test_updates_from_views_and_regions_of_the_variable_itself() -> None:
    start = np.arange(6.0).reshape(3, 2)
    W = tc.shared(start.copy(), name="W")
    tc.function([], [], updates=[(W, W[::-1])])()
    np.testing.assert_array_equal(W.get_value(), start[::-1])
    total = tc.function([], W.sum(), updates=[(W, T.set_subtensor(W[0], 0.0))])()
    assert total == start.sum()
    np.testing.assert_array_equal(W.get_value(), [[0.0, 0.0], [2.0, 3.0], [0.0, 1.0]])
    tc.function([], [], updates=[(W, T.concatenate([W[1:], W[:1]]))])()
    np.testing.assert_array_equal(W.get_value(), [[2.0, 3.0], [0.0, 1.0], [0.0, 0.0]])
    x = T.vector("x")  # the added values overlap the region: they are read from the old x
    np.testing.assert_array_equal(
        tc.function([x], T.inc_subtensor(x[1:], x[:-1]))(np.arange(5.0)), [0, 1, 3, 5, 7]
    )
