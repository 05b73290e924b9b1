"""The .tx language: the tutorial, every construct, and its Theano semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tc
from tc.frontend.tx.builtins import FUNCTIONS

TUTORIAL = Path(__file__).parents[3] / "examples" / "tutorial.tx"


def compile_text(tmp_path: Path, text: str, name: str = "model.tx") -> tc.artifact.TxModule:
    path = tmp_path / name
    path.write_text(text)
    return tc.compile_file(path)


@pytest.fixture(scope="module")
def tutorial() -> tc.artifact.TxModule:
    return tc.compile_file(TUTORIAL)


def test_tutorial_scalar_function(tutorial: tc.artifact.TxModule) -> None:
    for degrees in (0, 30, 45, 60, 90):
        assert tutorial.sin_identity(degrees) == pytest.approx(1.0, abs=1e-15)
    assert tutorial.sin_identity(30) == 1.0


def test_tutorial_shared_state_transcript() -> None:
    m = tc.compile_file(TUTORIAL)  # fresh state
    state = m.shared["state"]
    assert state.get_value() == 0 and state.dtype == "int64"
    assert m.accumulator(1) == 0 and state.get_value() == 1
    assert m.accumulator(3) == 1 and state.get_value() == 4
    assert m.decrementor(1) == 4 and state.get_value() == 3
    assert m.skip_shared(1, 3) == 7 and state.get_value() == 3
    state.set_value(10)
    assert m.accumulator(1) == 10 and state.get_value() == 11


def test_tutorial_random_streams(tutorial: tc.artifact.TxModule) -> None:
    first, second = tutorial.draw_uniform(), tutorial.draw_uniform()
    assert first.shape == (2, 2) and first.dtype == np.float64
    assert np.all((first >= 0) & (first < 1)) and not np.array_equal(first, second)
    # no_default_updates: the stream does not advance, so every call draws the same numbers.
    assert np.array_equal(tutorial.draw_normal(), tutorial.draw_normal())
    # The same seed gives the same numbers in a fresh module.
    again = tc.compile_file(TUTORIAL)
    assert np.array_equal(again.draw_uniform(), first)


def test_module_object(tutorial: tc.artifact.TxModule) -> None:
    assert list(tutorial.functions) == [
        "sin_identity",
        "accumulator",
        "decrementor",
        "skip_shared",
        "draw_uniform",
        "draw_normal",
    ]
    assert tutorial["accumulator"] is tutorial.accumulator
    assert "accumulator" in dir(tutorial)
    assert set(tutorial.shared) >= {"state"}
    assert "tx.global @state" in tutorial.dump("tir")
    assert "kernel.elementwise" in tutorial.dump("tir-opt")
    assert "tc_sin_identity" in tutorial.dump("llvm-opt")
    with pytest.raises(AttributeError, match="no function 'nope'"):
        tutorial.nope  # noqa: B018
    with pytest.raises(KeyError):
        tutorial["nope"]


def test_types_shapes_and_multiple_results(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
        fn stats(x: f64[?], y: f64[?]) -> (f64[?], f64[?]) {
            let s = x + y
            let d: f64[?] = x - y
            return s, d
        }
        fn one(x: f32[?, 3]) -> (f32[?, 3],) { return x * 2 }
        fn inferred(x: i8, y: u8) { return x + 1, y }
        fn widen(x: i32, b: bool) -> (i64, f64) { return x, b }
        fn row(x: f64[?, ?], r: f64[1, ?]) -> f64[?, ?] { return x + r }
        """,
    )
    s, d = m.stats([1.0, 2.0], [3.0, 5.0])
    assert s.tolist() == [4.0, 7.0] and d.tolist() == [-2.0, -3.0]
    (doubled,) = m.one(np.ones((2, 3), np.float32))
    assert doubled.dtype == np.float32 and doubled.tolist() == [[2.0] * 3] * 2
    a, b = m.inferred(np.int8(5), np.uint8(7))
    assert a.dtype == np.int8 and a == 6 and b.dtype == np.uint8
    wide, flag = m.widen(3, True)
    assert wide.dtype == np.int64 and flag.dtype == np.float64 and flag == 1.0
    assert m.row(np.zeros((2, 3)), np.arange(3.0).reshape(1, 3)).tolist() == [[0.0, 1.0, 2.0]] * 2


