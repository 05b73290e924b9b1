"""Reverse-mode gradients: every differentiable op against finite differences, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend.graph import make_apply
from tc.gradient import GradientCheckError, numeric_grad, verify_grad
from tc.ir import OP_REGISTRY, parse_module, print_module
from tc.ir.errors import TcGradientError
from tc.ir.ops.elementwise import ElementwiseOp, Fill
from tc.passes import run_pipeline
from tc.random import RandomStreams

RNG = np.random.default_rng(7)

DIFFERENTIABLE = sorted(
    name
    for name, cls in OP_REGISTRY.items()
    if issubclass(cls, ElementwiseOp)
    and "local_gradient" in vars(cls)
    and cls.arity in (1, 2)
    and name not in ("tx.cast", "tx.fill")  # dtype attribute / model operand: tested below
)


def _point(*shape: int) -> np.ndarray:
    return RNG.uniform(0.2, 0.9, size=shape)  # inside every op's domain (log, arcsin, pow, ...)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_elementwise_gradient_matches_finite_differences(name: str) -> None:
    cls = OP_REGISTRY[name]
    if cls.arity == 1:
        verify_grad(lambda a: make_apply(cls, [a]).out, [_point(3, 4)])
    else:  # the second operand broadcasts along the rows: its gradient is summed back
        verify_grad(lambda a, b: make_apply(cls, [a, b]).out, [_point(3, 4), _point(4)])


def test_every_float_elementwise_op_has_a_rule() -> None:
    assert len(DIFFERENTIABLE) >= 30
    assert {"tx.add", "tx.mul", "tx.div", "tx.pow", "tx.exp", "tx.log", "tx.tanh", "tx.sigmoid"} <= set(
        DIFFERENTIABLE
    )


@pytest.mark.parametrize("kind", ["sum", "mean", "prod", "max", "min"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), True)])
def test_reduction_gradients(kind: str, axis: object, keepdims: bool) -> None:
    verify_grad(lambda a: getattr(T, kind)(a, axis=axis, keepdims=keepdims), [_point(3, 4)])


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((3, 4), (4,)), ((4,), (4, 2)), ((4,), (4,))])
def test_dot_gradients(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    verify_grad(lambda a, b: T.dot(a, b), [_point(*shapes[0]), _point(*shapes[1])])


def test_view_select_cast_and_fill_gradients() -> None:
    verify_grad(lambda a: a.T, [_point(3, 4)])
    verify_grad(lambda a: a.dimshuffle("x", 1, 0), [_point(3, 4)])
    verify_grad(lambda a, b: T.switch(a > 0.5, a * b, b), [_point(3, 4), _point(3, 4)])
    verify_grad(lambda a: T.cast(a, "float32").astype("float64") ** 2, [_point(5)], eps=1e-3, abs_tol=1e-3)
    verify_grad(lambda a, b: make_apply(Fill, [a, b]).out * a, [_point(3), _point()])


def test_float32_gradients() -> None:
    verify_grad(
        lambda a, b: T.tanh(T.dot(a, b)).sum(axis=0), [_point(3, 4).astype("f4"), _point(4, 2).astype("f4")]
    )


def test_piecewise_constant_ops_pass_no_gradient() -> None:
    x = T.dvector("x")
    f = tc.function([x], T.grad(T.sum(T.floor(x * 3) + T.sgn(x) + x), x))
    np.testing.assert_array_equal(f(np.array([0.2, -1.5])), [1.0, 1.0])


def test_training_step_with_shared_parameters() -> None:
    """Least squares by gradient descent on shared parameters: the cost goes down to the solution."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 3))
    truth = np.array([1.5, -2.0, 0.5])
    target = data @ truth + 0.3
    w, b = tc.shared(np.zeros(3), "w"), tc.shared(0.0, "b")
    x, y = T.dmatrix("x"), T.dvector("y")
    cost = T.mean((T.dot(x, w) + b - y) ** 2)
    gw, gb = T.grad(cost, [w, b])
    step = tc.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    costs = [float(step(data, target)) for _ in range(300)]
    assert costs[-1] < 1e-6 < costs[0]
    np.testing.assert_allclose(w.get_value(), truth, atol=1e-3)
    np.testing.assert_allclose(b.get_value(), 0.3, atol=1e-3)


def test_second_derivative() -> None:
    x = T.dscalar("x")
    dy = T.grad(x**3 + T.sin(x), x)
    d2y = T.grad(dy, x)
    f = tc.function([x], [dy, d2y])
    first, second = f(0.7)
    np.testing.assert_allclose(first, 3 * 0.49 + np.cos(0.7))
    np.testing.assert_allclose(second, 6 * 0.7 - np.sin(0.7))


def test_gradient_with_respect_to_an_intermediate_and_itself() -> None:
    x = T.dvector("x")
    h = T.exp(x)
    cost = T.sum(h * h)
    f = tc.function([x], [T.grad(cost, h), T.grad(cost, cost)])
    gh, gc = f(np.array([0.0, 1.0]))
    np.testing.assert_allclose(gh, 2 * np.exp([0.0, 1.0]))
    assert gc == 1.0


