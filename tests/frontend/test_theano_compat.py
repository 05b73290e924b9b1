"""Theano behaviours the deeplearning.net tutorials rely on: truth values, n-d dot and
tensordot, softmax of a vector, plural constructors, eval, join, specify_shape, xlogx,
reductions' dtype, config.warn, scalar.upcast and pp; each checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T

RNG = np.random.default_rng(3)


# -- bool(variable) -------------------------------------------------------------------


def test_a_variable_is_true_as_in_theano() -> None:
    W = T.dmatrix("W")
    assert bool(W) and bool(W * 2) and bool(T.constant(0.0)) and bool(W.sum())
    assert (W if W else None) is W  # `if not W:` tests for None, as tutorial code does


@pytest.mark.parametrize(
    "build", [lambda x: x < 1, lambda x: x >= 1, lambda x: T.eq(x, 1), lambda x: T.neq(x, 1)]
)
def test_a_comparison_has_no_truth_value(build) -> None:
    x = T.dvector("x")
    with pytest.raises(tc.TcTypeError, match="no truth value"):
        bool(build(x))
    with pytest.raises(TypeError):
        if 0 < x < 1:  # Python's (0 < x) and (x < 1): refused rather than silently wrong
            pass


# -- dot and tensordot -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((2, 3, 4), (4, 5)),
        ((2, 3, 4), (4,)),
        ((4,), (3, 4, 5)),
        ((2, 3, 4), (3, 2, 4, 6)),
        ((3, 4), (2, 4, 5)),
    ],
)
def test_dot_of_nd_tensors_is_numpys(a_shape, b_shape) -> None:
    A, B = RNG.standard_normal(a_shape), RNG.standard_normal(b_shape)
    a, b = T.tensor("float64", (None,) * len(a_shape)), T.tensor("float64", (None,) * len(b_shape))
    out = tc.function([a, b], T.dot(a, b))(A, B)
    np.testing.assert_allclose(out, np.dot(A, B), rtol=1e-12)


def test_dot_of_3d_by_matrix_has_a_gradient() -> None:
    # lstm.py: T.dot(state_below, W) with a (steps, batch, n) tensor.
    a, w = T.dtensor3("a"), T.dmatrix("w")
    A, Wv = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 5))
    ga, gw = tc.function([a, w], T.grad(T.dot(a, w).sum(), [a, w]))(A, Wv)
    np.testing.assert_allclose(ga, np.broadcast_to(Wv.sum(1), A.shape))
    np.testing.assert_allclose(gw, np.broadcast_to(A.sum((0, 1))[:, None], Wv.shape))
    tc.gradient.verify_grad(lambda p, q: T.dot(p, q), [A, Wv])


@pytest.mark.parametrize("axes", [0, 1, 2, [[0, 1], [1, 0]], [[2], [0]], ([-1], [2]), [1, 0]])
def test_tensordot_is_numpys(axes) -> None:
    A, B = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((3, 2, 4))
    a, b = T.dtensor3("a"), T.dtensor3("b")
    if axes == 2:
        B = RNG.standard_normal((3, 4, 5))
    if axes == [[2], [0]]:
        B = RNG.standard_normal((4, 2))
        b = T.dmatrix("b")
    if axes == 1:
        B = RNG.standard_normal((4, 6))
        b = T.dmatrix("b")
    out = tc.function([a, b], T.tensordot(a, b, axes))(A, B)
    np.testing.assert_allclose(out, np.tensordot(A, B, axes), rtol=1e-12)


def test_tensordot_over_every_axis_is_a_scalar_with_a_gradient() -> None:
    a, b = T.dtensor3("a"), T.dtensor3("b")
    A, B = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 4))
    out = T.tensordot(a, b, 3)
    assert out.ndim == 0
    value, ga = tc.function([a, b], [out, T.grad(out, a)])(A, B)
    np.testing.assert_allclose(value, np.tensordot(A, B, 3))
    np.testing.assert_allclose(ga, B)


def test_tensordot_rejects_bad_axes() -> None:
    a, b = T.dtensor3("a"), T.dmatrix("b")
    with pytest.raises(tc.TcValueError, match="between 0 and"):
        T.tensordot(a, b, 3)
    with pytest.raises(tc.TcValueError, match="as many axes"):
        T.tensordot(a, b, [[0, 1], [0]])
    with pytest.raises(tc.TcValueError, match="out of range"):
        T.tensordot(a, b, [[5], [0]])


# -- softmax of a vector -----------------------------------------------------------------


def test_softmax_of_a_vector_is_a_row() -> None:
    v = T.dvector("v")
    values = np.array([1.0, 2.0, -0.5])
    expected = np.exp(values) / np.exp(values).sum()
    sm, lsm = T.nnet.softmax(v), T.nnet.log_softmax(v)
    assert sm.broadcastable == (True, False) and lsm.broadcastable == (True, False)
    out, log_out = tc.function([v], [sm, lsm])(values)
    np.testing.assert_allclose(out, expected[None, :])
    np.testing.assert_allclose(log_out, np.log(expected)[None, :])


# -- constructors, eval, join, specify_shape ---------------------------------------------


def test_plural_constructors() -> None:
    a, b = T.dmatrices("a", "b")
    assert (a.name, b.name, a.dtype, a.ndim) == ("a", "b", "float64", 2)
    one = T.dscalars("x")  # one name: one Variable, as Theano's _multi
    assert isinstance(one, T.Variable) and one.name == "x" and one.ndim == 0
    unnamed = T.fvectors(3)
    assert len(unnamed) == 3 and all(v.dtype == "float32" and v.ndim == 1 for v in unnamed)
    assert [v.dtype for v in T.imatrices("p", "q")] == ["int32", "int32"]
    assert T.scalars("u", "v")[0].dtype == tc.config.floatX
    assert T.vectors("u", "v")[1].ndim == 1 and T.matrices("m", "n")[0].ndim == 2
    assert T.ltensor3s("t", "s")[0].dtype == "int64" and T.frows("r", "s")[0].broadcastable == (True, False)
    with pytest.raises(tc.TcTypeError, match="takes names"):
        T.dvectors("a", 3)


def test_eval_compiles_once_per_set_of_inputs() -> None:
    x, y = T.dvectors("x", "y")
    z = x * 2 + 1
    np.testing.assert_allclose(z.eval({x: np.array([1.0, 2.0])}), [3.0, 5.0])
    np.testing.assert_allclose(z.eval({x: np.array([0.0])}), [1.0])
    assert len(z._eval_cache) == 1
    np.testing.assert_allclose((x + y).eval({x: np.ones(2), y: np.full(2, 2.0)}), [3.0, 3.0])
    assert (T.constant(2.0) * 3).eval() == 6.0
    with pytest.raises(tc.TcTypeError, match="keys"):
        z.eval({"x": np.ones(2)})


def test_join_concatenates_along_the_axis_given_first() -> None:
    a, b = T.dmatrices("a", "b")
    A, B = np.ones((2, 2)), np.zeros((2, 3))
    np.testing.assert_allclose(tc.function([a, b], T.join(1, a, b))(A, B), np.concatenate([A, B], 1))
    np.testing.assert_allclose(tc.function([a], T.join(0, a))(A), A)


def test_specify_shape_checks_the_sizes_at_run_time() -> None:
    x = T.dmatrix("x")
    y = T.specify_shape(x, (2, 3))
    assert y.type.shape == (2, 3)
    f = tc.function([x], y * 2)
    np.testing.assert_allclose(f(np.ones((2, 3))), np.full((2, 3), 2.0))
    with pytest.raises(tc.TcShapeError, match="size 3 on axis 0"):
        f(np.ones((3, 3)))
    assert T.specify_shape(x, x.shape) is x  # symbolic sizes: nothing to learn
    with pytest.raises(tc.TcValueError, match="rank 2"):
        T.specify_shape(x, (2,))
    with pytest.raises(tc.TcShapeError, match="cannot have size 4"):
        T.specify_shape(y, (4, 3))


# -- xlogx, reductions' dtype -------------------------------------------------------------


def test_xlogx_and_xlogy0() -> None:
    from tc.tensor.xlogx import xlogx, xlogy0

    assert T.xlogx.xlogx is xlogx
    x, y = T.dvectors("x", "y")
    X, Y = np.array([0.0, 0.5, 1.0, 2.0]), np.array([3.0, 0.25, 0.0, 2.0])
    out, out_y, grad = tc.function([x, y], [xlogx(x), xlogy0(x, y), T.grad(xlogx(x).sum(), x)])(X, Y)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(out, np.where(X == 0, 0.0, X * np.log(np.where(X == 0, 1, X))))
        np.testing.assert_allclose(out_y[[0, 1, 3]], [0.0, 0.5 * np.log(0.25), 2 * np.log(2.0)])
    assert out_y[2] == -np.inf  # 1 * log(0)
    np.testing.assert_allclose(grad[1:], np.log(X[1:]) + 1)


def test_sum_and_mean_take_a_dtype() -> None:
    m = T.bmatrix("m")
    M = np.full((3, 100), 100, dtype=np.int8)
    s32 = m.sum(dtype="int32")
    mean32 = m.mean(axis=1, dtype="float32")
    acc = T.sum(m, axis=0, acc_dtype="int64")
    assert (s32.dtype, mean32.dtype) == ("int32", "float32")
    total, means, columns = tc.function([m], [s32, mean32, acc])(M)
    assert total == np.sum(M, dtype=np.int32) == 30000
    np.testing.assert_allclose(means, np.full(3, 100.0))
    np.testing.assert_array_equal(columns, M.sum(0, dtype=np.int64).astype(columns.dtype))
    x = T.fvector("x")
    assert x.sum(dtype="float64").dtype == "float64" and x.prod(dtype="float64").dtype == "float64"
    assert x.sum(0, keepdims=True).ndim == 1


# -- config.warn, scalar.upcast, pp, Mode --------------------------------------------------


def test_config_warn_takes_any_flag() -> None:
    tc.config.warn.sum_div_dimshuffle_bug = False
    assert tc.config.warn.sum_div_dimshuffle_bug is False
    tc.config.warn.round = True
    assert tc.config.warn.round is True
    assert tc.config.warn.never_set is False


def test_scalar_upcast_is_numpys() -> None:
    assert tc.scalar.upcast("int8", "float32") == "float32"
    assert tc.scalar.upcast("int32", "float32") == np.result_type(np.int32, np.float32).name == "float64"
    assert tc.scalar.upcast("float32") == "float32"
    with pytest.raises(tc.TcTypeError, match="unsupported dtype"):
        tc.scalar.upcast("floaty")


def test_pp_prints_infix() -> None:
    x, b = T.dmatrix("x"), T.drow("b")
    assert tc.pp(T.tanh(x * 2 + b)) == "tanh(((x * 2.0) + b))"
    assert tc.printing.pprint(-x < 3) == "(-x < 3.0)"
    assert tc.pp(x.sum(axis=1)) == "sum(x, axes=[1])"
    assert tc.pp(T.grad((x**2).sum(), x)).startswith("grad(")
    with pytest.raises(tc.TcTypeError, match="pp takes"):
        tc.pp(3)


def test_function_takes_a_mode() -> None:
    x = T.dvector("x")
    f = tc.function([x], x.sum(), mode=tc.Mode(linker="py", optimizer="fast_compile"))
    assert f(np.array([1.0, 2.0])) == 3.0
