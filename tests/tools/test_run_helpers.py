"""`tc run`'s argument parsing, result formatting and script splitting."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import tc
from tc.ir import parse_type
from tc.tools.run import format_results, parse_argument, run_script, split_statements, split_words

TUTORIAL = Path(__file__).parents[2] / "examples" / "tutorial.tx"


def test_arguments_take_the_parameters_dtype(tmp_path: Path) -> None:
    assert parse_argument("3", "n", parse_type("tensor<i32>")).dtype == np.int32
    assert parse_argument("0.1", "x", parse_type("tensor<f32>")) == np.float32(0.1)
    assert parse_argument("[[1, 2], [3, 4]]", "m", parse_type("tensor<?x?xf64>")).shape == (2, 2)
    assert parse_argument("true", "b", parse_type("tensor<bool>")).item() is True
    assert np.isnan(parse_argument("nan", "x", parse_type("tensor<f64>")))
    assert parse_argument("-inf", "x", parse_type("tensor<f64>")) == -np.inf
    np.save(tmp_path / "a.npy", np.arange(3, dtype=np.int16))
    assert parse_argument(str(tmp_path / "a.npy"), "a", None).dtype == np.int16


@pytest.mark.parametrize(
    ("text", "type", "message"),
    [
        ("1.5", "tensor<i32>", "cannot be stored"),
        ("300", "tensor<i8>", "cannot be stored"),
        ("abc", "tensor<f64>", "cannot read 'abc'"),
        ("[1, [2]]", "tensor<?xf64>", "not a rectangular array"),
        ("missing.npy", "tensor<f64>", "cannot read 'missing.npy'"),
    ],
)
def test_bad_arguments(text: str, type: str, message: str) -> None:
    with pytest.raises(tc.TcError, match=message):
        parse_argument(text, "x", parse_type(type))


def test_results_print_as_they_parse() -> None:
    assert format_results(np.float64(1.0)) == "1.0"
    assert format_results(np.array(0.1, np.float32)) == "0.1"
    assert format_results([np.int64(3), np.array([True, False])]) == "3, [true, false]"
    assert format_results(np.arange(4).reshape(2, 2)) == "[[0, 1], [2, 3]]"


def test_script_splitting() -> None:
    assert split_statements("a 1; b [1, 2]\n# note\nc  # trailing\n") == ["a 1", "b [1, 2]", "c"]
    assert split_words("f [1, 2] [[3, 4]] 5") == ["f", "[1, 2]", "[[3, 4]]", "5"]
    with pytest.raises(tc.TcError, match="unbalanced"):
        split_words("f [1, 2")


def test_script_transcript_in_process() -> None:
    out = io.StringIO()
    run_script(tc.compile_file(TUTORIAL), "accumulator 1; accumulator 3; decrementor 1; state", out)
    assert out.getvalue().split() == ["0", "1", "4", "3"]
    with pytest.raises(tc.TcError, match=r"script statement 2 \('nope'\)"):
        run_script(tc.compile_file(TUTORIAL), "state; nope", io.StringIO())
    with pytest.raises(tc.TcError, match="not a shared variable"):
        run_script(tc.compile_file(TUTORIAL), "nope = 3", io.StringIO())
