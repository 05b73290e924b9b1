"""Every .tx error points at its token: `model.tx:LINE:COL: error: ...`, the line, a caret."""

# ruff: noqa: E501  (the tables of cases read best one case per line)

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tc
from tc.artifact import build_file
from tc.frontend.tx import SourceFile, TxError, TxShapeError, TxTypeError, parse_tree


def error_of(text: str, tmp_path: Path | None = None) -> TxError:
    source = SourceFile("model.tx", text, tmp_path or Path("."))
    with pytest.raises(TxError) as info:
        build_file("model.tx", source)
    return info.value


def check_report(err: TxError, line: int, column: int, message: str, width: int = 1) -> None:
    """The three-line report, with the caret under the token."""
    first, source_line, caret = str(err).split("\n")
    assert first.startswith(f"model.tx:{line}:{column}: error: "), str(err)
    assert message in first, str(err)
    assert (err.file, err.line, err.column) == ("model.tx", line, column)
    assert caret == " " * (column - 1) + "^" + "~" * (width - 1), str(err)
    assert source_line.strip(), str(err)


# fmt: off
SYNTAX = [
    ("fn f(x: f64 -> f64 { return x }", 1, 13, "expected ')', ',' or '[', found '->'", 2),
    ("fn f(x: f64) -> f64 {\n    return x +\n}\n", 3, 1, "expected an expression, found '}'", 1),
    ("fn f(x: f64) -> f64 {\n  let = 3\n}", 2, 7, "expected a name, found '='", 1),
    ("shared", 1, 7, "expected a name, found end of file", 1),
    ("fn f(x: f64) -> f64 { return x < 2 < 3 }", 1, 36, "comparisons cannot be chained", 1),
    ("fn f(x: f64) -> f64 { return (x + 1 }", 1, 37, "expected ')', found '}'", 1),
    ("x = 3", 1, 1, "expected a declaration or end of file, found 'x'", 1),
    ("fn f(x: f64) -> f64 { return x $ 2 }", 1, 32, "found '$'", 1),
]
# fmt: on


@pytest.mark.parametrize(("text", "line", "column", "message", "width"), SYNTAX)
def test_syntax_errors(text: str, line: int, column: int, message: str, width: int) -> None:
    with pytest.raises(TxError) as info:
        parse_tree(SourceFile("model.tx", text, Path(".")))
    assert isinstance(info.value, tc.TcParseError)
    check_report(info.value, line, column, message, width)


