"""T.nnet: softmax/log_softmax ops and the helpers built from primitives, compiled and compared with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tc
from tc import tensor as T
from tc.frontend.graph import make_apply
from tc.frontend.lower import build_function_ir
from tc.gradient import verify_grad
from tc.ir import run_function
from tc.ir.ops.nnet import Softmax


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_family_is_stable_on_large_logits() -> None:
    x, t = T.dmatrix("x"), T.dmatrix("t")
    p = T.nnet.softmax(x)
    f = tc.function([x, t], [p, T.nnet.log_softmax(x), T.nnet.categorical_crossentropy(p, t)])
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0], [-5.0, -5.0, -5.0]])
    onehot = np.eye(3)[[0, 2, 1]]
    softmax, log_softmax, ce = f(logits, onehot * 0.98 + 0.01)
    assert np.all(np.isfinite(softmax)) and np.all(np.isfinite(log_softmax))
    np.testing.assert_allclose(softmax, _softmax(logits), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_softmax[1:], np.log(_softmax(logits[1:])), rtol=1e-12)
    assert log_softmax[0].tolist() == [0.0, -1000.0, -2000.0]
    np.testing.assert_allclose(ce[1:], -(np.log(_softmax(logits[1:])) * (onehot[1:] * 0.98 + 0.01)).sum(-1))


def test_binary_crossentropy_and_relu() -> None:
    o, t = T.dvector("o"), T.dvector("t")
    out = np.array([0.1, 0.5, 0.9])
    target = np.array([0.0, 1.0, 1.0])
    bce, relu = tc.function([o, t], [T.nnet.binary_crossentropy(o, t), T.nnet.relu(o - 0.5)])(out, target)
    np.testing.assert_allclose(bce, -(target * np.log(out) + (1 - target) * np.log(1 - out)))
    np.testing.assert_allclose(relu, np.maximum(out - 0.5, 0))


def test_integer_labels_are_not_supported_yet() -> None:
    with pytest.raises(tc.TcTypeError, match="one-hot"):
        T.nnet.categorical_crossentropy(T.dmatrix("p"), T.lmatrix("y"))


# -- tx.softmax / tx.log_softmax: native code vs the numpy reference, gradients ---------------


def _stable_reference(a: np.ndarray, axis: int, log: bool) -> np.ndarray:
    wide = a.astype(np.float64)
    shifted = wide - wide.max(axis=axis, keepdims=True)
    total = np.exp(shifted).sum(axis=axis, keepdims=True)
    return shifted - np.log(total) if log else np.exp(shifted) / total


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_softmax_ops_match_the_reference(dtype: str, axis: int, data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=5))
    width = 32 if dtype == "float32" else 64
    value = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-1e3, 1e3, width=width)))
    x = T.tensor(dtype, (None, None, None), name="x")
    outs = [T.nnet.softmax(x, axis=axis), T.nnet.log_softmax(x, axis=axis)]
    softmax, log_softmax = tc.function([x], outs)(value)
    interpreted = run_function(build_function_ir("f", [x], outs).functions[0], value)
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-12, 1e-13)
    for got, want, log in ((softmax, interpreted[0], False), (log_softmax, interpreted[1], True)):
        assert got.dtype == np.dtype(dtype) and got.shape == value.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
        np.testing.assert_allclose(got, _stable_reference(value, axis, log), rtol=rtol, atol=atol)
    np.testing.assert_allclose(softmax.sum(axis=axis), 1.0, rtol=rtol * 10)


def test_softmax_builds_one_op_and_checks_its_axis() -> None:
    x = T.dmatrix("x")
    assert T.nnet.softmax(x).owner.op.name == "tx.softmax"
    assert T.nnet.log_softmax(x, axis=0).owner.attributes == {"axis": 0}
    assert T.nnet.softmax(T.lvector("i")).dtype == "float64"  # integers become floats, as for exp
    with pytest.raises(tc.TcValueError, match="axis 2 is out of range"):
        T.nnet.softmax(x, axis=2)
    with pytest.raises(tc.TcTypeError, match="tx.softmax.*f32 and f64"):
        make_apply(Softmax, [T.lvector("i")], {"axis": 0})
    with pytest.raises(tc.TcTypeError, match="axis 1 is not an axis"):
        make_apply(Softmax, [T.dvector("v")], {"axis": 1})


def test_softmax_of_an_empty_axis_is_refused_before_the_call() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], T.nnet.softmax(x, axis=1))
    assert f(np.zeros((0, 3))).shape == (0, 3)
    with pytest.raises(tc.TcShapeError, match="at least 1 elements along axis 1"):
        f(np.zeros((2, 0)))


def test_softmax_and_logsumexp_gradients() -> None:
    rng = np.random.default_rng(3)
    point = rng.standard_normal((3, 4))
    for axis in (0, 1):
        verify_grad(lambda a, axis=axis: T.nnet.softmax(a, axis=axis), [point])
        verify_grad(lambda a, axis=axis: T.nnet.log_softmax(a, axis=axis), [point])
    verify_grad(lambda a: T.nnet.logsumexp(a, axis=1), [point])
    verify_grad(lambda a: T.logsumexp(a, keepdims=True), [point])
    verify_grad(lambda a: T.nnet.softmax(a), [point.astype("float32")])


def test_softmax_gradient_at_large_logits_is_finite() -> None:
    x, t = T.dmatrix("x"), T.dmatrix("t")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(x), t).sum()
    logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 0.0, 1000.0]])
    target = np.eye(3)[[1, 0]]
    (gx,) = tc.function([x, t], T.grad(cost, [x]))(logits, target)
    np.testing.assert_allclose(gx, _softmax(logits) - target, atol=1e-12)


def test_logsumexp_matches_numpy_and_keeps_infinities() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], [T.logsumexp(x, axis=1), T.nnet.logsumexp(x, axis=0, keepdims=True), T.logsumexp(x)])
    a = np.array([[1000.0, 999.0, -1000.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0]])
    rows, cols, total = f(a)
    wide = np.array([1000.0 + np.log1p(np.exp(-1.0) + np.exp(-2000.0)), -np.inf, np.inf])
    np.testing.assert_allclose(rows, wide)
    assert cols.shape == (1, 3) and np.isinf(cols[0, 0]) and cols[0, 0] > 0
    assert total == np.inf
    finite = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(f(finite)[2], np.log(np.exp(finite).sum()), rtol=1e-14)