def test_operators_match_numpy(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
        fn arith(x: f64[?], y: f64[?]) -> (f64[?], f64[?], f64[?], f64[?], f64[?], f64[?], f64[?], f64[?]) {
            return x + y, x - y, x * y, x / y, x // y, x % y, x ** 2, -x ** 2
        }
        fn logic(i: i32[?], j: i32[?]) -> (i32[?], i32[?], i32[?], i32[?], bool[?], bool[?]) {
            return i & j, i | j, i ^ j, ~i, i == j, i != j
        }
        fn compare(x: f64[?], y: f64[?]) -> (bool[?], bool[?], bool[?], bool[?], bool[?]) {
            return x < y, x <= y, x > y, x >= y, x > 0 & x < 2
        }
        fn literals() -> (i64, f64, f64, bool) {
            return 2 + 3 * 4, 2 ** -1, 7 // 2 + 0.5, true
        }
        """,
    )
    x, y = np.array([-1.5, 0.5, 2.0, 3.0]), np.array([2.0, -0.25, 2.0, 1.5])
    expected = [x + y, x - y, x * y, x / y, x // y, x % y, x**2, -(x**2)]
    for got, want in zip(m.arith(x, y), expected, strict=True):
        np.testing.assert_allclose(got, want)
    i, j = np.array([1, 6, -3, 8], np.int32), np.array([3, 6, 5, 1], np.int32)
    for got, want in zip(m.logic(i, j), [i & j, i | j, i ^ j, ~i, i == j, i != j], strict=True):
        np.testing.assert_array_equal(got, want)
    expected_cmp = [x < y, x <= y, x > y, x >= y, (x > 0) & (x < 2)]
    for got, want in zip(m.compare(x, y), expected_cmp, strict=True):
        np.testing.assert_array_equal(got, want)
    assert [v.item() for v in m.literals()] == [14, 0.5, 3.5, True]


def test_weak_literals_keep_the_tensor_dtype(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
        fn f(x: f32[?], k: i8) -> (f32[?], i8, f64) { return x * 2.5, k + 1, sin(k + 0) * 0 + pi }
        """,
    )
    scaled, k, p = m.f(np.ones(2, np.float32), np.int8(3))
    assert scaled.dtype == np.float32 and k.dtype == np.int8 and k == 4
    assert p == pytest.approx(np.pi)


def test_every_builtin_function_is_callable(tmp_path: Path) -> None:
    unary = [
        "sin cos tan arctan sinh cosh tanh exp exp2 expm1 log log2 log10 log1p sqrt sqr square abs",
        "sgn sign floor ceil round deg2rad rad2deg sigmoid softplus erf relu neg",
    ]
    names = " ".join(unary).split()
    body = ", ".join(f"{name}(x)" for name in names)
    m = compile_text(
        tmp_path,
        f"""
        fn unary(x: f64[?]) {{ return {body} }}
        fn small(x: f64[?]) {{ return arcsin(x * 0.25), arccos(x * 0.25) }}
        fn binary(x: f64[?], y: f64[?]) {{
            return arctan2(x, y), maximum(x, y), minimum(x, y), pow(x, 2), mod(x, y), add(x, y, 1),
                   mul(x, y, 2), sub(x, y), true_div(x, y), floor_div(x, y), int_div(x, y)
        }}
        fn other(x: f64[?], y: f64[?]) {{
            return clip(x, 0, 1), switch(x > y, x, y), where(x > 0, 1.0, 0.0), cast(x, i32),
                   round(x, "half_away_from_zero"), relu(x, alpha = 0.5), eq(x, y), neq(x, y),
                   lt(x, y), le(x, y), gt(x, y), ge(x, y)
        }}
        fn bits(i: i32[?], j: i32[?]) {{ return and_(i, j), or_(i, j), xor(i, j), invert(i) }}
        """,
    )
    x, y = np.array([0.5, 1.5, 2.5, 3.0]), np.array([1.0, 1.0, 2.0, 2.0])
    assert len(m.unary(x)) == len(names)
    np.testing.assert_allclose(m.unary(x)[0], np.sin(x))
    np.testing.assert_allclose(m.small(x)[0], np.arcsin(x * 0.25))
    results = m.binary(x, y)
    np.testing.assert_allclose(results[0], np.arctan2(x, y))
    np.testing.assert_allclose(results[5], x + y + 1)
    other = m.other(x, y)
    np.testing.assert_array_equal(other[3], x.astype(np.int32))
    np.testing.assert_array_equal(other[4], [1.0, 2.0, 3.0, 3.0])
    i, j = np.array([1, 6], np.int32), np.array([3, 4], np.int32)
    np.testing.assert_array_equal(m.bits(i, j)[3], ~i)
    assert {"sin", "relu", "cast", "where"} <= set(FUNCTIONS)