# fmt: off
SEMANTIC = [
    # unknown names and functions
    ("shared state: i64 = 0\nfn f(x: f64) -> f64 {\n    return stat + x\n}", 3, 12, "unknown name 'stat'; did you mean 'state'?", 4, TxError),
    ("fn f(x: f64) -> f64 { return sinn(x) }", 1, 30, "unknown function 'sinn'; did you mean 'sin'?", 4, TxError),
    ("fn f(x: f64) -> f64 { return g(x) }\nfn g(x: f64) -> f64 { return x }", 1, 30, "calling one function from another", 1, TxError),
    ("random rng(seed = 1)\nfn f() -> f64 { return rng }", 2, 24, "'rng' is a random stream", 3, TxError),
    # wrong arguments
    ("fn f(x: f64) -> f64 { return sin(x, 2) }", 1, 30, "sin(x) cannot take these 2 arguments", 3, TxTypeError),
    ("fn f(x: f64) -> f64 { return cast(x, \"float128\") }", 1, 30, "unsupported dtype", 4, TxTypeError),
    ("fn f(x: f64) -> f64 { return clip(x, upper = 1, 0) }", 1, 49, "positional argument cannot follow", 1, TxError),
    ("fn f(x: bool) -> bool { return -x }", 1, 32, "boolean negative", 1, TxTypeError),
    ("fn f(x: f64) -> f64 { return x + \"a\" }", 1, 34, "needs a tensor or a number, found the string 'a'", 3, TxTypeError),
    # types and shapes
    ("fn f(x: f64[3], y: f64[4]) -> f64[3] {\n    return x + y\n}", 2, 14, "do not broadcast", 1, TxShapeError),
    ("fn f(x: f64) -> f32 {\n    return x\n}", 2, 12, "the result is f64, not f32; convert it explicitly with cast(..., f32)", 1, TxTypeError),
    ("fn f(x: f64[3]) -> f64[4] { return x }", 1, 36, "the result has shape [3], not [4]", 1, TxShapeError),
    ("fn f(x: f64[?]) -> f64 { return x }", 1, 33, "of rank 1", 1, TxTypeError),
    ("fn f(x: float) -> f64 { return x }", 1, 9, "unknown type 'float'", 5, TxTypeError),
    ("fn f(x: f64) -> (f64, f64) { return x }", 1, 30, "declares 2 results but returns 1", 8, TxTypeError),
    ("fn f(x: f64) { let y: i32 = x\n return y }", 1, 29, "'y' is f64, not i32", 1, TxTypeError),
    ("shared s: i32 = 1.5", 1, 17, "1.5 cannot be stored in i32 without loss", 3, TxTypeError),
    ("shared s: i8 = 300", 1, 16, "300 cannot be stored in i8 without loss", 3, TxTypeError),
    ("shared s: f64[2] = [1, 2, 3]", 1, 20, "the value has shape [3], the declared type", 9, TxShapeError),
    ("shared s: f64[?] = zeros", 1, 20, "zeros needs a shape", 5, TxShapeError),
    ("shared s: f64 = sin(1)", 1, 17, "must be a number, a list, zeros, ones or a .npy file", 6, TxTypeError),
    ("shared s: f64[2] = [1, [2]]", 1, 20, "not a rectangular array", 8, TxShapeError),
    # updates and givens
    ("fn f(x: f64) -> f64 {\n    update x = x + 1\n    return x\n}", 2, 12, "update: 'x' is a parameter; only shared variables can be updated", 1, TxTypeError),
    ("fn f(x: f64) { update nope = x }", 1, 23, "unknown name 'nope'", 4, TxError),
    ("shared s: f64 = 0\nfn f(x: f64) { update s = x\n update s = x }", 3, 9, "'s' is updated twice", 1, TxError),
    ("shared s: i32 = 0\nfn f(x: f64) { update s = x }", 2, 27, "update of 's' is f64, not i32", 1, TxTypeError),
    ("shared s: f64[?] = [1.0]\nfn f(x: f64) { update s = x }", 2, 27, "of rank 0", 1, TxTypeError),
    ("shared state: i64 = 0\nfn f(x: i64) -> i64 given stat = x {\n    return x\n}", 2, 27, "unknown name 'stat'", 4, TxError),
    ("fn f(x: i64, y: i64) -> i64 given x = y { return x }", 1, 35, "given: 'x' is a parameter", 1, TxTypeError),
    ("shared s: f64 = 0\nfn f(x: f64) -> f64 given s = x, s = x { return s }", 2, 34, "'s' is given twice", 1, TxError),
    # duplicate definitions and names
    ("fn f(x: f64) -> f64 { return x }\nfn f(x: f64) -> f64 { return x }", 2, 4, "'f' is already defined at model.tx:1:4", 1, TxError),
    ("shared s: f64 = 0\nshared s: f64 = 1", 2, 8, "'s' is already defined", 1, TxError),
    ("fn f(x: f64, x: f64) -> f64 { return x }", 1, 14, "'x' is already defined (as a parameter at model.tx:1:6)", 1, TxError),
    ("fn f(x: f64) -> f64 {\n    let y = x\n    let y = x\n    return y\n}", 3, 9, "'y' is already defined (as a local (let)", 1, TxError),
    ("shared s: f64 = 0\nfn f(s: f64) -> f64 { return s }", 2, 6, "as a shared variable at model.tx:1:8", 1, TxError),
    ("shared f32: f64 = 0", 1, 8, "'f32' is a type name", 3, TxError),
    # structure
    ("fn f(x: f64) -> f64 {\n    return x\n    let y = x\n}", 3, 5, "statement after return", 9, TxError),
    ("fn f(x: f64, y: f64) -> f64 { return x }", 1, 14, "parameter 'y' is not used (name it '_y'", 1, TxError),
    ("random rng(sed = 1)", 1, 12, "unknown argument 'sed' of random", 3, TxError),
    ("random rng(seed = 1.5)", 1, 19, "seed of a random stream must be an integer", 3, TxTypeError),
    ("random rng(seed = 1)\nfn f() -> f64 { return rng.gaussian(size = [1]) }", 2, 28, "no method 'gaussian'", 8, TxError),
    ("fn f(x: f64) -> f64 { return x + 1 / 0 }", 1, 36, "cannot compute 1 / 0", 1, TxError),
]
# fmt: on


