"""Malformed IR text and invalid IR are rejected with messages that say where and what."""

from __future__ import annotations

import pytest

from tc.ir import (
    Block,
    DType,
    Function,
    Module,
    TcError,
    TcParseError,
    TcVerificationError,
    TensorType,
    parse_module,
    verify_module,
)
from tc.ir.ops import elementwise as ew
from tc.ir.ops.builtin import Return


def _module(body: str, signature: str = "(%x: tensor<?xf64>) -> tensor<?xf64>") -> str:
    return f"module {{\n  func @f{signature} {{\n{body}\n  }}\n}}\n"


def test_syntax_error_has_line_and_column() -> None:
    with pytest.raises(TcParseError, match=r"model.tir:3:20: unexpected character ';'"):
        parse_module(
            _module("    %0 = tx.sin %x ; tensor<?xf64>\n    return %0 : tensor<?xf64>"), "model.tir"
        )


def test_undefined_value() -> None:
    with pytest.raises(TcParseError, match=r":3:.*undefined value %y"):
        parse_module(_module("    %0 = tx.sin %y : tensor<?xf64>\n    return %0 : tensor<?xf64>"))


def test_unknown_op() -> None:
    with pytest.raises(TcParseError, match="unknown op 'tx.frobnicate'"):
        parse_module(_module("    %0 = tx.frobnicate %x : tensor<?xf64>\n    return %0 : tensor<?xf64>"))


def test_redefined_value() -> None:
    text = _module("    %x = tx.sin %x : tensor<?xf64>\n    return %x : tensor<?xf64>")
    with pytest.raises(TcParseError, match="defined twice"):
        parse_module(text)


def test_wrong_result_type_names_op_and_types() -> None:
    text = _module("    %0 = tx.lt %x, %x : tensor<?xf64>\n    return %0 : tensor<?xf64>")
    with pytest.raises(TcVerificationError, match=r"'tx.lt'.*tensor<\?xf64>.*tensor<\?xbool>"):
        parse_module(text)


def test_operand_type_mismatch() -> None:
    text = _module(
        "    %0 = tx.sin %x : tensor<?xf32>\n    return %0 : tensor<?xf32>",
    )
    with pytest.raises(TcParseError, match=r"operand #0 has type tensor<\?xf64>"):
        parse_module(text)


def test_float_op_on_integers_is_rejected() -> None:
    text = _module(
        "    %0 = tx.sin %x : tensor<?xi32>\n    return %0 : tensor<?xi32>",
        "(%x: tensor<?xi32>) -> tensor<?xi32>",
    )
    with pytest.raises(TcError, match="tx.sin is defined for f32, f64, found i32"):
        parse_module(text)


def test_broadcast_mismatch_in_types() -> None:
    text = _module(
        "    %0 = tx.add %x, %y : tensor<3xf64>, tensor<4xf64> -> tensor<3xf64>\n"
        "    return %0 : tensor<3xf64>",
        "(%x: tensor<3xf64>, %y: tensor<4xf64>) -> tensor<3xf64>",
    )
    with pytest.raises(TcError, match=r"do not broadcast"):
        parse_module(text)


def test_missing_return() -> None:
    body = Block([TensorType(DType.F64, ())])
    body.append(ew.Sin.create([body.args[0]]))
    with pytest.raises(TcVerificationError, match="@g does not end in return"):
        verify_module(Module([Function("g", body)]))


def test_use_before_definition() -> None:
    body = Block([TensorType(DType.F64, ())])
    sin = ew.Sin.create([body.args[0]])
    cos = ew.Cos.create([sin.result])
    body.append(cos)
    body.append(sin)
    body.append(Return([cos.result], []))
    with pytest.raises(TcVerificationError, match="'tx.cos' in @g: operand #0 .* used before it is defined"):
        verify_module(Module([Function("g", body)]))


def test_declared_results_must_match_return() -> None:
    text = _module(
        "    %0 = tx.sin %x : tensor<?xf64>\n    return %0 : tensor<?xf64>",
        "(%x: tensor<?xf64>) -> tensor<?xf32>",
    )
    with pytest.raises(TcParseError, match="declares results tensor<\\?xf32> but returns tensor<\\?xf64>"):
        parse_module(text)


def test_parse_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        parse_module("module {")
