"""Lowering builder graphs to IR, checked through the IR interpreter (no native code)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tc.ir as ir
from tc import tensor as T
from tc.frontend import MissingInputError, build_function_ir


def run(inputs: list[T.Variable], outputs: list[T.Variable], *args: object) -> list[np.ndarray]:
    module = build_function_ir("f", inputs, outputs)
    return ir.run(module, "f", *args)


def seed() -> tuple[T.Variable, T.Variable]:
    x = T.vector("x")
    y = T.sin(T.deg2rad(x)) ** 2 + T.cos(T.deg2rad(x)) ** 2
    y.name = "y"
    return x, y


def test_seed_example_gives_one() -> None:
    x, y = seed()
    (out,) = run([x], [y], [0.0, 30.0, 45.0, 60.0, 90.0])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.ones(5), rtol=0, atol=1e-15)


def test_printed_ir_round_trips_through_the_parser() -> None:
    x, y = seed()
    module = build_function_ir("seed", [x], [y])
    for locations in (False, True):
        text = ir.print_module(module, locations=locations)
        assert ir.print_module(ir.parse_module(text), locations=locations) == text
    text = str(module)
    assert "func @seed(%x: tensor<?xf64>) -> tensor<?xf64>" in text
    assert "%y = tx.add" in text and "return %y" in text


def test_ops_carry_the_user_line() -> None:
    x = T.vector("x")
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    y = T.exp(x) * 2
    module = build_function_ir("f", [x], [y])
    ops = [op for op in module.functions[0].walk() if op.name != "return"]
    assert {op.name for op in ops} == {"tx.exp", "tx.mul", "tx.constant"}
    for op in ops:
        assert op.location == ir.Location(__file__, line)


def test_broadcasting_row_plus_col_is_a_matrix() -> None:
    r, c = T.row("r"), T.col("c")
    z = r + c
    assert z.type.shape == (None, None) and z.broadcastable == (False, False)
    (out,) = run([r, c], [z], [[1.0, 2.0, 3.0]], [[10.0], [20.0]])
    np.testing.assert_array_equal(out, [[11, 12, 13], [21, 22, 23]])


def test_broadcasting_matrix_plus_vector() -> None:
    m, v = T.matrix("m"), T.vector("v")
    (out,) = run([m, v], [m + v], np.ones((2, 3)), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out, [[2, 3, 4], [2, 3, 4]])


def test_static_shapes_combine() -> None:
    a = T.tensor("float32", (None, 3))
    b = T.tensor("float32", (2, 1))
    assert (a * b).type.shape == (2, 3)


def test_promotion_values_through_the_interpreter() -> None:
    b, f = T.bvector("b"), T.fvector("f")
    outs = run([b, f], [b + f, b / 2, b + 1, f * 1.5], [1, 2, 127], [0.5, 0.5, 0.5])
    assert [o.dtype for o in outs] == [np.float32, np.float32, np.int8, np.float32]
    np.testing.assert_array_equal(outs[0], [1.5, 2.5, 127.5])
    np.testing.assert_array_equal(outs[1], [0.5, 1.0, 63.5])
    np.testing.assert_array_equal(outs[2], np.array([2, 3, -128], np.int8))  # wraps, as numpy


def test_missing_input_names_the_variable() -> None:
    x, y = T.vector("x"), T.vector("y")
    z = T.sin(x) + y
    with pytest.raises(MissingInputError, match="'y'") as info:
        build_function_ir("f", [x], [z])
    assert isinstance(info.value, ir.TcValueError)
    assert "tx.add" in str(info.value)
    assert "'x'" not in str(info.value)


def test_missing_input_as_the_output_itself() -> None:
    with pytest.raises(MissingInputError, match="output #0"):
        build_function_ir("f", [], [T.vector("lonely")])


def test_inputs_must_be_distinct_root_variables() -> None:
    x = T.vector("x")
    with pytest.raises(ir.TcTypeError, match="root"):
        build_function_ir("f", [x + 1], [x])
    with pytest.raises(ir.TcValueError, match="twice"):
        build_function_ir("f", [x, x], [x])
    with pytest.raises(ir.TcTypeError, match="constant"):
        build_function_ir("f", [T.constant(1.0)], [x])
    with pytest.raises(ir.TcTypeError):
        build_function_ir("f", [np.zeros(3)], [x])  # type: ignore[list-item]
    with pytest.raises(ir.TcValueError, match="symbol"):
        build_function_ir("not a name", [x], [x])


def test_outputs_may_be_inputs_constants_or_python_values() -> None:
    x = T.vector("x")
    module = build_function_ir("f", [x], [x, 2.0, np.arange(3)])  # type: ignore[list-item]
    outs = ir.run(module, "f", [1.0, 2.0])
    np.testing.assert_array_equal(outs[0], [1.0, 2.0])
    assert outs[1] == 2.0 and outs[1].dtype == np.float64
    np.testing.assert_array_equal(outs[2], [0, 1, 2])


def test_unused_inputs_stay_arguments() -> None:
    x, y = T.vector("x"), T.vector("y")
    module = build_function_ir("f", [x, y], [x * 2])
    assert [a.name for a in module.functions[0].args] == ["x", "y"]


def test_each_call_builds_fresh_ir() -> None:
    x, y = seed()
    first = build_function_ir("f", [x], [y])
    second = build_function_ir("g", [x], [y, x])
    ops_first = {id(op) for op in first.functions[0].walk()}
    ops_second = {id(op) for op in second.functions[0].walk()}
    assert not ops_first & ops_second
    ir.verify_module(first)
    ir.verify_module(second)


def test_shared_subgraphs_are_lowered_once() -> None:
    x = T.vector("x")
    s = T.sin(x)
    module = build_function_ir("f", [x], [s * s + s])
    names = [op.name for op in module.functions[0].walk()]
    assert names.count("tx.sin") == 1


def test_deep_graphs_do_not_recurse() -> None:
    x = T.scalar("x")
    y = x
    for _ in range(5000):
        y = y + 1.0
    (out,) = run([x], [y], 0.0)
    assert out == 5000.0


def test_casts_lower_to_tx_cast() -> None:
    x = T.ivector("x")
    module = build_function_ir("f", [x], [x.astype("float32"), T.switch(x, x, 0)])
    text = str(module)
    assert "tx.cast %x : tensor<?xi32> -> tensor<?xf32>" in text
    assert "tx.select" in text
    cast_out, switch_out = ir.run(module, "f", [0, 3])
    assert cast_out.dtype == np.float32
    np.testing.assert_array_equal(switch_out, [0, 3])
