"""tx.cumsum (Theano's `T.extra_ops.cumsum`) end to end: its values and dtypes against
numpy's in native code, its gradient, and its reach through T, T.extra_ops, .tx, the IR text
form and constant folding. Everything else about it comes from the generic registry loops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend.lower import build_function_ir
from tc.gradient import verify_grad
from tc.ir import TcError, parse_module, print_module, run_function
from tc.passes import run_pipeline

RNG = np.random.default_rng(3)


def _data(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return RNG.integers(max(info.min, -100), min(info.max, 100), size=shape, dtype=dtype)
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "int32", "int64", "uint8", "bool"])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
def test_values_and_dtypes_match_numpy(dtype: str, axis: int | None) -> None:
    x = T.tensor(dtype, (None, None, None), "x")
    f = tc.function([x], T.cumsum(x, axis=axis))
    for value in (_data(dtype, (3, 4, 5)), _data(dtype, (2, 0, 3))):
        got, want = f(value), np.cumsum(value, axis=axis)
        want = want.astype(np.int64) if want.dtype == np.uint64 else want  # tc has no uint64
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)  # one addition after the other, as numpy


def test_non_contiguous_inputs() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], [T.cumsum(x.T, axis=0), T.cumsum(x[::-1, ::2], axis=1), T.cumsum(x.T)])
    a = _data("float64", (5, 7))
    got = f(a)
    for g, want in zip(got, [np.cumsum(a.T, 0), np.cumsum(a[::-1, ::2], 1), np.cumsum(a.T)], strict=True):
        np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(f(np.asfortranarray(a))[0], np.cumsum(a.T, 0))


def test_a_scalar_and_a_static_shape() -> None:
    s, v = T.dscalar("s"), T.tensor("float32", (4,), "v")
    f = tc.function([s, v], [T.cumsum(s), T.cumsum(v, 0)])
    got = f(2.5, np.arange(4, dtype="f4"))
    np.testing.assert_array_equal(got[0], [2.5])
    np.testing.assert_array_equal(got[1], [0, 1, 3, 6])
    assert T.cumsum(v, 0).type.shape == (4,)


def test_through_extra_ops_as_theano_spells_it() -> None:
    from tc.tensor.extra_ops import cumsum

    assert cumsum is T.extra_ops.cumsum is T.cumsum
    x = T.lmatrix("x")
    f = tc.function([x], T.extra_ops.cumsum(x, 1))
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(f(a), np.cumsum(a, 1))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_gradient_matches_finite_differences(axis: int | None) -> None:
    verify_grad(lambda a: T.cumsum(a, axis=axis) * T.cumsum(a, axis=axis), [RNG.uniform(size=(3, 4))])


def test_gradient_is_the_reversed_cumsum() -> None:
    x, w = T.dmatrix("x"), T.dmatrix("w")
    f = tc.function([x, w], T.grad(T.sum(T.cumsum(x, axis=0) * w), x))
    a, b = _data("float64", (4, 3)), _data("float64", (4, 3))
    np.testing.assert_allclose(f(a, b), np.cumsum(b[::-1], axis=0)[::-1], rtol=1e-14)
    g = tc.function([x, w], T.grad(T.sum(T.cumsum(x) * w.flatten()), x))
    np.testing.assert_allclose(g(a, b), np.cumsum(b.ravel()[::-1])[::-1].reshape(a.shape), rtol=1e-14)


def test_integer_cumsum_has_no_gradient() -> None:
    x = T.dvector("x")
    f = tc.function([x], T.grad(T.sum(T.cumsum(T.cast(x, "int32"))) + T.sum(x), x))
    np.testing.assert_array_equal(f(np.array([0.5, 2.0])), [1.0, 1.0])


def test_tx_builtin(tmp_path: Path) -> None:
    path = tmp_path / "scan.tx"
    path.write_text(
        "fn rows(x: f64[?, ?]) -> f64[?, ?] {\n    return cumsum(x, axis = 1)\n}\n"
        "fn flat(x: i8[?, ?]) -> i64[?] {\n    return cumsum(x)\n}\n"
        "fn last(x: f32[?, ?]) -> f32[?, ?] {\n    return cumsum(x, -1)\n}\n"
    )
    module = tc.compile_file(path)
    a = _data("float64", (3, 4))
    np.testing.assert_array_equal(module.rows(a), np.cumsum(a, 1))
    b = _data("int8", (3, 4))
    np.testing.assert_array_equal(module.flat(b), np.cumsum(b))
    c = a.astype("f4")
    np.testing.assert_array_equal(module.last(c), np.cumsum(c, -1))


def test_tx_refuses_a_bad_axis_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tx"
    path.write_text('fn f(x: f64[?]) -> f64[?] {\n    return cumsum(x, axis = "a")\n}\n')
    with pytest.raises(TcError, match=r"bad\.tx:2:.*axis must be int"):
        tc.compile_file(path)


def test_builder_errors() -> None:
    x = T.dmatrix("x")
    with pytest.raises(TcError, match="out of range"):
        T.cumsum(x, axis=2)
    with pytest.raises(TcError, match="must be int"):
        T.cumsum(x, axis=1.0)


IR = """module {
  func @f(%x: tensor<?x3xi32>) -> tensor<?x3xi64> {
    %0 = tx.cumsum %x {axis = 1} : tensor<?x3xi32> -> tensor<?x3xi64>
    return %0 : tensor<?x3xi64>
  }
}
"""


def test_text_round_trip_and_interpreter() -> None:
    module = parse_module(IR)
    assert print_module(module) == IR
    assert print_module(parse_module(print_module(module))) == IR
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    (got,) = run_function(module.functions[0], a)
    np.testing.assert_array_equal(got, np.cumsum(a, 1))


def test_ir_refuses_a_bad_axis() -> None:
    with pytest.raises(TcError, match="axis 2 is not an axis"):
        parse_module(IR.replace("axis = 1", "axis = 2"))
    with pytest.raises(TcError):
        parse_module(IR.replace("axis = 1", "axis = true"))


def test_cumsum_of_a_constant_folds() -> None:
    out = T.cumsum(T.constant(np.array([[1.0, 2.0], [3.0, 4.0]])), axis=0) * 2.0
    module = run_pipeline(build_function_ir("f", [], [out]), "canonicalize")
    names = [op.name for op in module.functions[0].body.ops]
    assert "tx.cumsum" not in names and names == ["tx.constant", "return"]
    np.testing.assert_array_equal(tc.function([], out)(), [[2.0, 4.0], [8.0, 12.0]])
