"""tx.pool_2d (Theano's `theano.tensor.signal.pool.pool_2d`) end to end: native values against a
numpy transcription of Theano's Pool.perform written here, every mode, ignore_border both ways,
strides, padding, ranks 2 to 5, both float dtypes; gradients (max: Theano's MaxPoolGrad, every
element equal to the maximum), errors, the IR text form and the .tx builtin."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend.graph import make_apply
from tc.gradient import verify_grad
from tc.ir import TcError, parse_module, print_module, run_function
from tc.ir.ops.pool import Pool2DGrad
from tc.tensor.signal import pool

RNG = np.random.default_rng(5)
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def _out(size: int, ws: int, st: int, pad: int, ignore_border: bool) -> int:
    size += 2 * pad
    if ignore_border:
        return (size - ws) // st + 1
    return (size - 1) // st + 1 if st >= ws else max(0, (size - 1 - ws + st) // st) + 1


def numpy_pool(x, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):  # type: ignore[no-untyped-def]
    """Theano's Pool.perform over the last two axes."""
    stride = ws if stride is None else stride
    h, w = x.shape[-2:]
    padded = np.zeros((*x.shape[:-2], h + 2 * pad[0], w + 2 * pad[1]), x.dtype)
    padded[..., pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x
    rows, cols = (_out(s, ws[a], stride[a], pad[a], ignore_border) for a, s in enumerate((h, w)))
    y = np.zeros((*x.shape[:-2], rows, cols), x.dtype)
    for r in range(rows):
        r0, r1 = r * stride[0], min(r * stride[0] + ws[0], padded.shape[-2])
        if mode != "average_inc_pad":
            r0, r1 = max(r0, pad[0]), min(r1, h + pad[0])
        for c in range(cols):
            c0, c1 = c * stride[1], min(c * stride[1] + ws[1], padded.shape[-1])
            if mode != "average_inc_pad":
                c0, c1 = max(c0, pad[1]), min(c1, w + pad[1])
            window = padded[..., r0:r1, c0:c1]
            if mode == "max":
                y[..., r, c] = window.max(axis=(-2, -1))
            elif mode == "sum":
                y[..., r, c] = window.sum(axis=(-2, -1))
            else:
                y[..., r, c] = window.mean(axis=(-2, -1))
    return y


CASES = [
    dict(ws=(2, 2)),
    dict(ws=(2, 2), ignore_border=False),
    dict(ws=(3, 2), ignore_border=False),
    dict(ws=(3, 3), stride=(1, 1)),
    dict(ws=(3, 2), stride=(2, 1), ignore_border=False),
    dict(ws=(2, 3), stride=(3, 3), ignore_border=False),
    dict(ws=(3, 3), stride=(2, 2), pad=(1, 2)),
    dict(ws=(2, 4), stride=(1, 3), pad=(1, 1)),
]


def _ids(case: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in case.items())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_values_match_theano_perform(dtype: str, mode: str, case: dict) -> None:
    x = T.tensor(dtype, (None,) * 4, "x")
    f = tc.function([x], pool.pool_2d(x, mode=mode, **case))
    for shape in [(2, 3, 7, 8), (1, 1, 4, 4), (2, 1, 9, 6)]:
        xv = RNG.standard_normal(shape).astype(dtype)
        got, want = f(xv), numpy_pool(xv, mode=mode, **case)
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-14, atol=1e-6)


