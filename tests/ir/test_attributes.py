"""Declared op attributes (`attr(...)`) and the uniform operand-count check (`arity`)."""

from __future__ import annotations

import numpy as np
import pytest

from tc.ir import (
    OP_REGISTRY,
    Block,
    DType,
    Operation,
    TcTypeError,
    TcVerificationError,
    TensorType,
    parse_module,
)
from tc.ir.attributes import Attr, SymbolRef, attr, int_tuple
from tc.ir.builder import Builder
from tc.ir.core import Arity, at_least, between, exactly
from tc.ir.ops.reduce import Reduce
from tc.ir.ops.state import Load

F64 = TensorType(DType.F64, (None,))


def _module(body: str, signature: str = "(%x: tensor<?xf64>) -> tensor<?xf64>") -> str:
    return f"module {{\n  func @f{signature} {{\n{body}\n  }}\n}}\n"


def _builder() -> tuple[Builder, Block]:
    block = Block([F64, TensorType(DType.F64, (3, 4))])
    return Builder(block), block


# -- the descriptor ------------------------------------------------------------------------


def test_the_accessor_reads_the_attribute_dict() -> None:
    b, block = _builder()
    op = b.create("tx.reduce", [block.args[1]], kind="sum", axes=(1,), keepdims=False)
    assert isinstance(op, Reduce)
    assert (op.kind, op.axes, op.keepdims) == ("sum", (1,), False)
    assert op.attributes == {"kind": "sum", "axes": (1,), "keepdims": False}
    op.attributes["axes"] = (0,)
    assert op.axes == (0,)  # read through, never cached


def test_the_accessor_converts_and_may_use_another_key() -> None:
    module = parse_module(
        "module {\n  tx.global @state : tensor<i64> = dense<0>\n"
        "  func @f() -> tensor<i64> {\n    %0 = tx.load @state : tensor<i64>\n"
        "    return %0 : tensor<i64>\n  }\n}\n"
    )
    load = module.function("f").body.ops[0]
    assert isinstance(load, Load)
    assert load.attributes["global"] == SymbolRef("state")
    assert load.symbol == "state"


def test_the_accessor_is_read_only_and_the_class_attribute_is_the_descriptor() -> None:
    b, block = _builder()
    op = b.create("tx.reduce", [block.args[1]], kind="sum", axes=(1,), keepdims=False)
    with pytest.raises(AttributeError, match="read-only"):
        op.kind = "max"  # type: ignore[misc]
    assert isinstance(Reduce.axes, Attr)
    assert (Reduce.axes.key, Reduce.axes.kind) == ("axes", tuple)


def test_descriptors_register_attribute_types_with_inheritance_and_defaults() -> None:
    class Base(Operation):  # no name: not registered
        arity = 1
        axes = attr(tuple, convert=int_tuple)

    class Child(Base):
        kind = attr(str)
        keepdims = attr(bool, default=False)

        @classmethod
        def infer_types(cls, operand_types, attributes, regions=()):  # type: ignore[no-untyped-def]
            return [operand_types[0]]

    assert Base.attribute_types == {"axes": tuple}
    assert Child.attribute_types == {"axes": tuple, "kind": str, "keepdims": bool}
    assert set(Child.attribute_descriptors) == {"axes", "kind", "keepdims"}
    _, block = _builder()
    op = Child.create([block.args[0]], {"axes": (np.int64(0),), "kind": "k"})
    assert op.keepdims is False  # the default, filled into the attribute dict
    assert op.attributes["keepdims"] is False
    assert op.axes == (0,) and type(op.axes[0]) is int
    explicit = Child([block.args[0]], [F64], {"axes": (0,), "kind": "k", "keepdims": True})
    assert explicit.keepdims is True


