"""The shape plan on its own: the term language, each rule's result shapes, the compiled
plan against the tree walk, and the located messages users see when a shape rule breaks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tc import tensor as T
from tc.frontend.lower import build_function_ir
from tc.ir import (
    SAME_SHAPE,
    Block,
    DType,
    Function,
    Operation,
    TcCompilationError,
    TcError,
    TcShapeError,
    TensorType,
    parse_module,
)
from tc.ir.errors import TcIndexError
from tc.ir.ops.builtin import Return
from tc.ir.ops.elementwise import Neg
from tc.ir.ops.reduce import Reduce
from tc.ir.shape_state import FALLBACK_RULES, SHAPE_RULES, ShapeState, rule_for
from tc.ir.shape_terms import EXPRESSIONS, ArgDim, ArgValue, Expr, evaluate_term, expr, wrap
from tc.ir.shapes import ShapePlan

# -- the term language ---------------------------------------------------------------


def test_expr_folds_known_ints() -> None:
    assert expr("add", 2, 3) == 5
    assert expr("prod", 2, 3, 4) == 24
    assert expr("slice", 10, 2, None, 3) == len(range(10)[2::3])
    assert expr("arange", 0, 5, 0) == 0  # a zero step is a requirement, not a crash here
    assert expr("floordiv", 7, 0) == 0


def test_expr_keeps_unknown_terms_symbolic() -> None:
    n = ArgDim(0, 1)
    term = expr("add", n, 1)
    assert term == Expr("add", (n, 1))
    assert evaluate_term(term, [(3, 8)]) == 9
    assert evaluate_term(expr("slice", n, ArgValue(1), None, 1), [(3, 8), ()], [None, 5]) == 3


def test_wrap_at_dtype_width() -> None:
    assert wrap(2**31, 32, 1) == -(2**31)
    assert wrap(300, 8, 1) == 44
    assert wrap(-1, 8, 0) == 255
    assert EXPRESSIONS["wrap"] is wrap


def test_tracked_integer_arithmetic_wraps_like_native_code() -> None:
    # i8: 2 * 100 is -56, so arange(0, i * 100) is empty, as the compiled code computes it
    plan = _plan(
        "    %c = tx.constant dense<100> : tensor<i8>\n"
        "    %zero = tx.constant dense<0> : tensor<i8>\n"
        "    %one = tx.constant dense<1> : tensor<i8>\n"
        "    %n = tx.mul %i, %c : tensor<i8>\n"
        '    %r = tx.arange %zero, %n, %one {dtype = "i64"} : tensor<i8>, tensor<i8>, tensor<i8> -> '
        "tensor<?xi64>\n"
        "    return %r : tensor<?xi64>",
        "(%i: tensor<i8>) -> tensor<?xi64>",
    )
    assert plan.uses_values
    assert plan.evaluate([()], [np.int8(1)]) == (((100,),), ())
    assert plan.evaluate([()], [np.int8(2)]) == (((0,),), ())


# -- result shapes, rule by rule -----------------------------------------------------


def _module(body: str, signature: str) -> str:
    return f"module {{\n  func @f{signature} {{\n{body}\n  }}\n}}\n"


def _plan(body: str, signature: str) -> ShapePlan:
    return ShapePlan(parse_module(_module(body, signature), "m.tir").functions[0])


A0, A1, B0, B1 = ArgDim(0, 0), ArgDim(0, 1), ArgDim(1, 0), ArgDim(1, 1)
MATRICES = "(%a: tensor<?x?xf64>, %b: tensor<?x?xf64>) -> tensor<?x?xf64>"


def test_broadcasting_pairs_trailing_axes() -> None:
    plan = _plan(
        "    %0 = tx.add %a, %v : tensor<?x?xf64>, tensor<?xf64> -> tensor<?x?xf64>\n"
        "    return %0 : tensor<?x?xf64>",
        "(%a: tensor<?x?xf64>, %v: tensor<?xf64>) -> tensor<?x?xf64>",
    )
    assert plan.result_shapes == [(A0, A1)]
    assert [(c.left, c.right) for c in plan.constraints] == [(A1, B0)]
    assert not plan.uses_values
    assert plan.evaluate([(3, 4), (4,)], None) == (((3, 4),), ())
    assert plan.evaluate([(3, 4), (5,)], None) is None


def test_a_static_one_stretches() -> None:
    plan = _plan(
        "    %0 = tx.add %a, %r : tensor<?x?xf64>, tensor<1x?xf64> -> tensor<?x?xf64>\n"
        "    return %0 : tensor<?x?xf64>",
        "(%a: tensor<?x?xf64>, %r: tensor<1x?xf64>) -> tensor<?x?xf64>",
    )
    assert plan.result_shapes == [(A0, A1)]
    assert plan.evaluate([(3, 4), (1, 4)], None) == (((3, 4),), ())


def test_reductions_drop_or_keep_axes() -> None:
    plan = _plan(
        '    %0 = tx.reduce %a {axes = [1], keepdims = false, kind = "max"} : tensor<?x?xf64> -> '
        "tensor<?xf64>\n"
        '    %1 = tx.reduce %a {axes = [0], keepdims = true, kind = "sum"} : tensor<?x?xf64> -> '
        "tensor<1x?xf64>\n"
        "    return %0, %1 : tensor<?xf64>, tensor<1x?xf64>",
        "(%a: tensor<?x?xf64>) -> (tensor<?xf64>, tensor<1x?xf64>)",
    )
    assert plan.result_shapes == [(A0,), (1, A1)]
    # max needs an element to start from; sum does not
    assert [(b.term, b.minimum) for b in plan.bounds] == [(A1, 1)]


def test_dot_contracts_and_keeps_outer_axes() -> None:
    plan = _plan("    %0 = tx.dot %a, %b : tensor<?x?xf64>\n    return %0 : tensor<?x?xf64>", MATRICES)
    assert plan.result_shapes == [(A0, B1)]
    (c,) = plan.constraints
    assert (c.left, c.right, c.pairs) == (A1, B0, (1, 0, "contracts"))
    assert plan.evaluate([(2, 3), (3, 5)], None) == (((2, 5),), ())


def test_reshape_infers_minus_one() -> None:
    plan = _plan(
        "    %0 = tx.reshape %a {shape = [-1, 3]} : tensor<?x?xf64> -> tensor<?x3xf64>\n"
        "    return %0 : tensor<?x3xf64>",
        "(%a: tensor<?x?xf64>) -> tensor<?x3xf64>",
    )
    assert plan.result_shapes == [(Expr("floordiv", (Expr("prod", (A0, A1)), 3)), 3)]
    assert plan.evaluate([(4, 6)], None) == (((8, 3),), ())
    with pytest.raises(TcShapeError, match=r"m.tir:3:10: cannot reshape an array of shape \(4, 5\)"):
        plan.check([(4, 5)])


def test_slicing_with_symbolic_bounds() -> None:
    v, i = T.vector("v"), T.iscalar("i")
    function = build_function_ir("f", [v, i], [v[i : i * 2 + 1]]).functions[0]
    plan = ShapePlan(function)
    (shape,) = plan.result_shapes
    assert isinstance(shape[0], Expr) and shape[0].kind == "slice"
    assert plan.uses_values and not plan.has_checks
    for n, start in ((10, 2), (10, 7), (3, 0), (0, 4)):
        want = len(np.zeros(n)[start : start * 2 + 1])
        assert plan.evaluate([(n,), ()], [np.zeros(n), np.int32(start)]) == (((want,),), ())


def test_a_refining_cast_checks_the_size_it_learns() -> None:
    plan = _plan(
        "    %0 = tx.cast %x : tensor<?xf64> -> tensor<4xf32>\n    return %0 : tensor<4xf32>",
        "(%x: tensor<?xf64>) -> tensor<4xf32>",
    )
    assert plan.result_shapes == [(4,)]
    assert plan.evaluate([(4,)], None) == (((4,),), ())
    with pytest.raises(
        TcShapeError,
        match=r"in tx.cast at m.tir:3:10: a dimension is fixed at 4 but argument 'x' has size 5 on axis 0",
    ):
        plan.check([(5,)])


def test_rules_are_found_through_the_op_class() -> None:
    text = _module(
        '    %0 = tx.reduce %a {axes = [0], keepdims = false, kind = "min"} : tensor<?x?xf64> -> '
        "tensor<?xf64>\n    %1 = tx.neg %0 : tensor<?xf64>\n    return %1 : tensor<?xf64>",
        "(%a: tensor<?x?xf64>) -> tensor<?xf64>",
    )
    reduce_op, neg, _ = parse_module(text).functions[0].body.ops
    assert rule_for(reduce_op) is SHAPE_RULES[Reduce]
    assert Neg not in SHAPE_RULES and rule_for(neg) in [rule for _, rule in FALLBACK_RULES]


class _CarriesItsRule(Operation):
    """Unregistered (no name): an op class that carries its own shape rule."""

    def shape_rule(self, state: ShapeState) -> None:
        state.shapes[self.results[0]] = (7,)


class _KeepsItsShape(Operation):
    traits = frozenset({SAME_SHAPE})


def _applied(cls: type[Operation]) -> tuple[Operation, ShapeState]:
    block = Block([TensorType(DType.F64, (None, 3))], ["x"])
    op = block.append(cls(block.args, [TensorType(DType.F64, (None, 3))]))
    block.append(Return([op.results[0]], []))
    return op, ShapeState(Function("f", block))


def test_an_op_class_may_carry_its_rule_or_keep_operand_0s_shape() -> None:
    op, state = _applied(_CarriesItsRule)
    assert rule_for(op) is _CarriesItsRule.shape_rule
    rule_for(op)(op, state)
    assert state.shapes[op.results[0]] == (7,)
    op, state = _applied(_KeepsItsShape)
    rule_for(op)(op, state)
    assert state.shapes[op.results[0]] == (ArgDim(0, 0), 3)


def test_an_op_without_a_rule_is_refused_at_compile_time() -> None:
    # softmax is expanded by expand-nnet before planning; the plan itself has no rule for it
    with pytest.raises(TcCompilationError, match="no shape rule for 'tx.softmax' at m.tir:3:10"):
        _plan(
            "    %p = tx.softmax %x {axis = 1} : tensor<?x?xf64>\n    return %p : tensor<?x?xf64>",
            "(%x: tensor<?x?xf64>) -> tensor<?x?xf64>",
        )


# -- the compiled plan agrees with the tree walk -------------------------------------


def _mixed_plan() -> ShapePlan:
    """Broadcasting, a product, a reshape, a slice with run-time bounds and an index."""
    a, b, v, i = T.matrix("a"), T.matrix("b"), T.vector("v"), T.iscalar("i")
    outputs = [T.dot(a, b) + v, a.reshape((-1, 2)), v[i : i + 2], a[i], a.max(axis=0)]
    return ShapePlan(build_function_ir("f", [a, b, v, i], outputs).functions[0])


MIXED = _mixed_plan()


@settings(max_examples=200, deadline=None)
@given(dims=st.lists(st.integers(0, 4), min_size=5, max_size=5), index=st.integers(-5, 5))
def test_compiled_plan_agrees_with_check(dims: list[int], index: int) -> None:
    a0, a1, b1, v0, b0 = dims
    shapes = [(a0, a1), (b0, b1), (v0,), ()]
    data = [np.zeros(s) for s in shapes[:3]] + [np.int32(index)]
    try:
        fast = MIXED.evaluate(shapes, data)
    except TcError:  # the rarer requirements raise from inside the compiled plan
        fast = None
    if fast is None:
        with pytest.raises(TcError):
            MIXED.check(shapes, data)
        return
    MIXED.check(shapes, data)
    walked = tuple(tuple(evaluate_term(t, shapes, data) for t in s) for s in MIXED.result_shapes)
    assert fast == (walked, ())


# -- located error messages ----------------------------------------------------------


def test_broadcast_mismatch_names_both_arguments() -> None:
    plan = _plan(
        "    %0 = tx.add %a, %b : tensor<?x?xf64>, tensor<?x?xf64> -> tensor<?x?xf64>\n"
        "    return %0 : tensor<?x?xf64>",
        MATRICES,
    )
    message = (
        "shapes do not broadcast in tx.add at m.tir:3:10: argument 'a' has size 3 on axis 0 "
        "but argument 'b' has size 2 on axis 0"
    )
    with pytest.raises(TcShapeError) as raised:
        plan.check([(3, 4), (2, 4)])
    assert str(raised.value) == message
    with pytest.raises(TcShapeError, match="never where it is \\? and happens to be 1"):
        plan.check([(3, 4), (1, 4)])  # a ? that is 1 at run time does not stretch


def test_dot_contraction_mismatch() -> None:
    plan = _plan("    %0 = tx.dot %a, %b : tensor<?x?xf64>\n    return %0 : tensor<?x?xf64>", MATRICES)
    with pytest.raises(TcShapeError) as raised:
        plan.check([(2, 3), (4, 5)])
    assert str(raised.value) == (
        "tx.dot at m.tir:3:10 contracts dimension 1 of the left operand (size 3) with dimension 0 of "
        "the right (size 4): argument 'a' has size 3 on axis 1 but argument 'b' has size 4 on axis 0"
    )


def test_bound_violation() -> None:
    plan = _plan(
        '    %0 = tx.reduce %a {axes = [1], keepdims = false, kind = "max"} : tensor<?x?xf64> -> '
        "tensor<?xf64>\n    return %0 : tensor<?xf64>",
        "(%a: tensor<?x?xf64>) -> tensor<?xf64>",
    )
    assert plan.evaluate([(3, 0)], None) is None
    with pytest.raises(TcShapeError) as raised:
        plan.check([(3, 0)])
    assert str(raised.value) == "tx.reduce at m.tir:3:10 needs at least 1 elements along axis 1, found 0"


def test_index_out_of_range() -> None:
    plan = _plan(
        '    %0 = tx.subtensor %a, %i {spec = ["$"]} : tensor<?x?xf64>, tensor<i32> -> tensor<?xf64>\n'
        "    return %0 : tensor<?xf64>",
        "(%a: tensor<?x?xf64>, %i: tensor<i32>) -> tensor<?xf64>",
    )
    data = [np.zeros((3, 2)), np.int32(3)]
    assert plan.evaluate([(3, 2), ()], data) is None
    with pytest.raises(TcIndexError, match="m.tir:3:10: index 3 is out of bounds for axis 0 with size 3"):
        plan.check([(3, 2), ()], data)


def _dot_plan() -> ShapePlan:
    a, b = T.matrix("a"), T.matrix("b")
    module = build_function_ir("f", [a, b], [T.dot(a, b)[1:]])
    return ShapePlan(module.functions[0])


def test_a_pickled_plan_carries_its_compiled_check_for_this_python_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pickle
    import sys

    import tc.ir.shapes as shapes

    plan = _dot_plan()
    saved = pickle.dumps(plan)
    compiled: list[object] = []
    original = shapes.compile_plan
    monkeypatch.setattr(
        shapes, "compile_plan", lambda *terms: (compiled.append(terms[-1]), original(*terms))[1]
    )
    again = pickle.loads(saved)
    for shapes_in in ([(3, 4), (4, 5)], [(3, 4), (2, 5)]):
        assert again.evaluate(shapes_in, None) == plan.evaluate(shapes_in, None)
    assert compiled[0] is not None  # the bytecode, not the source compiled again
    monkeypatch.setattr(sys.implementation, "cache_tag", "another-python")
    other = pickle.loads(saved)
    assert other.evaluate([(3, 4), (4, 5)], None) == plan.evaluate([(3, 4), (4, 5)], None)
    assert compiled[1] is None  # another Python's bytecode is not read: the source is compiled
