"""Calling compiled functions: Theano's argument rules and clear errors for bad input."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tc
from tc import tensor as T

ROOT = Path(__file__).resolve().parents[2]


def test_seed_tutorial_prints_ones() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tutorial.py")], capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["1.0"] * 5
    assert [line.split() for line in lines[1:6]] == [
        ["0", "1"],
        ["1", "301"],
        ["301", "299"],
        ["-1", "2"],
        ["7", "2"],
    ]
    assert "True" in lines


def test_seed_function_returns_zero_d_arrays() -> None:
    x = T.dscalar("x")
    f = tc.function([x], T.sin(T.deg2rad(x)) ** 2 + T.cos(T.deg2rad(x)) ** 2)
    for degrees in (0, 30, 45, 60, 90, 30.0, np.float32(45), np.int64(60)):
        result = f(degrees)
        assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float64
        assert result == pytest.approx(1.0, abs=1e-15)


@pytest.fixture(scope="module")
def add_function():  # type: ignore[no-untyped-def]
    x, y = T.fvector("x"), T.fvector("y")
    return tc.function([x, y], x + y)


def test_wrong_argument_count(add_function) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tc.TcTypeError, match=r"takes 2 argument\(s\) \(x, y\), found 1") as err:
        add_function(np.zeros(3, np.float32))
    assert isinstance(err.value, TypeError)


def test_lossy_dtype_names_argument_and_dtypes(add_function) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tc.TcTypeError, match="argument 'y' expects float32 but got an array of float64"):
        add_function(np.zeros(3, np.float32), np.zeros(3))


def test_allow_input_downcast() -> None:
    x = T.fvector("x")
    f = tc.function([x], x * 2, allow_input_downcast=True)
    assert f(np.array([0.1, 0.2])).dtype == np.float32


def test_safe_upcast_is_silent(add_function) -> None:  # type: ignore[no-untyped-def]
    out = add_function(np.arange(3, dtype=np.int8), [1, 2, 3])
    assert out.dtype == np.float32 and out.tolist() == [1.0, 3.0, 5.0]


def test_python_values_must_be_exact() -> None:
    i = T.iscalar("i")
    f = tc.function([i], i + 1)
    assert f(41) == 42
    with pytest.raises(tc.TcTypeError, match=r"argument 'i' expects int32, but 1.5 cannot be stored"):
        f(1.5)
    with pytest.raises(tc.TcTypeError, match="argument 'i'"):
        f(2**40)


def test_wrong_rank(add_function) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        tc.TcTypeError, match=r"argument 'x' must have rank 1 .*found rank 2 with shape \(2, 2\)"
    ):
        add_function(np.zeros((2, 2), np.float32), np.zeros(2, np.float32))


def test_shapes_that_do_not_broadcast(add_function) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        tc.TcShapeError, match=r"tx.add at .*test_calls.py:\d+.*'x' has size 3.*'y' has size 4"
    ) as err:
        add_function(np.zeros(3, np.float32), np.zeros(4, np.float32))
    assert isinstance(err.value, ValueError)


def test_matrix_dimension_of_one_does_not_stretch() -> None:
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = tc.function([a, b], a * b)
    with pytest.raises(tc.TcShapeError, match="'a' has size 3 on axis 0 but argument 'b' has size 1"):
        f(np.ones((3, 4)), np.ones((1, 4)))
    r = T.drow("r")
    g = tc.function([a, r], a * r)
    assert g(np.ones((3, 4)), np.full((1, 4), 2.0)).tolist() == [[2.0] * 4] * 3


def test_static_shape_is_checked() -> None:
    x = T.tensor("float64", (None, 3), name="x")
    f = tc.function([x], x + 1)
    with pytest.raises(
        tc.TcShapeError, match=r"argument 'x' must have shape tensor<\?x3xf64>, found shape \(2, 4\)"
    ):
        f(np.zeros((2, 4)))


@pytest.mark.parametrize("value", ["abc", None, object(), [1, "a"], np.array(["x"])])
def test_non_numeric_values(add_function, value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tc.TcError, match="argument 'x' must be numeric"):
        add_function(value, np.zeros(3, np.float32))


def test_keyword_arguments(add_function) -> None:  # type: ignore[no-untyped-def]
    one = np.ones(2, np.float32)
    assert add_function(one, y=one).tolist() == [2.0, 2.0]
    assert add_function(y=one, x=one * 3).tolist() == [4.0, 4.0]
    with pytest.raises(tc.TcTypeError, match="no input named 'z'"):
        add_function(one, z=one)
    with pytest.raises(tc.TcTypeError, match="missing input"):
        add_function(x=one)


def test_unused_input_is_an_error_unless_ignored() -> None:
    x, y = T.dscalar("x"), T.dscalar("y")
    with pytest.raises(tc.TcValueError, match="input\\(s\\) y of function"):
        tc.function([x, y], x * 2)
    f = tc.function([x, y], x * 2, on_unused_input="ignore")
    assert f(2, 5) == 4


def test_unused_input_is_reported_when_the_passes_come_from_the_cache() -> None:
    x, y = T.dscalar("x"), T.dscalar("y")

    def compile_with(policy: str) -> tc.CompiledFunction:
        # One call site: the same located IR, and so the same pass cache entry, each time.
        return tc.function([x, y], x * 3 + 1, on_unused_input=policy)

    assert compile_with("ignore")(2, 5) == 7
    with pytest.raises(tc.TcValueError, match="input\\(s\\) y of function"):
        compile_with("raise")
    with pytest.warns(UserWarning, match="unused input\\(s\\) y of function 'f'") as warned:
        compile_with("warn")
    assert warned[0].filename == __file__  # the warning names the caller's line


def test_multiple_outputs_and_bool_results() -> None:
    x = T.dvector("x")
    f = tc.function([x], [x > 0, abs(x), T.switch(x > 0, x, 0)])
    pos, mag, relu = f([-1.0, 0.0, 2.0])
    assert pos.dtype == bool and pos.tolist() == [False, False, True]
    assert mag.tolist() == [1.0, 0.0, 2.0] and relu.tolist() == [0.0, 0.0, 2.0]


def test_dumps_of_every_stage() -> None:
    x = T.dvector("x")
    f = tc.function([x], T.exp(x) * 2)
    assert "tx.exp" in f.dump("tir") and "kernel.elementwise" in f.dump("tir-opt")
    assert "define" in f.dump("llvm") and "define" in f.dump("llvm-opt")
    assert ".text" in f.dump("asm") or "tc_f" in f.dump("asm")
    with pytest.raises(tc.TcError, match="unknown stage 'ptx'"):
        f.dump("ptx")


def test_debugprint_of_a_compiled_function() -> None:
    x = T.dscalar("x")
    f = tc.function([x], T.sin(x) * 2)
    text = tc.printing.debugprint(f, file="str")
    assert text.splitlines()[0].startswith("kernel.elementwise [id A]")
    assert "tx.sin" in text and "tx.mul" in text


def test_compiled_function_is_safe_to_call_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    x = T.dvector("x")
    f = tc.function([x], T.tanh(x) + 1)
    data = [np.full(100 + i, float(i)) for i in range(32)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(f, data))
    for value, result in zip(data, results, strict=True):
        np.testing.assert_allclose(result, np.tanh(value) + 1)


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 2**100])
def test_python_ints_outside_int64_are_refused_not_wrapped(value: int) -> None:
    n = T.lscalar("n")
    f = tc.function([n], n + 1)
    with pytest.raises(tc.TcTypeError, match=r"argument 'n' expects int64, but -?\d+ is outside its range"):
        f(value)
    vector = T.lvector("v")
    g = tc.function([vector], vector + 1)
    with pytest.raises(tc.TcTypeError, match="argument 'v' expects int64"):
        g([1, value])
    assert f(2**63 - 1) == -(2**63)  # int64 arithmetic wraps, as numpy's does; the argument was exact


def test_outputs_that_are_not_tensors() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    with pytest.raises(tc.TcTypeError, match=r"output #0 is the Python bool False.*use T.eq\(a, b\)"):
        tc.function([x, y], x == y)
    with pytest.raises(tc.TcTypeError, match="output #1 is None"):
        tc.function([x, y], [x + y, None])
    f = tc.function([x], [x, 2.0])  # a number is a constant output
    assert f(np.ones(2))[1] == 2.0


def test_an_unknown_dump_stage_is_warned_about(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TC_DUMP", "bogus,tir")
    x = T.dscalar("x")
    with pytest.warns(UserWarning, match="TC_DUMP: unknown stage.*'bogus'.*tir, tir-opt, llvm"):
        tc.function([x], x + 1)
    assert "// ----- tir -----" in capsys.readouterr().out


def test_plans_that_do_not_pickle_are_not_cached_and_the_compile_goes_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tc import pass_cache

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise pickle.PicklingError("not today")

    monkeypatch.setattr(pass_cache.pickle, "dumps", refuse)
    x = T.dvector("x")
    before = dict(pass_cache._MEMORY)
    f = tc.function([x], T.exp(x) * 7 - 3)
    assert f([0.0]).tolist() == [4.0]
    assert pass_cache._MEMORY == before
