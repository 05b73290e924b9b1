"""A convolution fused with the elementwise kernel that consumes it (`kernel.conv2d`,
passes/fuse_conv.py): formed for a bias and an activation, computed through both native
paths (register tiles image by image, chunks through BLAS) to numpy's values with operands
of every broadcast kind; left alone where the convolution is used elsewhere or a kernel
operand widens it; its text form, interpreter and call-time shape checks."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import numpy_conv2d

import tc
import tc.tensor as T
from tc.ir import TcError, parse_module, print_module, run_function

RNG = np.random.default_rng(17)


def _step(dtype: str, wv: np.ndarray, bv: np.ndarray):  # type: ignore[no-untyped-def]
    """tanh(conv(x, w) + b per channel) * z + r (z a whole tensor, r one row per image row)."""
    x, z = T.tensor(dtype, (None,) * 4, "x"), T.tensor(dtype, (None,) * 4, "z")
    r = T.tensor(dtype, (None, None), "r")
    w, b = tc.shared(wv), tc.shared(bv)
    y = T.tanh(T.nnet.conv2d(x, w, border_mode="half") + b.dimshuffle("x", 0, "x", "x")) * z + r + 2
    return tc.function([x, z, r], y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "shape_x",
    [(5, 3, 12, 14), (3, 3, 4, 5), (17, 3, 9, 40), (0, 3, 12, 14)],
    ids=["tiles", "chunks", "slices", "empty"],
)
def test_values_through_both_paths(dtype: str, shape_x: tuple) -> None:
    wv = RNG.standard_normal((6, 3, 3, 3)).astype(dtype)
    bv = RNG.standard_normal(6).astype(dtype)
    f = _step(dtype, wv, bv)
    assert "kernel.conv2d" in f.dump("tir-opt") and "tx.conv2d" not in f.dump("tir-opt")
    xv = RNG.standard_normal(shape_x).astype(dtype)
    conv = numpy_conv2d(xv, wv, "half")
    zv = RNG.standard_normal(conv.shape).astype(dtype)
    rv = RNG.standard_normal(conv.shape[2:]).astype(dtype)
    want = np.tanh(conv + bv[None, :, None, None]) * zv + rv + 2
    got = f(xv, zv, rv)
    assert got.dtype == dtype and got.shape == want.shape
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_not_fused_where_the_convolution_is_used_elsewhere_or_widened() -> None:
    x, z = T.dtensor4("x"), T.dtensor4("z")
    wv = RNG.standard_normal((4, 2, 3, 3))
    y = T.nnet.conv2d(x, tc.shared(wv))
    f = tc.function([x], [T.tanh(y), y * 2])  # the convolution itself is a result
    assert "kernel.conv2d" not in f.dump("tir-opt")
    xv = RNG.standard_normal((2, 2, 9, 9))
    a, b = f(xv)
    np.testing.assert_allclose(a, np.tanh(numpy_conv2d(xv, wv)), rtol=1e-12)
    np.testing.assert_allclose(b, 2 * numpy_conv2d(xv, wv), rtol=1e-12)
    w1 = T.tensor("float64", (1, 2, 3, 3), "w1")  # one filter: a static 1 channel
    g = tc.function([x, w1, z], T.nnet.conv2d(x, w1) + z)  # z may widen its channel axis
    assert "kernel.conv2d" not in g.dump("tir-opt")
    w1v, zv = RNG.standard_normal((1, 2, 3, 3)), RNG.standard_normal((2, 5, 7, 7))
    np.testing.assert_allclose(g(xv, w1v, zv), numpy_conv2d(xv, w1v) + zv, rtol=1e-12)


def test_call_time_shape_errors() -> None:
    f = _step("float64", RNG.standard_normal((6, 3, 3, 3)), RNG.standard_normal(6))
    xv = RNG.standard_normal((2, 3, 8, 8))
    with pytest.raises(tc.TcShapeError, match=r"tx.mul at .*test_conv_fused.py:\d+.*'z' has size 7"):
        f(xv, RNG.standard_normal((2, 6, 8, 7)), RNG.standard_normal((8, 8)))


IR = """module {
  func @f(%x: tensor<?x2x5x5xf64>, %w: tensor<3x2x3x3xf64>, %b: tensor<1x3x1x1xf64>) -> tensor<?x3x3x3xf64> {
    %0 = kernel.conv2d %x, %w, %b {border = "explicit", dilation = [1, 1], flip = true, padding = [0, 0], stride = [1, 1]} : tensor<?x2x5x5xf64>, tensor<3x2x3x3xf64>, tensor<1x3x1x1xf64> -> tensor<?x3x3x3xf64> ({
    ^bb0(%1: tensor<f64>, %2: tensor<f64>):
      %3 = tx.add %1, %2 : tensor<f64>
      %4 = tx.tanh %3 : tensor<f64>
      kernel.yield %4 : tensor<f64>
    })
    return %0 : tensor<?x3x3x3xf64>
  }
}
"""  # noqa: E501


def test_text_round_trip_and_interpreter() -> None:
    module = parse_module(IR)
    assert print_module(module) == IR
    xv, wv, bv = RNG.standard_normal((2, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3)), RNG.standard_normal(3)
    (got,) = run_function(module.functions[0], xv, wv, bv.reshape(1, 3, 1, 1))
    np.testing.assert_allclose(got, np.tanh(numpy_conv2d(xv, wv) + bv[None, :, None, None]), rtol=1e-12)
    with pytest.raises(TcError, match=r"kernel.conv2d.*do not broadcast"):
        parse_module(IR.replace("tensor<1x3x1x1xf64>", "tensor<1x3x1x4xf64>"))