def test_shared_initialisers(tmp_path: Path) -> None:
    np.save(tmp_path / "w.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    m = compile_text(
        tmp_path,
        """
        shared W: f32[2, 3] = "w.npy"
        shared b: f32[3] = zeros
        shared c: f64[?] = ones([4])
        shared k: i8[2] = [1, -2]
        shared flag: bool = true
        shared r: f32 = 0.1
        shared m: i64[2, 2] = [[1, 2], [3, 4]]
        fn get() -> (f32[2, 3], f32[3], f64[?], i8[2], bool, f32, i64[2, 2]) { return W, b, c, k, flag, r, m }
        """,
    )
    W, b, c, k, flag, r, mm = m.get()
    assert W.tolist() == [[0, 1, 2], [3, 4, 5]] and W.dtype == np.float32
    assert b.tolist() == [0, 0, 0] and c.tolist() == [1, 1, 1, 1]
    assert k.dtype == np.int8 and k.tolist() == [1, -2] and flag.item() is True
    assert r == np.float32(0.1) and mm.tolist() == [[1, 2], [3, 4]]
    assert m.shared["W"].get_value().dtype == np.float32


def test_updates_are_computed_from_values_before_the_call(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
        shared a: i64 = 1
        shared b: i64 = 2
        fn swap() -> (i64, i64) {
            update a = b
            update b = a
            return a, b
        }
        fn bump(n: i32) {
            update a = a + n
        }
        """,
    )
    assert [v.item() for v in m.swap()] == [1, 2]
    assert (m.shared["a"].get_value(), m.shared["b"].get_value()) == (2, 1)
    assert m.bump(5) == [] and m.shared["a"].get_value() == 7


def test_functions_share_the_files_shared_variables(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
        shared w: f64[?] = [1.0, 2.0]
        fn scale(k: f64) { update w = w * k }
        fn total() -> f64[?] { return w }
        fn peek(v: f64[?]) -> f64[?] given w = v { return w + 1 }
        """,
    )
    m.scale(3.0)
    assert m.total().tolist() == [3.0, 6.0]
    assert m.peek([0.0, 0.0]).tolist() == [1.0, 1.0]
    assert m.shared["w"].get_value().tolist() == [3.0, 6.0]
    m.shared["w"].set_value(np.zeros(3))
    assert m.total().tolist() == [0.0, 0.0, 0.0]


def test_unused_parameter_with_underscore_is_accepted(tmp_path: Path) -> None:
    m = compile_text(tmp_path, "fn f(x: f64, _ignored: f64) -> f64 { return x }")
    assert m.f(2.0, 5.0) == 2.0


def test_ops_carry_tx_locations(tmp_path: Path) -> None:
    m = compile_text(tmp_path, "fn f(x: f64[?], y: f64[?]) -> f64[?] {\n    return x * 2 + y\n}\n", "loc.tx")
    with pytest.raises(tc.TcShapeError, match=r"loc\.tx:2:18"):
        m.f([1.0, 2.0], [1.0, 2.0, 3.0])


def test_random_draw_options(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
        random rng(seed = 3)
        fn f() -> (f32[3], f64[2]) {
            return rng.uniform(shape = [3], low = 2, high = 3, dtype = f32), rng.normal(size = [2], std = 0)
        }
        """,
    )
    u, n = m.f()
    assert u.dtype == np.float32 and np.all((u >= 2) & (u < 3)) and n.tolist() == [0.0, 0.0]


def test_subscripts_slices_and_integer_arrays(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
shared data: f64[?, 3] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
fn rows(i: i64) -> f64[?, ?] {
    return data[i:i + 2, ::2]
}
fn pick(r: i64[?], c: i64[?]) -> f64[?] {
    return data[r, c] * 2 ** data[0, 0]
}
""",
    )
    data = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(m.rows(1), data[1:3, ::2])
    np.testing.assert_array_equal(m.rows(-1), data[-1:1, ::2])  # Python's clamping, an empty result
    np.testing.assert_array_equal(m.pick(np.array([0, 2]), np.array([1, 1])), [4.0, 16.0])
    with pytest.raises(IndexError):
        m.pick(np.array([3]), np.array([0]))
