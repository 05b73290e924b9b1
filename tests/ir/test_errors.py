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
    TcTypeError,
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


# -- hostile text: every input ends in a located TcError (found by tests/fuzz) -------------


def _state_module(body: str) -> str:
    return (
        "module {\n  tx.global @state : tensor<i64> = dense<0>\n"
        f"  func @f(%x: tensor<i64>) -> tensor<i64> {{\n{body}\n  }}\n}}\n"
    )


def test_bytes_that_are_not_utf8_are_located() -> None:
    data = _module("    return %x : tensor<?xf64>").encode().replace(b"return", b"ret\xffurn")
    with pytest.raises(TcParseError, match=r"model.tir:3:8: the file is not UTF-8 text \(byte 0xff"):
        parse_module(data, "model.tir")


@pytest.mark.parametrize(
    ("dense", "type", "message"),
    [
        ("99999999999999999999999999999", "i64", "99999999999999999999999999999 does not fit i64"),
        ("-inf", "i64", "-inf does not fit i64"),
        ("nan", "i32", "nan does not fit i32"),
        ("1.5", "i64", "1.5 does not fit i64"),
        ("300", "u8", "300 does not fit u8"),
        ("[1, 1e39]", "2xf32", "out of range for f32"),
        ("[1, 2", "2xi64", "unterminated dense literal"),
        ("[[1, 2], [3]]", "2x2xi64", "ragged dense literal"),
        ("[1 2]", "2xi64", "expected ',' or ']'"),
        ("[" * 5000 + "1" + "]" * 5000, "i64", "nested deeper than 64 levels"),
        ("9" * 5000, "i64", "bad number"),
        ("1", "1000000x1000000xf64", "would fill"),
    ],
)
def test_dense_literals_that_do_not_fit(dense: str, type: str, message: str) -> None:
    text = _module(f"    %c = tx.constant dense<{dense}> : tensor<{type}>\n    return %x : tensor<?xf64>")
    with pytest.raises(TcParseError, match=r"^m.tir:3:22: ") as info:
        parse_module(text, "m.tir")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("type", "message"),
    [
        ("tensor<99999999999999999999xf64>", "is too large (it does not fit i64)"),
        (f"tensor<{'9' * 5000}xf64>", "is too large (it does not fit i64)"),
        ("tensor<4294967296x4294967296xf64>", "too many to count in i64"),
        ("tensor<3xf16>", "unknown element type 'f16'"),
    ],
)
def test_types_that_do_not_fit(type: str, message: str) -> None:
    text = _module("    return %x : tensor<?xf64>", f"(%x: {type}) -> tensor<?xf64>")
    with pytest.raises(TcParseError, match=r"^m.tir:2:\d+: ") as info:
        parse_module(text, "m.tir")
    assert message in str(info.value)


def test_integers_too_long_for_python_are_located() -> None:
    long = "1" * 5000
    text = _module(f"    %0 = tx.softmax %x {{axis = {long}}} : tensor<?xf64>\n    return %0 : tensor<?xf64>")
    with pytest.raises(TcParseError, match=r"^m.tir:3:\d+: integer too long"):
        parse_module(text, "m.tir")
    text = _module(f'    return %x : tensor<?xf64> loc("a.tx":7:{long})')
    with pytest.raises(TcParseError, match=r"^m.tir:3:\d+: integer too long"):
        parse_module(text, "m.tir")


def test_deeply_nested_attribute_lists_are_refused() -> None:
    axes = "[" * 3000 + "0" + "]" * 3000
    text = _module(f"    %0 = tx.softmax %x {{axis = {axes}}} : tensor<?xf64>\n    return %0 : tensor<?xf64>")
    with pytest.raises(TcParseError, match="nested deeper than 64 levels"):
        parse_module(text, "m.tir")


@pytest.mark.parametrize(
    "line",
    [
        "    tx.load @state, %x : tensor<i64>",  # an operand, and no result
        "    %0 = tx.load @state, %x : tensor<i64>",  # an operand
        "    %0, %1 = tx.load @state : () -> (tensor<i64>, tensor<i64>)",  # two results
        "    tx.store @state",  # no value
    ],
)
def test_loads_and_stores_of_the_wrong_arity_name_the_op(line: str) -> None:
    text = _state_module(f"{line}\n    return %x : tensor<i64>")
    with pytest.raises(TcError, match=r"'tx\.(load|store)' at m.tir:4:\d+") as info:
        parse_module(text, "m.tir")
    # A wrong operand count is the uniform arity error (TcTypeError); a wrong result count
    # is a verification error.
    assert isinstance(info.value, (TcParseError, TcVerificationError, TcTypeError))


def test_the_wrong_operand_count_is_the_uniform_arity_error() -> None:
    text = _module("    tx.given %x : tensor<?xf64>\n    return %x : tensor<?xf64>")
    message = r"^'tx.given' at m.tir:3:5 in @f: tx.given takes 2 operand\(s\), found 1$"
    with pytest.raises(TcTypeError, match=message):
        parse_module(text, "m.tir")


def test_verifier_errors_on_text_name_the_line() -> None:
    text = _module("    %0 = tx.lt %x, %x : tensor<?xf64>\n    return %0 : tensor<?xf64>")
    with pytest.raises(TcVerificationError, match=r"'tx.lt' at m.tir:3:10 in @f: result type"):
        parse_module(text, "m.tir")
    with pytest.raises(TcVerificationError, match=r"function @f at m.tir:2:8 does not end in return"):
        parse_module(_module("    %0 = tx.sin %x : tensor<?xf64>", "(%x: tensor<?xf64>)"), "m.tir")


def test_text_positions_are_not_printed_as_locations() -> None:
    from tc.ir import print_module

    text = _module("    %0 = tx.sin %x : tensor<?xf64>\n    return %0 : tensor<?xf64>")
    module = parse_module(text, "m.tir")
    assert str(module.function("f").body.ops[0].location) == "m.tir:3:10"
    assert "loc(" not in print_module(module, locations=True)


def test_symbols_defined_twice_are_located() -> None:
    text = "module {\n  tx.global @f : tensor<f64>\n  func @f() {\n    return\n  }\n}\n"
    with pytest.raises(TcParseError, match=r"m.tir:3:8: symbol @f is defined twice \(first at m.tir:2:13\)"):
        parse_module(text, "m.tir")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modul {}", "m.tir:1:1: expected 'module', found 'modul'"),
        ("module {", "m.tir:1:8: expected one of 'func', 'tx.global', '}', found end of input"),
        ("module { func @f(%x tensor<f64>) {} }", "m.tir:1:21: expected ':', found 'tensor<f64>'"),
        ("module { func @f() { %0 = } }", "m.tir:1:27: expected an op name, found '}'"),
    ],
)
def test_syntax_errors_name_tokens_in_words(text: str, message: str) -> None:
    with pytest.raises(TcParseError) as info:
        parse_module(text, "m.tir")
    assert str(info.value) == message


def test_tc_opt_reports_bad_bytes_with_their_position(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tc.tools.cli import main

    path = tmp_path / "bad.tir"
    path.write_bytes(b"module {\n  \xff\n}\n")
    assert main(["opt", str(path)]) == 1
    assert f"{path}:2:3: the file is not UTF-8 text" in capsys.readouterr().err
