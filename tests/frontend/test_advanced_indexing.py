"""Integer-array indexing in the builder: advanced_index, take, inc_subtensor, gradients,
and the negative log-likelihood of Theano's logistic_sgd tutorial."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.frontend.advanced_indexing import advanced_inc_subtensor, advanced_index, take
from tc.frontend.nnet import categorical_crossentropy, softmax
from tc.gradient import verify_grad
from tc.ir.errors import TcIndexError, TcTypeError, TcValueError

RNG = np.random.default_rng(3)

# Integer-label cross-entropy builds its rows with T.arange, which engineer C's constructors provide.
needs_arange = pytest.mark.skipif(
    importlib.util.find_spec("tc.frontend.constructors") is None, reason="T.arange has not landed yet"
)
needs_getitem = pytest.mark.skipif(
    not hasattr(T.Variable, "__getitem__"), reason="Variable.__getitem__ has not landed yet"
)


def _nll(p_y_given_x: T.Variable, rows: T.Variable, y: T.Variable) -> T.Variable:
    """-mean(log(p)[rows, y]): Theano's logistic-regression cost with rows = arange(n)."""
    return -T.mean(advanced_index(T.log(p_y_given_x), (rows, y)))


def test_lists_arrays_and_variables_index_the_leading_axes() -> None:
    x, i = T.tensor3("x"), T.lvector("i")
    a = np.arange(24.0).reshape(2, 3, 4)
    f = tc.function([x, i], [advanced_index(x, ([1, 0, -1],)), advanced_index(x, (i, slice(None), ...))])
    first, second = f(a, [1, 1, 0])
    np.testing.assert_array_equal(first, a[[1, 0, -1]])
    np.testing.assert_array_equal(second, a[[1, 1, 0], :])
    g = tc.function([x], advanced_index(x, (np.array([[0], [1]]), [2, 0, 1], 3)))
    np.testing.assert_array_equal(g(a), a[np.array([[0], [1]]), [2, 0, 1], 3])


def test_take_along_any_axis() -> None:
    x, i = T.tensor3("x"), T.imatrix("i")
    a = np.arange(60.0).reshape(3, 4, 5)
    idx = np.array([[0, -1], [2, 1], [3, 3]], np.int32)
    f = tc.function([x, i], [take(x, i, axis=axis) for axis in (0, 1, -1)])
    for axis, out in zip((0, 1, -1), f(a, idx % 3), strict=True):
        np.testing.assert_array_equal(out, np.take(a, idx % 3, axis=axis))


def test_unsupported_indices_say_what_is_supported() -> None:
    x = T.matrix("x")
    with pytest.raises(TcTypeError, match="boolean mask indexing is not supported"):
        advanced_index(x, (np.array([True, False]),))
    with pytest.raises(TcTypeError, match="boolean"):
        advanced_index(x, (T.tensor("bool", (False,)),))
    with pytest.raises(TcTypeError, match="partial slice mixed with integer-array indices"):
        advanced_index(x, (slice(1, None), [0, 1]))
    with pytest.raises(TcTypeError, match="None mixed"):
        advanced_index(x, ([0], None))
    with pytest.raises(TcTypeError, match="integer dtype"):
        advanced_index(x, (T.vector("f"),))
    with pytest.raises(TcTypeError, match="must hold integers"):
        advanced_index(x, ([0.5],))
    with pytest.raises(TcIndexError, match="too many indices"):
        advanced_index(x, ([0], [0], [0]))
    with pytest.raises(TcValueError, match="axis 2 is out of range"):
        take(x, [0], axis=2)


def test_known_indices_are_checked_when_built() -> None:
    x = T.tensor("float64", (3, None), name="x")
    with pytest.raises(TcIndexError, match="index 3 is out of bounds for axis 0 with size 3") as info:
        advanced_index(x, ([0, 3],))
    assert "test_advanced_indexing.py" in str(info.value)
    advanced_index(x, ([-3, 2],))  # fine


def test_logistic_regression_nll_matches_numpy() -> None:
    x, y, rows = T.matrix("x"), T.lvector("y"), T.lvector("rows")
    w, b = T.matrix("w"), T.vector("b")
    p = softmax(T.dot(x, w) + b)
    f = tc.function([x, w, b, rows, y], _nll(p, rows, y))
    xs, ws, bs = RNG.normal(size=(6, 4)), RNG.normal(size=(4, 3)), RNG.normal(size=3)
    labels = np.array([0, 2, 1, 1, 0, 2])
    logits = xs @ ws + bs
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(probs)[np.arange(6), labels])
    np.testing.assert_allclose(f(xs, ws, bs, np.arange(6), labels), expected, rtol=1e-12)


@needs_arange
def test_integer_label_crossentropy_and_bad_labels() -> None:
    p, y = T.matrix("p"), T.lvector("y")
    f = tc.function([p, y], categorical_crossentropy(p, y))
    probs = RNG.uniform(0.1, 1.0, size=(4, 3))
    labels = np.array([2, 0, 1, 2])
    np.testing.assert_allclose(f(probs, labels), -np.log(probs[np.arange(4), labels]), rtol=1e-12)
    with pytest.raises(TcIndexError, match="out of bounds for axis 1 with size 3"):
        f(probs, np.array([0, 3, 1, 1]))  # a label outside [0, classes)
    with pytest.raises(TcTypeError, match="rank 1"):
        categorical_crossentropy(p, T.lmatrix("y2"))


