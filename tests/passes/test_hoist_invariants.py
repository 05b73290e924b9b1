"""Loop-invariant code motion out of scan steps (passes/hoist_invariants.py)."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.compile import compile_ir_module
from tc.ir import parse_module
from tc.ir.ops.scan import Scan
from tc.passes import run_pipeline

RNG = np.random.default_rng(11)


def _scan_of(f: tc.Function) -> Scan:
    return next(op for op in f.ir_function().body.ops if isinstance(op, Scan))


def test_what_the_step_computes_from_non_sequences_alone_moves_before_the_loop() -> None:
    X, h0, U, c = T.tensor3("X"), T.matrix("h0"), T.matrix("U"), T.vector("c")
    hs, _ = tc.scan(
        lambda x, h, U, c: T.tanh(x + T.dot(h, U.T * T.exp(c))) * 0.5,
        sequences=X,
        outputs_info=h0,
        non_sequences=[U, c],
    )
    f = tc.function([X, h0, U, c], hs)
    scan = _scan_of(f)
    inner = [op.name for op in scan.body.block.ops]
    assert inner.count("tx.dot") == 1 and "tx.dimshuffle" not in inner and "tx.exp" not in inner
    weight = scan.operands[-1].owner  # U.T * exp(c): one new non-sequence, made before the loop
    assert weight is not None and weight.parent is scan.parent
    x, h, u, cv = (RNG.standard_normal(s) for s in [(30, 5, 6), (5, 6), (6, 6), (6,)])
    got = f(x, h, u, cv)
    expected = []
    for row in x:
        h = np.tanh(row + h @ (u.T * np.exp(cv))) * 0.5
        expected.append(h)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# A step that gathers rows of a non-sequence (the frontend builds such expressions outside the
# step already; a .tx model or a pass may not).
GATHERING_STEP = """
module {
  func @f(%h0: tensor<?xf64>, %M: tensor<?x?xf64>, %rows: tensor<?xi32>, %n: tensor<i64>) -> tensor<?x?xf64> {
    %0 = tx.dimshuffle %h0 {pattern = [-1, 0]} : tensor<?xf64> -> tensor<1x?xf64>
    %1 = tx.scan %n, %0, %M, %rows {sequences = 0, tap_counts = [1], taps = [-1]}
        : tensor<i64>, tensor<1x?xf64>, tensor<?x?xf64>, tensor<?xi32> -> tensor<?x?xf64> ({
    ^bb0(%h: tensor<?xf64>, %m: tensor<?x?xf64>, %r: tensor<?xi32>):
      %mt = tx.dimshuffle %m {pattern = [1, 0]} : tensor<?x?xf64> -> tensor<?x?xf64>
      %g = tx.gather %mt, %r : tensor<?x?xf64>, tensor<?xi32> -> tensor<?x?xf64>
      %s = tx.reduce %g {axes = [0], keepdims = false, kind = "sum"} : tensor<?x?xf64> -> tensor<?xf64>
      %next = tx.add %h, %s : tensor<?xf64>
      return %next : tensor<?xf64>
    })
    return %1 : tensor<?x?xf64>
  }
}
"""


def test_an_invariant_gather_stays_in_the_step_where_no_step_runs_it() -> None:
    """M^T[rows] checks its indices when it runs: moved before the loop, a scan of no steps
    would fail on indices its step never reads. The transpose before it moves out."""
    module = parse_module(GATHERING_STEP)
    run_pipeline(module, ["canonicalize"])
    scan = next(op for op in module.function("f").body.ops if isinstance(op, Scan))
    inner = [op.name for op in scan.body.block.ops]
    assert "tx.gather" in inner and "tx.dimshuffle" not in inner
    f = compile_ir_module(parse_module(GATHERING_STEP))["f"]
    m, h = RNG.standard_normal((4, 3)), np.zeros(4)
    assert f(h, m, np.array([0, 7], np.int32), 0).shape == (0, 4)
    row_sum = m.T[[0, 2]].sum(axis=0)
    np.testing.assert_allclose(f(h, m, np.array([0, 2], np.int32), 2), [row_sum, 2 * row_sum])
    with pytest.raises(tc.TcError):
        f(h, m, np.array([0, 7], np.int32), 2)


def test_the_rnn_gradient_reads_one_transposed_weight_laid_out_before_its_loop() -> None:
    X, h0, U = T.tensor3("X"), T.matrix("h0"), T.matrix("U")
    hs, _ = tc.scan(lambda x, h, U: T.tanh(x + T.dot(h, U)), sequences=X, outputs_info=h0, non_sequences=U)
    cost = hs.sum()
    f = tc.function([X, h0, U], T.grad(cost, U))
    backward = [op for op in f.ir_function().body.ops if isinstance(op, Scan)][-1]
    assert not any(op.name == "tx.dimshuffle" for op in backward.body.block.ops)
    transposed = [
        v.owner for v in backward.operands if v.owner is not None and v.owner.name == "tx.dimshuffle"
    ]
    assert [op.pattern for op in transposed] == [(1, 0)]
    x, h, u = RNG.standard_normal((40, 6, 5)), RNG.standard_normal((6, 5)), RNG.standard_normal((5, 5)) * 0.3
    states, before = [], h
    for row in x:
        before = np.tanh(row + before @ u)
        states.append(before)
    previous = [h, *states[:-1]]
    grad, carry = np.zeros_like(u), np.zeros_like(h)
    for t in reversed(range(len(x))):
        delta = (1.0 + carry) * (1.0 - states[t] ** 2)
        grad += previous[t].T @ delta
        carry = delta @ u.T
    np.testing.assert_allclose(f(x, h, u), grad, rtol=1e-10, atol=1e-10)