@pytest.mark.parametrize(("text", "line", "column", "message", "width", "kind"), SEMANTIC)
def test_semantic_errors(text: str, line: int, column: int, message: str, width: int, kind: type) -> None:
    err = error_of(text)
    assert isinstance(err, kind), repr(err)
    check_report(err, line, column, message, width)


def test_type_errors_are_also_builtin_type_errors() -> None:
    err = error_of("fn f(x: f64) -> f32 { return x }")
    assert isinstance(err, tc.TcTypeError) and isinstance(err, TypeError)
    assert isinstance(err, tc.TcParseError)
    err = error_of("fn f(x: f64[3], y: f64[4]) -> f64[3] { return x + y }")
    assert isinstance(err, tc.TcShapeError)


def test_npy_errors(tmp_path: Path) -> None:
    err = error_of('shared w: f64[2, 2] = "missing.npy"', tmp_path)
    check_report(err, 1, 23, "cannot read 'missing.npy'", 13)
    np.save(tmp_path / "w.npy", np.zeros((2, 2), np.float64))
    err = error_of('shared w: f32[2, 2] = "w.npy"', tmp_path)
    check_report(err, 1, 23, "the value holds float64, which f32 cannot hold exactly", 7)
    err = error_of('shared w: f64[3, 2] = "w.npy"', tmp_path)
    check_report(err, 1, 23, "the value has shape [2, 2]", 7)


def test_tabs_keep_the_caret_aligned() -> None:
    err = error_of("fn f(x: f64) -> f64 {\n\treturn nope\n}")
    assert str(err).split("\n")[2] == "\t       ^~~~"


def test_missing_file_is_a_tc_error(tmp_path: Path) -> None:
    with pytest.raises(tc.TcError, match="cannot read") as info:
        tc.compile_file(tmp_path / "absent.tx")
    assert isinstance(info.value, OSError)


# -- habits from other languages, and hostile files (found by tests/fuzz) -------------------

# fmt: off
HOSTILE = [
    ("fn f(x: f64[3, 4], y: f64[4, 2]) -> f64[3, 2] { return x @ y }", 1, 58, "'@' is not an operator in .tx: write a matrix product as dot(a, b)", 1, TxError),
    ("fn f(x: f64) -> f64 {\n    let y = x;\n    return y\n}", 2, 14, "';' is not needed: statements end at the line's end", 1, TxError),
    ("fn f(x: f64[3, 3], y: f64[4, 2]) -> f64[3, 2] { return dot(x, y) }", 1, 56, "tx.dot contracts dimension 1 of the left operand (size 3) with dimension 0 of the right (size 4)", 3, TxShapeError),
    ("fn f(x: f64[?, 3]) -> i64[?] { return argmax(x, axis = 1.5) }", 1, 39, "'float' object is not iterable", 6, TxTypeError),
    ("fn f(x: f64[99999999999999999999]) -> f64 { return sum(x) }", 1, 13, "this dimension is too large: it does not fit i64", 20, TxShapeError),
    ("fn f(x: f64[4294967296, 4294967296]) -> f64 { return sum(x) }", 1, 25, "the shape has too many elements", 10, TxShapeError),
    ("shared s: f64[2] = zeros([2, 99999999999999])", 1, 20, "cannot allocate an array of shape [2, 99999999999999]", 26, TxError),
    ("fn f(x: f64) -> f64 { return reshape(x, [99999999999999999999]) }", 1, 30, "a size or value is too large", 7, TxError),
    ("fn f(x: f64) -> f64 { return x + " + "1" * 5000 + " }", 1, 34, "integer literal too long", 5000, TxError),
    ("fn f(x: f64) -> f64 { return x * 10 ** 10 ** 10 }", 1, 37, "cannot compute 10 ** 10000000000: the result is too large", 2, TxError),
    ("fn f(x: f64[?], y: i32[?]) -> f64[?] { return zeros_like(x, y) }", 1, 47, "unsupported dtype", 10, TxTypeError),
]
# fmt: on


