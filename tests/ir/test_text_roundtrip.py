"""print -> parse -> print is a fixed point, values and locations survive."""

from __future__ import annotations

import numpy as np
import pytest

from tc.ir import Location, parse_module, print_module, run

MODULE = """module {
  tx.global @state : tensor<i64> = dense<0>
  tx.global @w : tensor<2x2xf32> = dense<[[0.1, -0.0], [inf, nan]]>
  func @f(%x: tensor<?xf64>, %n: tensor<i32>) -> (tensor<?xf64>, tensor<?xbool>) {
    %c = tx.constant dense<2.0> : tensor<f64>
    %0 = tx.deg2rad %x : tensor<?xf64>
    %1 = tx.pow %0, %c : tensor<?xf64>, tensor<f64> -> tensor<?xf64>
    %2 = tx.cast %n : tensor<i32> -> tensor<f64>
    %3 = tx.lt %1, %2 : tensor<?xf64>, tensor<f64> -> tensor<?xbool>
    %k = kernel.elementwise %x, %2 : tensor<?xf64>, tensor<f64> -> tensor<?xf64> ({
    ^bb0(%a: tensor<f64>, %b: tensor<f64>):
      %s = tx.mul %a, %b : tensor<f64>
      kernel.yield %s : tensor<f64>
    })
    return %k, %3 : tensor<?xf64>, tensor<?xbool>
  }
  func @g() -> tensor<i8> {
    %0 = tx.constant dense<-128> : tensor<i8>
    return %0 : tensor<i8>
  }
}
"""


def test_module_text_is_a_fixed_point() -> None:
    module = parse_module(MODULE)
    assert print_module(module) == MODULE
    assert print_module(parse_module(print_module(module))) == MODULE


def test_constants_keep_their_bits() -> None:
    module = parse_module(MODULE)
    w = module.globals[1].initial
    assert w is not None and w.dtype == np.float32
    assert w[0, 0] == np.float32(0.1)
    assert np.signbit(w[0, 1]) and np.isinf(w[1, 0]) and np.isnan(w[1, 1])


@pytest.mark.parametrize("value", [0.1, 1e-300, -0.0, 5e-324, 3.4028234663852886e38, np.pi])
@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_float_constants_round_trip_exactly(value: float, dtype: str) -> None:
    text = f"""module {{
  func @f() -> tensor<{dtype}> {{
    %0 = tx.constant dense<{value!r}> : tensor<{dtype}>
    return %0 : tensor<{dtype}>
  }}
}}
"""
    first = parse_module(text)
    again = parse_module(print_module(first))
    a, b = run(first, "f")[0], run(again, "f")[0]
    assert a.tobytes() == b.tobytes()


def test_locations_print_and_parse() -> None:
    module = parse_module(MODULE)
    op = module.function("f").body.ops[1]
    op.location = Location("model.tx", 12, 9)
    text = print_module(module, locations=True)
    assert 'loc("model.tx":12:9)' in text
    again = parse_module(text)
    assert again.function("f").body.ops[1].location == Location("model.tx", 12, 9)
    assert print_module(again, locations=True) == text


def test_interpreter_runs_kernels() -> None:
    k, lt = run(parse_module(MODULE), "f", np.array([0.0, 90.0, 180.0]), np.int32(3))
    np.testing.assert_allclose(k, [0.0, 270.0, 540.0])
    assert lt.tolist() == [True, True, False]


def test_float_literal_out_of_range_is_an_error() -> None:
    from tc.ir import TcParseError

    text = "module {\n  tx.global @w : tensor<f32> = dense<1e300>\n}\n"
    with pytest.raises(TcParseError, match="out of range for f32"):
        parse_module(text)


@pytest.mark.parametrize("shape", [(0,), (0, 1), (2, 0, 3)])
def test_empty_constants_round_trip(shape: tuple[int, ...]) -> None:
    """An empty constant of any rank prints as `dense<[]>`, which parses back to its type's
    shape (nested lists such as `[[], []]` are read too)."""
    dims = "x".join(map(str, shape))
    for literal in ("[]", np.array2string(np.zeros(shape), separator=", ").replace(".", "")):
        text = (
            "module {\n"
            f"  func @f() -> tensor<{dims}xf64> {{\n"
            f"    %0 = tx.constant dense<{literal}> : tensor<{dims}xf64>\n"
            f"    return %0 : tensor<{dims}xf64>\n"
            "  }\n"
            "}\n"
        )
        printed = print_module(parse_module(text))
        assert print_module(parse_module(printed)) == printed
        (value,) = run(parse_module(text), "f")
        assert value.shape == shape