@pytest.mark.parametrize("rank", [2, 3, 5])
def test_any_rank_and_layout(rank: int) -> None:
    x = T.tensor("float64", (None,) * rank, "x")
    f = tc.function([x], [pool.pool_2d(x, (2, 3), mode=m, ignore_border=False) for m in MODES])
    shape = (2, 3, 4)[: rank - 2] + (5, 7)
    xv = RNG.standard_normal(shape)
    for value in (xv, np.asfortranarray(xv), np.repeat(xv, 2, axis=-1)[..., ::2]):
        for got, m in zip(f(value), MODES, strict=True):
            np.testing.assert_allclose(got, numpy_pool(xv, (2, 3), False, mode=m), rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_large_batches_spread_over_the_cores_give_the_same_bits(mode: str) -> None:
    """Pooling and its gradient over 9 x 8 x 40 x 41 elements (enough for the batch to be
    spread over the threads) in any layout, as on one thread and as the reference."""
    x, c = T.tensor("float64", (None,) * 4, "x"), T.tensor("float64", (None,) * 4, "c")
    y = pool.pool_2d(x, (3, 2), ignore_border=False, mode=mode)
    f = tc.function([x, c], [y, T.grad(T.sum(y * c), x)])
    xv = RNG.standard_normal((9, 8, 40, 41))
    cv = RNG.standard_normal(numpy_pool(xv, (3, 2), False, mode=mode).shape)
    native = f._code_owner
    for value in (xv, np.asfortranarray(xv)):
        try:
            native.set_num_threads(1)
            one = f(value, cv)
            native.set_num_threads(2)
            two = f(value, cv)
        finally:
            native.set_num_threads(2)
        np.testing.assert_allclose(two[0], numpy_pool(xv, (3, 2), False, mode=mode), rtol=1e-14)
        for a, b in zip(one, two, strict=True):
            assert a.tobytes() == b.tobytes()


def test_nan_propagates_through_max_and_static_shapes() -> None:
    x = T.tensor("float32", (2, 6, 6), "x")
    y = pool.pool_2d(x, (2, 2), stride=(2, 1))
    assert y.type.shape == (2, 3, 5)
    xv = RNG.standard_normal((2, 6, 6)).astype("f4")
    xv[0, 0, 0] = np.nan
    got = tc.function([x], y)(xv)
    np.testing.assert_array_equal(got, numpy_pool(xv, (2, 2), True, (2, 1)))
    assert np.isnan(got[0, 0, 0]) and not np.isnan(got[0, 0, 1:]).any()


def test_theano_spellings() -> None:
    from tc.tensor.signal.pool import pool_2d

    assert pool_2d is pool.pool_2d
    x = T.dmatrix("x")
    f = tc.function([x], [pool_2d(x, ds=(2, 2)), pool_2d(x, ws=(2, 2), st=(1, 1), mode="average")])
    xv = RNG.standard_normal((5, 5))
    a, b = f(xv)
    np.testing.assert_allclose(a, numpy_pool(xv, (2, 2)))
    np.testing.assert_allclose(b, numpy_pool(xv, (2, 2), True, (1, 1), mode="average_inc_pad"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "case", [CASES[0], CASES[3], CASES[4], CASES[6]], ids=["2x2", "overlap", "border", "pad"]
)
def test_gradients_match_finite_differences(mode: str, case: dict) -> None:
    xv = RNG.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0  # no ties: max is differentiable
    verify_grad(lambda a: pool.pool_2d(a, mode=mode, **case), [xv])


def test_max_gradient_goes_to_every_maximum_as_theano() -> None:
    x = T.dmatrix("x")
    gx = T.grad(T.sum(pool.pool_2d(x, (2, 2), stride=(1, 1)) * np.array([[1.0, 10.0]])), x)
    xv = np.array([[1.0, 3.0, 3.0], [0.0, 2.0, -1.0]])
    # window 0 holds one 3 (at [0, 1]), window 1 two (at [0, 1] and [0, 2]): each gets all of it
    np.testing.assert_array_equal(tc.function([x], gx)(xv), [[0.0, 11.0, 10.0], [0.0, 0.0, 0.0]])


def test_linear_modes_have_second_derivatives() -> None:
    xv = RNG.standard_normal((2, 5, 6))
    for mode in ("sum", "average_inc_pad", "average_exc_pad"):
        attrs = dict(ws=(2, 3), stride=(2, 2), padding=(1, 0), mode=mode, ignore_border=True)
        gv = RNG.standard_normal((2, 3, 2))
        verify_grad(lambda g, attrs=attrs: make_apply(Pool2DGrad, [T.constant(xv), g], attrs).out, [gv])
    x = T.dtensor3("x")
    with pytest.raises(tc.TcGradientError, match="no second derivative"):
        T.grad(T.sum(T.grad(T.sum(pool.pool_2d(x, (2, 2)) ** 2), x)), x)


def test_errors() -> None:
    here = re.escape(Path(__file__).name) + r":\d+"
    with pytest.raises(tc.TcShapeError, match=here + r".*window \(3 rows\) is larger"):
        pool.pool_2d(T.tensor("float64", (4, 2, 5)), (3, 3))
    with pytest.raises(tc.TcValueError, match=here + r".*only with ignore_border=True"):
        pool.pool_2d(T.dmatrix(), (3, 3), ignore_border=False, pad=(1, 1))
    with pytest.raises(tc.TcValueError, match=here + r".*smaller than the window"):
        pool.pool_2d(T.dmatrix(), (2, 2), pad=(2, 0))
    with pytest.raises(tc.TcValueError, match=here + r".*mode must be"):
        pool.pool_2d(T.dmatrix(), (2, 2), mode="min")
    with pytest.raises(tc.TcTypeError, match=here + r".*rank >= 2"):
        pool.pool_2d(T.dvector(), (2, 2))
    with pytest.raises(tc.TcTypeError, match=here + r".*ignore_border must be a bool"):
        pool.pool_2d(T.dmatrix(), (2, 2), ignore_border="no")  # type: ignore[arg-type]
    with pytest.raises(tc.TcTypeError, match=r"ws is required"):
        pool.pool_2d(T.dmatrix())
    x = T.dtensor4("x")
    f = tc.function([x], pool.pool_2d(x, (3, 3), pad=(1, 0)))
    with pytest.raises(tc.TcShapeError, match=here + r".*at least 1 output cols.*found 0"):
        f(np.ones((1, 1, 4, 2)))
    assert f(np.ones((1, 1, 1, 3))).shape == (1, 1, 1, 1)  # the padding makes room


IR = """module {
  func @f(%x: tensor<?x5x7xf32>) -> tensor<?x3x3xf32> {
    %0 = tx.pool_2d %x {ignore_border = false, mode = "average_exc_pad", padding = [0, 0], stride = [2, 3], ws = [2, 2]} : tensor<?x5x7xf32> -> tensor<?x3x3xf32>
    return %0 : tensor<?x3x3xf32>
  }
}
"""  # noqa: E501


def test_text_round_trip_and_interpreter() -> None:
    module = parse_module(IR)
    assert print_module(module) == IR
    xv = RNG.standard_normal((2, 5, 7)).astype("f4")
    (got,) = run_function(module.functions[0], xv)
    np.testing.assert_allclose(got, numpy_pool(xv, (2, 2), False, (2, 3), mode="average_exc_pad"), rtol=1e-6)
    with pytest.raises(TcError, match="mode"):
        parse_module(IR.replace('"average_exc_pad"', '"median"'))


def test_tx_builtin(tmp_path: Path) -> None:
    path = tmp_path / "pool.tx"
    path.write_text(
        "fn f(x: f64[?, ?, ?]) -> f64[?, ?, ?] {\n"
        '    return pool_2d(x, [3, 2], stride = [2, 2], pad = [1, 0], mode = "average_inc_pad")\n'
        "}\n"
    )
    xv = RNG.standard_normal((2, 6, 6))
    want = numpy_pool(xv, (3, 2), True, (2, 2), (1, 0), "average_inc_pad")
    np.testing.assert_allclose(tc.compile_file(path).f(xv), want, rtol=1e-14)