@needs_arange
def test_training_step_with_a_bad_label_changes_no_shared_variable() -> None:
    w = tc.shared(np.zeros((4, 3)), name="w")
    b = tc.shared(np.zeros(3), name="b")
    x, y = T.matrix("x"), T.lvector("y")
    p = softmax(T.dot(x, w) + b)
    cost = T.mean(categorical_crossentropy(p, y))
    gw, gb = tc.grad(cost, [w, b])
    train = tc.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
    xs = RNG.normal(size=(8, 4))
    labels = (xs[:, 0] > 0).astype(np.int64) + (xs[:, 1] > 0)
    first = train(xs, labels)
    for _ in range(20):
        last = train(xs, labels)
    assert last < first
    w_before, b_before = w.get_value(), b.get_value()
    bad = labels.copy()
    bad[5] = 7
    with pytest.raises(TcIndexError, match="index 7 is out of bounds for axis 1 with size 3"):
        train(xs, bad)
    np.testing.assert_array_equal(w.get_value(), w_before)
    np.testing.assert_array_equal(b.get_value(), b_before)


def test_gather_gradient() -> None:
    rows, cols = np.array([0, 2, 2, -1]), np.array([1, 0, 0, 3])  # repeats accumulate
    verify_grad(lambda a: advanced_index(a, (rows, cols)) * 1.5, [RNG.uniform(0.2, 0.9, (3, 4))])
    verify_grad(lambda a: advanced_index(a, ([[1, 1], [0, 1]],)), [RNG.uniform(0.2, 0.9, (2, 3))])
    verify_grad(lambda a: take(a, [2, 0, 2], axis=1), [RNG.uniform(0.2, 0.9, (2, 3))])


def test_nll_gradient() -> None:
    labels, rows = np.array([1, 0, 2]), np.arange(3)
    verify_grad(lambda z: _nll(softmax(z), T.constant(rows), T.constant(labels)), [RNG.normal(size=(3, 3))])


def test_inc_subtensor_adds_at_repeated_indices() -> None:
    x, y, i = T.matrix("x"), T.vector("y"), T.lvector("i")
    f = tc.function([x, y, i], advanced_inc_subtensor(advanced_index(x, (i,)), y))
    a, v, idx = np.zeros((3, 2)), np.array([1.0, 2.0]), np.array([0, 2, 0])
    expected = a.copy()
    np.add.at(expected, (idx,), v)
    np.testing.assert_array_equal(f(a, v, idx), expected)
    verify_grad(
        lambda a, u: advanced_inc_subtensor(advanced_index(a, ([1, 1, 0],)), u),
        [RNG.uniform(size=(2, 3)), RNG.uniform(size=(3, 3))],
    )
    with pytest.raises(TcTypeError, match="set_subtensor with integer-array indices"):
        advanced_inc_subtensor(advanced_index(x, (i,)), y, set_instead_of_inc=True)


@needs_arange
@needs_getitem
def test_the_tutorial_spelling() -> None:
    """logistic_sgd's negative_log_likelihood, written as in the tutorial."""
    x, y = T.matrix("x"), T.lvector("y")
    p_y_given_x = softmax(x)
    nll = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    f = tc.function([x, y], [nll, x[[0, -1]], x[y, :]])
    xs, labels = RNG.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    probs = np.exp(xs) / np.exp(xs).sum(axis=1, keepdims=True)
    cost, ends, picked = f(xs, labels)
    np.testing.assert_allclose(cost, -np.mean(np.log(probs)[np.arange(5), labels]), rtol=1e-12)
    np.testing.assert_array_equal(ends, xs[[0, -1]])
    np.testing.assert_array_equal(picked, xs[labels, :])
    with pytest.raises(TcIndexError, match="tx.gather.*index -4 is out of bounds for axis 1 with size 3"):
        f(xs, np.array([0, 2, -4, 1, 0]))


@needs_getitem
def test_theano_spellings_of_take_and_inc_subtensor() -> None:
    x, y, i = T.matrix("x"), T.matrix("y"), T.lvector("i")
    f = tc.function([x, y, i], [T.take(x, i, axis=1), T.inc_subtensor(x[i], y), T.inc_subtensor(x[i], 1.0)])
    a, b, idx = np.arange(6.0).reshape(2, 3), np.ones((3, 3)), np.array([1, 1, 0])
    taken, added, plus_one = f(a, b, idx)
    np.testing.assert_array_equal(taken, np.take(a, idx, axis=1))
    expected = a.copy()
    np.add.at(expected, (idx,), b)
    np.testing.assert_array_equal(added, expected)
    np.testing.assert_array_equal(plus_one, expected)


def test_update_gradient_keeps_static_sizes_where_the_indices_are_unknown() -> None:
    x, i, u = T.matrix("x"), T.lvector("i"), T.tensor("float64", (3, 3), name="u")
    out = advanced_inc_subtensor(advanced_index(x, (i,)), u)
    gu, gx = tc.grad((out * out).sum(), [u, x])
    assert gu.type == u.type
    f = tc.function([x, u, i], [gu, gx])
    a, values, idx = np.ones((2, 3)), np.arange(9.0).reshape(3, 3), np.array([1, 1, 0])
    expected = a.copy()
    np.add.at(expected, (idx,), values)
    got_u, got_x = f(a, values, idx)
    np.testing.assert_array_equal(got_u, (2 * expected)[idx])
    np.testing.assert_array_equal(got_x, 2 * expected)


@needs_arange
def test_integer_label_crossentropy_of_a_softmax_is_stable() -> None:
    x, y = T.matrix("x"), T.lvector("y")
    cost = categorical_crossentropy(softmax(x), y)
    f = tc.function([x, y], [cost, tc.grad(cost.sum(), x)])
    value, gradient = f(np.array([[1000.0, -1000.0, 0.0]]), np.array([1]))
    np.testing.assert_allclose(value, [2000.0])
    np.testing.assert_allclose(gradient, [[1.0, -1.0, 0.0]], atol=1e-12)
