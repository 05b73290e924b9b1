"""kernel.reduce: what `fuse` forms (the golden files show the IR), and that the op's
reference, folding and shape rule agree with the tx.reduce ops it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from tc.ir import TcShapeError, parse_module, print_module, run_function
from tc.ir.shapes import ShapePlan
from tc.passes import DEFAULT_PIPELINE, run_pipeline

SIBLINGS = """module {
  func @f(%w: tensor<?x?xf32>, %b: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xi64>) {
    %x = tx.add %w, %b : tensor<?x?xf32>, tensor<?xf32> -> tensor<?x?xf32>
    %a = tx.abs %x : tensor<?x?xf32>
    %l1 = tx.reduce %a {axes = [0], keepdims = false, kind = "sum"} : tensor<?x?xf32> -> tensor<?xf32>
    %sq = tx.mul %w, %b : tensor<?x?xf32>, tensor<?xf32> -> tensor<?x?xf32>
    %m = tx.reduce %sq {axes = [0], keepdims = false, kind = "max"} : tensor<?x?xf32> -> tensor<?xf32>
    %y = tx.sub %w, %b : tensor<?x?xf32>, tensor<?xf32> -> tensor<?x?xf32>
    %i = tx.reduce %y {axes = [0], keepdims = false, kind = "argmin"} : tensor<?x?xf32> -> tensor<?xi64>
    return %l1, %m, %i : tensor<?xf32>, tensor<?xf32>, tensor<?xi64>
  }
}
"""


def test_fused_reductions_compute_what_the_reductions_did() -> None:
    before = parse_module(SIBLINGS)
    after = parse_module(SIBLINGS)
    run_pipeline(after, "fuse,cse")
    names = [op.name for op in after.functions[0].body.ops]
    assert names == ["kernel.reduce", "kernel.reduce", "return"]  # argmin alone
    assert [op.kinds for op in after.functions[0].body.ops[:2]] == [("sum", "max"), ("argmin",)]
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    got_all, want_all = run_function(after.functions[0], w, b), run_function(before.functions[0], w, b)
    for got, want in zip(got_all, want_all, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_a_kernel_reduce_over_constants_is_left_to_the_interpreter() -> None:
    text = """module {
  func @f() -> tensor<f64> {
    %c = tx.constant dense<[1.0, -2.0, 3.0]> : tensor<3xf64>
    %s = kernel.reduce %c {axes = [0], keepdims = false, kinds = ["sum"]} : tensor<3xf64> -> tensor<f64> ({
    ^bb0(%x: tensor<f64>):
      %a = tx.abs %x : tensor<f64>
      kernel.yield %a : tensor<f64>
    })
    return %s : tensor<f64>
  }
}
"""
    module = parse_module(text)
    run_pipeline(module, "fold")  # like kernel.elementwise: kernels (ops with regions) are not folded
    assert print_module(module) == print_module(parse_module(text))
    assert run_function(module.functions[0])[0] == 6.0
    # Built from tx ops, the default pipeline folds the reduction before fuse ever sees it.
    unfused = text.replace(
        text[text.index("    %s = kernel.reduce") : text.index("    return")],
        "    %a = tx.abs %c : tensor<3xf64>\n"
        '    %s = tx.reduce %a {axes = [0], keepdims = false, kind = "sum"} : tensor<3xf64> -> tensor<f64>\n',
    )
    module = parse_module(unfused)
    run_pipeline(module, ",".join(DEFAULT_PIPELINE))
    assert [op.name for op in module.functions[0].body.ops] == ["tx.constant", "return"]
    assert run_function(module.functions[0])[0] == 6.0


def test_the_shape_rule_broadcasts_then_reduces() -> None:
    module = parse_module(SIBLINGS)
    run_pipeline(module, "fuse,cse")
    plan = ShapePlan(module.functions[0])
    results, _ = plan.evaluate([(5, 3), (3,)], None)
    assert [tuple(r) for r in results] == [(3,), (3,), (3,)]
    with pytest.raises(TcShapeError):
        plan.check([(5, 3), (4,)])
    with pytest.raises(TcShapeError):  # max and argmin need an element along axis 0
        plan.check([(0, 3), (3,)])