def test_a_wrong_attribute_type_is_rejected_by_the_verifier() -> None:
    text = _module(
        '    %0 = tx.reduce %x {kind = "sum", axes = 0, keepdims = false} : tensor<?xf64> -> tensor<f64>\n'
        "    return %0 : tensor<f64>",
        "(%x: tensor<?xf64>) -> tensor<f64>",
    )
    with pytest.raises(TcVerificationError, match=r"'tx.reduce' at .* attribute 'axes' is missing or not"):
        parse_module(text, "m.tir")
    missing = text.replace("axes = 0, keepdims = false", "axes = [0]")
    with pytest.raises(TcVerificationError, match=r"attribute 'keepdims' is missing or not"):
        parse_module(missing, "m.tir")


def test_every_registered_op_declares_its_attributes_with_descriptors() -> None:
    for name, cls in OP_REGISTRY.items():
        descriptors = cls.attribute_descriptors
        assert set(cls.attribute_types) == set(descriptors), name
        for key, descriptor in descriptors.items():
            assert descriptor.key == key
            assert getattr(cls, descriptor.name) is descriptor, (name, key)
            assert cls.attribute_types[key] == descriptor.kind, (name, key)


# -- arity ---------------------------------------------------------------------------------


def test_arity_declarations() -> None:
    assert exactly(2) == Arity(2, 2) and str(exactly(2)) == "2"
    assert str(at_least(1)) == "at least 1" and at_least(1).accepts(5) and not at_least(1).accepts(0)
    assert str(between(2, 3)) == "2 to 3" and not between(2, 3).accepts(4)
    declared = {name: cls.arity for name, cls in OP_REGISTRY.items()}
    assert declared["tx.add"] == 2 and declared["tx.select"] == 3 and declared["tx.sin"] == 1
    assert declared["tx.grad"] == at_least(2)
    assert declared["tx.constant"] == 0 and declared["tx.load"] == 0 and declared["tx.store"] == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("    %0 = tx.sin %x, %x : tensor<?xf64>", "tx.sin takes 1 operand(s), found 2"),
        ("    %0 = tx.add %x : tensor<?xf64>", "tx.add takes 2 operand(s), found 1"),
        ("    %0 = tx.softmax %x, %x {axis = 0} : tensor<?xf64>", "tx.softmax takes 1 operand(s), found 2"),
        ("    %0 = tx.dot %x : tensor<?xf64> -> tensor<?xf64>", "tx.dot takes 2 operand(s), found 1"),
        ("    tx.given %x : tensor<?xf64>", "tx.given takes 2 operand(s), found 1"),
        ("    %0 = tx.concatenate {axis = 0} : () -> tensor<?xf64>", "tx.concatenate takes at least 1"),
    ],
)
def test_a_wrong_operand_count_in_text_is_the_uniform_arity_error(line: str, message: str) -> None:
    text = _module(f"{line}\n    return %x : tensor<?xf64>")
    with pytest.raises(TcTypeError, match=r"^'tx\.\w+' at m.tir:3:\d+ in @f: ") as info:
        parse_module(text, "m.tir")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("name", "count", "attributes", "message"),
    [
        ("tx.neg", 2, {}, "tx.neg takes 1 operand(s), found 2"),
        ("tx.select", 2, {}, "tx.select takes 3 operand(s), found 2"),
        ("tx.shape", 2, {}, "tx.shape takes 1 operand(s), found 2"),
        ("tx.grad", 1, {"disconnected": "raise"}, "tx.grad takes at least 2 operand(s), found 1"),
        (
            "tx.reduce",
            0,
            {"kind": "sum", "axes": (), "keepdims": False},
            "tx.reduce takes 1 operand(s), found 0",
        ),
        ("tx.scatter_add", 2, {}, "tx.scatter_add takes at least 3 operand(s), found 2"),
    ],
)
def test_a_wrong_operand_count_from_the_builder_is_the_uniform_arity_error(
    name: str, count: int, attributes: dict, message: str
) -> None:
    b, block = _builder()
    with pytest.raises(TcTypeError) as info:
        b.create(name, [block.args[0]] * count, **attributes)
    assert str(info.value) == message