def test_disconnected_input_raises_names_it_or_gives_zeros() -> None:
    x, y = T.dvector("x"), T.dvector("unused")
    with pytest.raises(TcGradientError, match="does not depend on 'unused'.*disconnected"):
        T.grad(T.sum(x), [x, y])
    gx, gy = T.grad(T.sum(x), [x, y], disconnected_inputs="ignore")
    f = tc.function([x, y], [gx, gy])
    out = f(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(out[1], np.zeros(3))
    with pytest.warns(UserWarning, match="disconnected"):
        T.grad(T.sum(x), [x, y], disconnected_inputs="warn")


def test_bad_costs_and_variables() -> None:
    x, i = T.dvector("x"), T.lscalar("i")
    with pytest.raises(TcGradientError, match="scalar"):
        T.grad(x * 2, x)
    with pytest.raises(TcGradientError, match="only float tensors"):
        T.grad(T.sum(x) * i, i)
    with pytest.raises(tc.TcTypeError, match="not a symbolic variable"):
        T.grad(T.sum(x), 3.0)  # type: ignore[arg-type]
    with pytest.raises(TcGradientError, match="disconnected_inputs must be"):
        T.grad(T.sum(x), x, disconnected_inputs="maybe")


def test_non_differentiable_op_on_the_path_is_named() -> None:
    srng = RandomStreams(seed=1)
    mu = T.dscalar("mu")
    draw = srng.normal((3,), avg=mu)
    with pytest.raises(TcGradientError, match=r"tx\.random_normal.* is not differentiable"):
        T.grad(T.sum(draw), mu)


def test_grad_pass_golden() -> None:
    module = parse_module(
        """module {
  func @f(%x: tensor<3xf64>, %w: tensor<f64>) -> tensor<3xf64> {
    %0 = tx.mul %x, %w : tensor<3xf64>, tensor<f64> -> tensor<3xf64>
    %1 = tx.reduce %0 {axes = [0], keepdims = false, kind = "sum"} : tensor<3xf64> -> tensor<f64>
    %2 = tx.grad %1, %x {disconnected = "raise"} : tensor<f64>, tensor<3xf64> -> tensor<3xf64>
    return %2 : tensor<3xf64>
  }
}"""
    )
    run_pipeline(module, "grad,canonicalize")
    text = print_module(module)
    assert "tx.grad" not in text
    # d/dx sum(x * w) = w spread over x's shape
    assert "tx.fill %x" in text and "tx.mul" in text
    assert tc.ir.run_function(module.functions[0], np.ones(3), np.array(2.5))[0].tolist() == [2.5] * 3


def test_numeric_grad_and_failure_report() -> None:
    (g,) = numeric_grad(lambda a: float(np.sum(a**2)), [np.array([1.0, 2.0])])
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-6)
    with pytest.raises(GradientCheckError, match="disagrees"):
        verify_grad(lambda a: T.floor(a * 10.0) + a, [np.array([0.25, 0.35])], eps=0.1)


def test_rules_that_know_more_sizes_than_the_operand() -> None:
    """dot of a static constant and a `?x?` matrix: the rule's 4x? result is cast to ?x?."""
    x = np.random.default_rng(1).random((6, 4))
    w = T.dmatrix("w")
    f = tc.function([w], T.grad(T.sum(T.dot(T.constant(x), w) ** 2), w))
    value = np.ones((4, 2))
    np.testing.assert_allclose(f(value), 2 * x.T @ (x @ value))


def test_grad_through_dot_when_an_operand_has_a_static_size() -> None:
    """A rule that knows fewer sizes than the operand (dot(g, W.T) is ?x?, x is ?x4)."""
    x = T.tensor("float64", (None, 4), name="x")
    W = T.dmatrix("W")
    y = T.ivector("y")
    (gx,) = [T.grad(T.dot(x, W).sum(), x)]
    assert gx.type.shape == (None, 4)
    data, weights = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    np.testing.assert_allclose(tc.function([x, W], gx)(data, weights), np.tile(weights.sum(1), (3, 1)))
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(x, W)), y).mean()
    f = tc.function([x, W, y], T.grad(cost, [x, W]))
    labels = np.array([0, 1, 1], np.int32)
    verify_grad(
        lambda a: T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(a, weights)), labels).mean(), [data]
    )
    assert [g.shape for g in f(data, weights, labels)] == [(3, 4), (4, 2)]
    with pytest.raises(tc.TcShapeError, match="argument 'W'"):
        f(data, RNG.standard_normal((5, 2)), labels)  # the learned size is still checked


def test_grad_in_tx_through_dot_of_a_parameter_with_a_static_size(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "g.tx"
    source.write_text(
        "shared W: f64[4, 3] = zeros([4, 3])\n"
        "fn gx(x: f64[?, 4], y: i32[?]) -> f64[?, 4] {\n"
        "    return grad(mean(categorical_crossentropy(softmax(dot(x, W)), y)), x)\n"
        "}\n"
    )
    module = tc.compile_file(str(source))
    assert module.gx(np.ones((2, 4)), np.array([0, 1], np.int32)).shape == (2, 4)