@pytest.mark.parametrize(("text", "line", "column", "message", "width", "kind"), HOSTILE)
def test_hostile_sources(text: str, line: int, column: int, message: str, width: int, kind: type) -> None:
    err = error_of(text)
    assert isinstance(err, kind), repr(err)
    check_report(err, line, column, message, width)


@pytest.mark.parametrize(
    ("nested", "column"),
    [("sin(" * 300 + "x" + ")" * 300, 430), ("-" * 3000 + "x", 130), ("x" + " ** x" * 300, 525)],
)
def test_deep_nesting_is_refused_at_its_token(nested: str, column: int) -> None:
    err = error_of(f"fn f(x: f64) -> f64 {{ return {nested} }}")
    assert (err.line, err.column) == (1, column)
    assert str(err).startswith(
        f"model.tx:1:{column}: error: expression nested more than 100 deep; split it into"
    )


def test_long_left_associative_chains_compile(tmp_path: Path) -> None:
    """1,000 added terms nest 1,000 deep in the syntax tree; lowering them must not recurse."""
    path = tmp_path / "chain.tx"
    path.write_text("fn f(x: f64) -> f64 {\n    return " + " + ".join(["x"] * 1000) + "\n}\n")
    assert tc.compile_file(path).f(2.0) == 2000.0
    path.write_text("fn f(x: f64) -> f64 {\n    return " + "((" * 2000 + "x" + "))" * 2000 + "\n}\n")
    assert tc.compile_file(path).f(2.0) == 2.0  # parentheses make no tree: any depth is fine


def test_a_file_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "model.tx"
    path.write_bytes(b"fn f(x: f64) -> f64 {\n    return x + \xff 1\n}\n")
    with pytest.raises(TxError) as info:
        tc.compile_file(path)
    first, source_line, caret = str(info.value).split("\n")
    assert first == f"{path}:2:16: error: the file is not UTF-8 text (byte 0xff: invalid start byte)"
    assert caret == " " * 15 + "^"
    assert (info.value.line, info.value.column) == (2, 16)


def test_shape_errors_at_run_time_explain_themselves(tmp_path: Path) -> None:
    path = tmp_path / "model.tx"
    path.write_text(
        "fn product(x: f64[?, ?], y: f64[?, ?]) -> f64[?, ?] { return dot(x, y) }\n"
        "fn total(x: f64[?, ?], y: f64[?, ?]) -> f64[?, ?] { return x + y }\n"
    )
    model = tc.compile_file(path)
    with pytest.raises(tc.TcShapeError) as info:
        model.product(np.ones((2, 3)), np.ones((4, 2)))
    assert "tx.dot at " in str(info.value)
    assert "contracts dimension 1 of the left operand (size 3) with dimension 0 of the right (size 4)" in str(
        info.value
    )
    with pytest.raises(tc.TcShapeError) as info:
        model.total(np.ones((1, 3)), np.ones((4, 3)))
    message = str(info.value)
    assert "shapes do not broadcast in tx.add" in message
    assert "sizes must be equal, or one of them statically 1" in message
    assert "T.row" in message and "T.col" in message and "dimshuffle" in message


BROKEN = """\
fn good(x: f64) -> f64 {
    return x * 2
}
fn bad(x: f64[3], y: f64[4]) -> f64[3] {
    return x + y
}
fn worse(x: f64) -> f64 {
    return undefined_name + x
}
"""


def test_every_broken_function_is_reported_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.tx"
    path.write_text(BROKEN)
    with pytest.raises(tc.TcParseError) as caught:
        tc.compile_file(str(path))
    text = str(caught.value)
    assert "broken.tx:5:14: error: tx.add" in text and "broken.tx:8:12: error: unknown name" in text
    assert text.endswith("2 errors in " + str(path))


def test_a_function_compiles_beside_a_broken_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.tx"
    path.write_text(BROKEN)
    assert tc.compile_file(str(path), functions=["good"]).good(3.0) == 6.0
    with pytest.raises(tc.TcValueError, match="has no function 'nope' \\(functions: good, bad, worse\\)"):
        tc.compile_file(str(path), functions=["nope"])
