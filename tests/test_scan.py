"""tc.scan in Theano style (the examples of Theano's doc/tutorial/loop.txt among them), each
against a numpy loop computing the same thing; gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend.lower import build_function_ir
from tc.gradient import verify_grad
from tc.ir import parse_module, print_module, run_function
from tc.passes import DEFAULT_PIPELINE, run_pipeline

RNG = np.random.default_rng(7)


def test_power_by_repeated_multiplication() -> None:
    k = T.iscalar("k")
    A = T.vector("A")
    result, updates = tc.scan(
        fn=lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k
    )
    power = tc.function([A, k], result[-1], updates=updates)
    np.testing.assert_allclose(power(np.arange(10.0), 2), np.arange(10.0) ** 2)
    every = tc.function([A, k], result)
    np.testing.assert_allclose(every(np.arange(4.0), 3), [np.arange(4.0) ** p for p in (1, 2, 3)])


def test_polynomial_over_two_sequences() -> None:
    coefficients = T.vector("coefficients")
    x = T.scalar("x")
    components, _ = tc.scan(
        fn=lambda c, power, free_var: c * (free_var**power),
        sequences=[coefficients, T.arange(10)],
        non_sequences=x,
    )
    poly = tc.function([coefficients, x], components.sum())
    assert poly(np.asarray([1.0, 0.0, 2.0]), 3.0) == pytest.approx(19.0)


def test_sum_of_sequence_with_closure_and_shared_weights() -> None:
    X = T.matrix("X")
    W = tc.shared(RNG.standard_normal((3, 4)), name="W")
    b = tc.shared(RNG.standard_normal(4), name="b")
    results, _ = tc.scan(lambda v: T.tanh(T.dot(v, W) + b), sequences=X)
    f = tc.function([X], results)
    x = RNG.standard_normal((5, 3))
    np.testing.assert_allclose(f(x), np.tanh(x @ W.get_value() + b.get_value()), rtol=1e-12)


def _rnn_reference(x: np.ndarray, h0: np.ndarray, W: np.ndarray, U: np.ndarray) -> np.ndarray:
    h, out = h0, []
    for row in x:
        h = np.tanh(row @ W + h @ U)
        out.append(h)
    return np.array(out)


def test_elman_rnn_forward_and_gradient() -> None:
    X, h0 = T.matrix("X"), T.vector("h0")
    W = tc.shared(RNG.standard_normal((3, 4)) * 0.5, name="W")
    U = tc.shared(RNG.standard_normal((4, 4)) * 0.5, name="U")
    hs, _ = tc.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=X, outputs_info=h0)
    cost = (hs**2).sum() + hs[-1].sum()
    f = tc.function([X, h0], [hs, cost, *T.grad(cost, [W, U, h0, X])])
    x, h = RNG.standard_normal((6, 3)), RNG.standard_normal(4)
    out = f(x, h)
    np.testing.assert_allclose(out[0], _rnn_reference(x, h, W.get_value(), U.get_value()), rtol=1e-12)

    def cost_of(w: np.ndarray, u: np.ndarray, h: np.ndarray, x: np.ndarray) -> float:
        hs = _rnn_reference(x, h, w, u)
        return float((hs**2).sum() + hs[-1].sum())

    point = [W.get_value(), U.get_value(), h, x]
    for index, grad in enumerate(out[2:]):
        np.testing.assert_allclose(grad, _numeric(cost_of, point, index), rtol=1e-5, atol=1e-7)


def _numeric(fn, point: list[np.ndarray], index: int, eps: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    grad = np.zeros_like(point[index])
    for position in np.ndindex(grad.shape):
        up = [p.copy() for p in point]
        down = [p.copy() for p in point]
        up[index][position] += eps
        down[index][position] -= eps
        grad[position] = (fn(*up) - fn(*down)) / (2 * eps)
    return grad


def test_fibonacci_with_two_taps_and_its_gradient() -> None:
    x0 = T.vector("x0")
    a = T.scalar("a")
    seq, _ = tc.scan(
        lambda x_tm2, x_tm1, a: a * x_tm1 + x_tm2,
        outputs_info=dict(initial=x0, taps=[-2, -1]),
        non_sequences=a,
        n_steps=6,
    )
    f = tc.function([x0, a], seq)
    values = [1.0, 1.0]
    for _ in range(6):
        values.append(0.5 * values[-1] + values[-2])
    np.testing.assert_allclose(f(np.array([1.0, 1.0]), 0.5), values[2:])
    verify_grad(
        lambda x0, a: tc.scan(
            lambda p, q, a: T.sin(a * q) + p,
            outputs_info=dict(initial=x0, taps=[-2, -1]),
            non_sequences=a,
            n_steps=4,
        )[0].sum(),
        [np.array([0.3, -0.2]), np.array(0.7)],
    )


def test_sequence_taps_and_outputs_without_state() -> None:
    x = T.vector("x")
    (diffs, running), _ = tc.scan(
        lambda prev, cur, nxt, total: (nxt - prev, total + cur),
        sequences=dict(input=x, taps=[-1, 0, 1]),
        outputs_info=[None, T.constant(0.0)],
    )
    f = tc.function([x], [diffs, running])
    v = np.array([1.0, 4.0, 9.0, 16.0, 25.0])
    d, r = f(v)
    np.testing.assert_allclose(d, v[2:] - v[:-2])
    np.testing.assert_allclose(r, np.cumsum(v[1:-1]))
    verify_grad(
        lambda x: tc.scan(
            lambda p, c, n: T.sin(p * n) + c, sequences=dict(input=x, taps=[-1, 0, 1]), outputs_info=[None]
        )[0].sum(),
        [RNG.standard_normal(6)],
    )


def test_go_backwards_iterates_the_sequence_in_reverse() -> None:
    x = T.vector("x")
    acc, _ = tc.scan(lambda v, s: s * 2 + v, sequences=x, outputs_info=T.constant(0.0), go_backwards=True)
    f = tc.function([x], acc)
    total, expected = 0.0, []
    for value in [3.0, 2.0, 1.0]:
        total = total * 2 + value
        expected.append(total)
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), expected)
    verify_grad(
        lambda x: tc.scan(
            lambda v, s: T.tanh(s * 2 + v), sequences=x, outputs_info=T.constant(0.1), go_backwards=True
        )[0].sum(),
        [RNG.standard_normal(5)],
    )


def test_jacobian_and_hessian_through_scan() -> None:
    """doc/tutorial/gradients.txt: the Jacobian row by row, and the Hessian from it."""
    x = T.dvector("x")
    y = x**2
    J, _ = tc.scan(lambda i, y, x: T.grad(y[i], x), sequences=T.arange(y.shape[0]), non_sequences=[y, x])
    f = tc.function([x], J)
    np.testing.assert_allclose(f(np.array([4.0, 4.0])), [[8.0, 0.0], [0.0, 8.0]])
    cost = (x**3).sum()
    gy = T.grad(cost, x)
    H, _ = tc.scan(lambda i, gy, x: T.grad(gy[i], x), sequences=T.arange(gy.shape[0]), non_sequences=[gy, x])
    h = tc.function([x], H)
    np.testing.assert_allclose(h(np.array([1.0, 2.0])), np.diag([6.0, 12.0]))


def test_random_draws_inside_the_step_differ_per_step_and_advance_the_stream() -> None:
    from tc.random import RandomStreams

    srng = RandomStreams(seed=3)
    h = T.vector("h")
    samples, updates = tc.scan(
        lambda prev: srng.binomial(size=(4,), p=0.5, dtype="float64") + 0 * prev, outputs_info=h, n_steps=20
    )
    f = tc.function([h], samples, updates=updates)
    first = f(np.zeros(4))
    assert first.shape == (20, 4)
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert len({tuple(row) for row in first}) > 3  # not the same row 20 times
    second = f(np.zeros(4))
    assert not np.array_equal(first, second)  # the stream advanced past the scan's draws


def test_state_must_keep_its_dtype() -> None:
    x = T.fvector("x")
    with pytest.raises(tc.TcTypeError, match="keep its dtype and rank"):
        tc.scan(lambda h: T.cast(h, "float64") * 2, outputs_info=x, n_steps=3)


def test_too_few_rows_for_n_steps_is_a_located_error_before_the_call() -> None:
    x = T.vector("x")
    out, _ = tc.scan(lambda v: v * 2, sequences=x, n_steps=5)
    f = tc.function([x], out)
    with pytest.raises(tc.TcShapeError, match="sequence #0 has 3 rows but the scan runs 5 steps"):
        f(np.ones(3))


def test_scan_ir_prints_parses_and_interprets() -> None:
    X, h0 = T.matrix("X"), T.vector("h0")
    W = T.matrix("W")
    hs, _ = tc.scan(lambda x, h, w: T.tanh(x + T.dot(h, w)), sequences=X, outputs_info=h0, non_sequences=W)
    f = tc.function([X, h0, W], hs)

    module = build_function_ir("f", [X, h0, W], [hs])
    printed = print_module(module)
    assert "tx.scan" in printed
    again = parse_module(printed)
    assert print_module(again) == printed
    run_pipeline(again, DEFAULT_PIPELINE)
    assert "kernel.elementwise" in print_module(again)  # fused inside the step
    x, h, w = RNG.standard_normal((4, 3)), RNG.standard_normal(3), RNG.standard_normal((3, 3))
    (interpreted,) = run_function(again.function("f"), x, h, w)
    np.testing.assert_allclose(interpreted, f(x, h, w), rtol=1e-12)


def test_nested_scans_and_their_gradient() -> None:
    M = T.matrix("M")

    def row_cumsum(row):  # type: ignore[no-untyped-def]
        return tc.scan(lambda v, s: s + v, sequences=row, outputs_info=T.constant(0.0))[0]

    out, _ = tc.scan(row_cumsum, sequences=M)
    m = RNG.standard_normal((3, 4))
    np.testing.assert_allclose(tc.function([M], out)(m), np.cumsum(m, axis=1))
    verify_grad(
        lambda M: tc.scan(
            lambda r: tc.scan(lambda v, s: T.sin(s + v), sequences=r, outputs_info=T.constant(0.0))[0],
            sequences=M,
        )[0].sum(),
        [m],
    )


def test_zero_steps_and_the_gradient_of_the_initial_value() -> None:
    x, n = T.vector("x"), T.lscalar("n")
    out, _ = tc.scan(lambda s: s * 2, outputs_info=x, n_steps=n)
    f = tc.function([x, n], [out, T.grad(out.sum() + x.sum(), x)])
    empty, grad = f(np.ones(3), 0)
    assert empty.shape == (0, 3)
    np.testing.assert_allclose(grad, np.ones(3))
    _, grad = f(np.ones(3), 2)
    np.testing.assert_allclose(grad, [7.0, 7.0, 7.0])  # 1 + d(2x + 4x)/dx


def test_a_shared_variable_the_step_updates_is_carried_and_returned_in_updates() -> None:
    x = T.vector("x")
    acc = tc.shared(0.0, name="acc")
    doubled, updates = tc.scan(lambda v: (v * 2, {acc: acc + v}), sequences=x)
    f = tc.function([x], doubled, updates=updates)
    np.testing.assert_allclose(f(np.arange(4.0)), [0.0, 2.0, 4.0, 6.0])
    assert acc.get_value() == 6.0


def test_second_order_gradient_through_a_scan() -> None:
    W, h0 = T.matrix("W"), T.vector("h0")
    hs, _ = tc.scan(lambda h, W: T.tanh(T.dot(h, W)), outputs_info=h0, non_sequences=W, n_steps=3)
    gW = T.grad(hs.sum(), W)
    hessian_term = tc.function([W, h0], T.grad((gW**2).sum(), W))
    first = tc.function([W, h0], gW)
    w, h = RNG.standard_normal((3, 3)) * 0.5, RNG.standard_normal(3)
    expected = _numeric(lambda w: float((first(w, h) ** 2).sum()), [w], 0, eps=1e-5)
    np.testing.assert_allclose(hessian_term(w, h), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("k", [-1, 0, 2, 10])
def test_truncate_gradient_backpropagates_through_the_last_k_steps(k: int) -> None:
    X, h0, W = T.matrix("X"), T.vector("h0"), T.matrix("W")
    hs, _ = tc.scan(
        lambda x, h, W: T.tanh(x + T.dot(h, W)),
        sequences=X, outputs_info=h0, non_sequences=W, truncate_gradient=k,
    )  # fmt: skip
    f = tc.function([X, h0, W], T.grad(hs[-1].sum(), [X, h0, W]))
    x, h, w = RNG.standard_normal((5, 3)), RNG.standard_normal(3), RNG.standard_normal((3, 3)) * 0.5
    states = [h]
    for row in x:
        states.append(np.tanh(row + states[-1] @ w))
    back, gx, gw = np.ones(3), np.zeros_like(x), np.zeros_like(w)
    steps = 5 if k < 0 else min(5, k)
    for t in range(4, 4 - steps, -1):
        da = back * (1 - states[t + 1] ** 2)
        gx[t], back = da, da @ w.T
        gw += np.outer(states[t], da)
    expected = [gx, back if steps == 5 else np.zeros(3), gw]
    for found, want in zip(f(x, h, w), expected, strict=True):
        np.testing.assert_allclose(found, want, rtol=1e-10, atol=1e-12)


def test_negative_step_count_is_an_error_before_the_call() -> None:
    x, n = T.vector("x"), T.lscalar("n")
    out, _ = tc.scan(lambda s: s * 2, outputs_info=x, n_steps=n)
    f = tc.function([x, n], out)
    with pytest.raises(tc.TcValueError, match="number of steps must not be negative, found -1"):
        f(np.ones(2), -1)


def test_an_index_out_of_range_in_a_step_fails_cleanly_and_changes_no_state() -> None:
    """x[i] with i from a sequence is checked by the step's code; the failure is the function's,
    named with the op, and neither the shared variable nor the random stream moves."""
    from tc.random import RandomStreams

    table = T.vector("table")
    idx = T.lvector("idx")
    total = tc.shared(0.0, name="total")
    noise = RandomStreams(5).uniform(())
    picked, updates = tc.scan(lambda i: table[i] + 0 * noise, sequences=idx)
    f = tc.function([table, idx], picked, updates=[(total, total + picked.sum())])
    np.testing.assert_allclose(f(np.arange(4.0), [3, 0, -1]), [3.0, 0.0, 3.0])
    assert total.get_value() == 6.0
    states = [s.get_value() for s, _ in updates.items()]
    with pytest.raises(tc.TcIndexError, match="index 4 is out of bounds for axis 0 with size 4"):
        f(np.arange(4.0), [1, 4])
    assert total.get_value() == 6.0
    assert all(np.array_equal(s.get_value(), v) for s, v in zip(updates, states, strict=True))
