"""Theano's gradient API beyond `T.grad(cost, wrt)`: consider_constant, known_grads,
return_disconnected, zero_grad, disconnected_grad, Lop and Rop, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.gradient import DisconnectedType, disconnected_grad, zero_grad

RNG = np.random.default_rng(7)
X = np.array([1.0, -2.0, 0.5])
Y = np.array([3.0, 4.0, -1.5])


def _run(inputs, outputs, *values):
    return tc.function(inputs, outputs, on_unused_input="ignore")(*values)


def test_consider_constant_stops_the_gradient_at_the_listed_variable() -> None:
    x, y = T.dvectors("x", "y")
    h = x * x  # treated as a constant: d/dx (h * y) through h is dropped
    cost = (h * y).sum() + x.sum()
    gx, gy = _run([x, y], T.grad(cost, [x, y], consider_constant=[h]), X, Y)
    np.testing.assert_allclose(gx, np.ones(3))
    np.testing.assert_allclose(gy, X * X)


def test_consider_constant_is_local_to_its_grad() -> None:
    x, y = T.dvectors("x", "y")
    g = T.grad((x * y).sum(), y, consider_constant=[x])  # = x, the original variable
    second = T.grad((g * g).sum(), x)  # d/dx sum(x^2) = 2x: flows through the first gradient
    np.testing.assert_allclose(_run([x, y], second, X, Y), 2 * X)


def test_a_variable_reached_only_through_consider_constant_is_disconnected() -> None:
    x = T.dvector("x")
    h = T.exp(x)
    with pytest.raises(tc.TcGradientError, match="disconnected"):
        T.grad(h.sum(), x, consider_constant=[h])
    np.testing.assert_allclose(
        _run([x], T.grad(h.sum(), x, consider_constant=[h], disconnected_inputs="ignore"), X), np.zeros(3)
    )


def test_known_grads_without_a_cost_is_the_vector_jacobian_product() -> None:
    x = T.dvector("x")
    W = T.dmatrix("W")
    h = T.tanh(T.dot(W, x))
    g_h = T.dvector("g_h")
    gW, gx = T.grad(None, [W, x], known_grads={h: g_h})
    Wv, gv = RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    dpre = gv * (1 - np.tanh(Wv @ X) ** 2)
    out_W, out_x = _run([W, x, g_h], [gW, gx], Wv, X, gv)
    np.testing.assert_allclose(out_W, np.outer(dpre, X))
    np.testing.assert_allclose(out_x, Wv.T @ dpre)


def test_known_grads_replace_the_cost_gradient_below_the_variable() -> None:
    x = T.dvector("x")
    h = x * 3
    cost = (h * h).sum()  # d cost / d h = 2h, replaced by the known gradient of ones
    g = T.grad(cost, x, known_grads={h: T.ones_like(h)})
    np.testing.assert_allclose(_run([x], g, X), np.full(3, 3.0))


def test_return_disconnected_choices() -> None:
    x, y = T.dvectors("x", "y")
    cost = (x * 2).sum()
    zero = T.grad(cost, [x, y], disconnected_inputs="ignore")
    none = T.grad(cost, [x, y], disconnected_inputs="ignore", return_disconnected="None")
    marker = T.grad(cost, [x, y], disconnected_inputs="ignore", return_disconnected="Disconnected")
    np.testing.assert_allclose(_run([x, y], zero[1], X, Y), np.zeros(3))
    assert none[1] is None and none[0] is not None
    assert isinstance(marker[1], DisconnectedType)
    np.testing.assert_allclose(_run([x, y], none[0], X, Y), np.full(3, 2.0))
    with pytest.raises(tc.TcGradientError, match="return_disconnected must be one of"):
        T.grad(cost, x, return_disconnected="nothing")


def test_zero_grad_keeps_the_value_and_sends_zeros_back() -> None:
    x, y = T.dvectors("x", "y")
    z = zero_grad(x)
    cost = (z * y).sum() + (x**2).sum()
    value, gx, gy = _run([x, y], [z, *T.grad(cost, [x, y])], X, Y)
    np.testing.assert_allclose(value, X)
    np.testing.assert_allclose(gx, 2 * X)
    np.testing.assert_allclose(gy, X)
    # Only reached through zero_grad: connected, with a zero gradient (no error).
    np.testing.assert_allclose(_run([x, y], T.grad((zero_grad(x) * y).sum(), x), X, Y), np.zeros(3))
    assert T.zero_grad is zero_grad


def test_disconnected_grad_cuts_the_path() -> None:
    x, y = T.dvectors("x", "y")
    cost = (disconnected_grad(x) * y).sum() + (x**3).sum()
    gx, gy = _run([x, y], T.grad(cost, [x, y]), X, Y)
    np.testing.assert_allclose(gx, 3 * X**2)
    np.testing.assert_allclose(gy, X)
    with pytest.raises(tc.TcGradientError, match="does not depend on 'x'"):
        T.grad((disconnected_grad(x) * y).sum(), x)
    np.testing.assert_allclose(_run([x], disconnected_grad(x * 2), X), 2 * X)


def test_lop_and_rop_match_the_jacobian() -> None:
    W = T.dmatrix("W")
    x, u, v = T.dvectors("x", "u", "v")
    y = T.tanh(T.dot(W, x)) * T.sum(x)
    Wv, uv, vv = RNG.standard_normal((4, 3)), RNG.standard_normal(3), RNG.standard_normal(4)
    pre = Wv @ X
    # J[i, j] = d y_i / d x_j
    J = (1 - np.tanh(pre) ** 2)[:, None] * Wv * X.sum() + np.tanh(pre)[:, None]
    rop = _run([W, x, u], T.Rop(y, x, u), Wv, X, uv)
    lop = _run([W, x, v], T.Lop(y, x, v), Wv, X, vv)
    np.testing.assert_allclose(rop, J @ uv)
    np.testing.assert_allclose(lop, vv @ J)


def test_rop_of_several_outputs_and_inputs() -> None:
    A = T.dmatrix("A")
    x, b, dx, db = T.dvectors("x", "b", "dx", "db")
    outs = [T.dot(A, x) + b, (x * x).sum()]
    r1, r2 = T.Rop(outs, [x, b], [dx, db])
    Av, bv, dxv, dbv = (
        RNG.standard_normal((2, 3)),
        RNG.standard_normal(2),
        RNG.standard_normal(3),
        RNG.standard_normal(2),
    )
    o1, o2 = _run([A, x, b, dx, db], [r1, r2], Av, X, bv, dxv, dbv)
    np.testing.assert_allclose(o1, Av @ dxv + dbv)
    np.testing.assert_allclose(o2, 2 * X @ dxv)


def test_lop_checks_its_points() -> None:
    x = T.dvector("x")
    with pytest.raises(tc.TcValueError, match="eval_points"):
        T.Lop([x * 2, x * 3], x, [T.dvector()])
