"""tc.ifelse.ifelse in Theano style (doc/tutorial/conditions.txt among the examples): only the
branch the condition picks runs; lists of outputs, captured and shared variables, gradients
against finite differences, ifelse inside a scan step, the IR's text form and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend.lower import build_function_ir
from tc.gradient import verify_grad
from tc.ifelse import ifelse
from tc.ir import parse_module, print_module, run_function
from tc.ir.verifier import verify_module
from tc.passes import DEFAULT_PIPELINE, run_pipeline

RNG = np.random.default_rng(11)


def test_conditions_tutorial_ifelse_and_switch_agree_both_ways() -> None:
    a, b = T.scalars("a", "b")
    x, y = T.matrices("x", "y")
    z_switch = T.switch(T.lt(a, b), T.mean(x), T.mean(y))
    z_lazy = ifelse(T.lt(a, b), T.mean(x), T.mean(y))
    f_switch = tc.function([a, b, x, y], z_switch)
    f_lazyifelse = tc.function([a, b, x, y], z_lazy)
    big_mat1, big_mat2 = RNG.random((300, 100)), RNG.random((300, 100)) + 1.0
    for val1, val2 in [(0.0, 1.0), (1.0, 0.0)]:
        expected = big_mat1.mean() if val1 < val2 else big_mat2.mean()
        assert f_switch(val1, val2, big_mat1, big_mat2) == pytest.approx(expected)
        assert f_lazyifelse(val1, val2, big_mat1, big_mat2) == pytest.approx(expected)


def test_only_the_taken_branch_runs_an_out_of_range_index_is_harmless_elsewhere() -> None:
    x, i = T.vector("x"), T.iscalar("i")
    guarded = tc.function([x, i], ifelse(T.lt(i, x.shape[0]), x[i], T.constant(-1.0)))
    assert guarded(np.arange(3.0), 1) == 1.0
    assert guarded(np.arange(3.0), 7) == -1.0  # x[7] is never computed

    flag = T.iscalar("flag")
    f = tc.function([x, i, flag], ifelse(flag, x[i], x[0] * 0))
    assert f(np.arange(3.0), 5, 0) == 0.0
    with pytest.raises(tc.TcIndexError, match="index 5 is out of bounds for axis 0 with size 3"):
        f(np.arange(3.0), 5, 1)
    # The interpreter runs only the taken branch too.
    module = build_function_ir("g", [x, i, flag], [ifelse(flag, x[i], x[0] * 0)])
    assert run_function(module.function("g"), np.arange(3.0), 5, 0)[0] == 0.0
    with pytest.raises(tc.TcIndexError):
        run_function(module.function("g"), np.arange(3.0), 5, 1)


def test_lists_and_tuples_of_outputs_keep_their_structure() -> None:
    c, x, y = T.iscalar("c"), T.vector("x"), T.vector("y")
    as_list = ifelse(c, [x + y, T.sum(x)], [x - y, T.sum(y)])
    as_tuple = ifelse(c, (x * 2,), (y * 3,))
    assert isinstance(as_list, list) and len(as_list) == 2
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 1
    f = tc.function([c, x, y], [*as_list, *as_tuple])
    xv, yv = RNG.random(4), RNG.random(4)
    for cv, (a, s, t) in [(1, (xv + yv, xv.sum(), xv * 2)), (0, (xv - yv, yv.sum(), yv * 3))]:
        out = f(cv, xv, yv)
        np.testing.assert_allclose(out[0], a)
        assert out[1] == pytest.approx(s)
        np.testing.assert_allclose(out[2], t)


def test_branches_read_different_variables_and_shared_weights() -> None:
    c = T.scalar("c")
    x, y, z = T.vector("x"), T.vector("y"), T.matrix("z")
    W = tc.shared(RNG.standard_normal((3, 4)), name="W")
    b = tc.shared(RNG.standard_normal(4), name="b")
    out = ifelse(T.gt(c, 0.5), T.dot(x, W) + b, T.dot(y, z) * 2.0, name="out")
    assert out.name == "out"
    f = tc.function([c, x, y, z], out)
    xv, yv, zv = RNG.random(3), RNG.random(2), RNG.random((2, 4))
    np.testing.assert_allclose(f(1.0, xv, yv, zv), xv @ W.get_value() + b.get_value())
    np.testing.assert_allclose(f(0.0, xv, yv, zv), (yv @ zv) * 2.0)
    W.set_value(np.ones((3, 4)))  # the function reads the shared variable's current value
    np.testing.assert_allclose(f(1.0, xv, yv, zv), xv @ np.ones((3, 4)) + b.get_value())


def test_condition_of_any_dtype_and_python_numbers_as_a_branch() -> None:
    x = T.vector("x")
    for cond, values in [(T.scalar("c"), (0.0, -0.5, np.nan)), (T.bscalar("c"), (0, 3, -1))]:
        f = tc.function([cond, x], ifelse(cond, x.sum() * 2, 0))  # 0 takes the other side's dtype
        assert f(values[0], np.ones(2)) == 0.0
        assert f(values[1], np.ones(2)) == 4.0
        assert f(values[2], np.ones(2)) == 4.0  # NaN is true too, as numpy's bool(nan)


def test_nested_ifelse() -> None:
    a, x = T.scalar("a"), T.vector("x")
    inner = ifelse(T.gt(a, 1.0), T.exp(x), T.sin(x))
    out = ifelse(T.gt(a, 0.0), inner * 2, -x)
    f = tc.function([a, x], out)
    xv = RNG.random(3)
    np.testing.assert_allclose(f(2.0, xv), np.exp(xv) * 2)
    np.testing.assert_allclose(f(0.5, xv), np.sin(xv) * 2)
    np.testing.assert_allclose(f(-1.0, xv), -xv)


@pytest.mark.parametrize("take", [1.0, -1.0])
def test_gradient_matches_finite_differences_for_each_branch(take: float) -> None:
    def fun(x: T.Variable, y: T.Variable, W: T.Variable) -> T.Variable:
        then = T.tanh(T.dot(x, W)) * y
        other = (x**2).sum() * y  # W gets no gradient from this branch
        return ifelse(T.gt(take, 0), then, other)

    verify_grad(fun, [RNG.random(3), RNG.random(4), RNG.standard_normal((3, 4))])


def test_gradient_of_a_captured_value_read_by_the_condition_and_a_branch() -> None:
    x = T.vector("x")
    s = x.sum()
    cost = ifelse(T.gt(s, 0), s**2, T.sum(x * 3.0))
    f = tc.function([x], T.grad(cost, x))
    xv = RNG.random(3)
    np.testing.assert_allclose(f(xv), np.full(3, 2 * xv.sum()))
    np.testing.assert_allclose(f(-xv), np.full(3, 3.0))


def test_ifelse_inside_a_scan_step_and_its_gradient() -> None:
    X, h0 = T.vector("X"), T.scalar("h0")
    hs, _ = tc.scan(lambda v, acc: ifelse(T.gt(v, 0), acc + v, acc * 0.5), sequences=X, outputs_info=h0)
    f = tc.function([X, h0], hs)
    xv, acc, expected = np.array([1.0, -2.0, 3.0, -1.0]), 1.0, []
    for v in xv:
        acc = acc + v if v > 0 else acc * 0.5
        expected.append(acc)
    np.testing.assert_allclose(f(xv, 1.0), expected)

    def fun(X: T.Variable, h0: T.Variable) -> T.Variable:
        step = lambda v, acc: ifelse(T.gt(v, 0), acc * v, T.tanh(acc))  # noqa: E731
        return tc.scan(step, sequences=X, outputs_info=h0)[0]

    verify_grad(fun, [xv, np.array(0.7)])


def test_ifelse_ir_prints_parses_and_interprets() -> None:
    c, x, y = T.iscalar("c"), T.vector("x"), T.vector("y")
    out = ifelse(c, [T.exp(x), x.sum()], [y * 2, y.sum()])
    f = tc.function([c, x, y], out)
    module = build_function_ir("f", [c, x, y], out)
    printed = print_module(module)
    assert "tx.ifelse" in printed
    again = parse_module(printed)
    assert print_module(again) == printed
    run_pipeline(again, DEFAULT_PIPELINE)
    optimised = print_module(again)
    assert "kernel.elementwise" in optimised  # fused inside the branches
    assert print_module(parse_module(optimised)) == optimised
    xv, yv = RNG.random(3), RNG.random(3)
    for cv in (0, 1):
        for interpreted, native in zip(
            run_function(again.function("f"), cv, xv, yv), f(cv, xv, yv), strict=True
        ):
            np.testing.assert_allclose(interpreted, native, rtol=1e-12)


def test_a_non_scalar_condition_is_a_located_type_error() -> None:
    x = T.vector("x")
    with pytest.raises(tc.TcTypeError, match=r"test_ifelse\.py:\d+.*condition must be a scalar"):
        ifelse(x, x, x)


def test_branches_of_different_dtype_rank_or_count_are_located_errors() -> None:
    c, x = T.scalar("c"), T.vector("x")
    with pytest.raises(tc.TcTypeError, match=r"test_ifelse\.py:\d+.*same dtype and rank"):
        ifelse(c, x, T.fvector("f"))
    with pytest.raises(tc.TcTypeError, match=r"test_ifelse\.py:\d+.*same dtype and rank"):
        ifelse(c, x, T.matrix("m"))
    with pytest.raises(tc.TcValueError, match=r"test_ifelse\.py:\d+.*2 value\(s\) but the else branch 1"):
        ifelse(c, [x, x], [x])


def test_branch_shapes_that_differ_at_run_time_fail_before_the_call() -> None:
    c, x, y = T.scalar("c"), T.vector("x"), T.vector("y")
    f = tc.function([c, x, y], ifelse(c, x * 2, y * 3))
    np.testing.assert_allclose(f(1.0, np.ones(3), np.ones(3)), [2.0, 2.0, 2.0])
    with pytest.raises(tc.TcShapeError, match=r"output #0 has shape \(3,\) in the then branch but \(4,\)"):
        f(1.0, np.ones(3), np.ones(4))
    with pytest.raises(tc.TcShapeError, match=r"test_ifelse\.py:\d+.*tensor<3xf64> in the then branch"):
        ifelse(c, T.zeros((3,)), T.zeros((4,)))


_BAD_TEXT = """module {
  func @f(%c: tensor<bool>, %x: tensor<?xf64>) -> tensor<?xf64> {
    %r = tx.ifelse %c, %x : tensor<bool>, tensor<?xf64> -> tensor<?xf64> ({
    ^bb0(%a: tensor<3xf64>):
      return %a : tensor<3xf64>
    },{
    ^bb0(%b: tensor<?xf64>):
      return %b : tensor<?xf64>
    })
    return %r : tensor<?xf64>
  }
}
"""


def test_the_verifier_rejects_bad_ifelse_text() -> None:
    with pytest.raises(tc.TcVerificationError, match="the then branch takes"):
        verify_module(parse_module(_BAD_TEXT))
    scalar = _BAD_TEXT.replace("tensor<3xf64>", "tensor<?xf64>")
    verify_module(parse_module(scalar))
    vector = scalar.replace("tensor<bool>", "tensor<2xbool>")
    with pytest.raises(tc.TcVerificationError, match="condition must be a scalar"):
        verify_module(parse_module(vector))
