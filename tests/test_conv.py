"""tx.conv2d (Theano's `T.nnet.conv2d`) end to end: native values against an independent numpy
convolution written here, every border mode, strides, dilation, filter_flip, both float
dtypes, any layout and batch size; gradients against finite differences (the gradient ops'
own gradients too); errors at the user's line, at build time or before the call; the IR
text form, the interpreter and the .tx builtin."""

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
from tc.ir.ops.conv import Conv2DGradFilters, Conv2DGradInput

RNG = np.random.default_rng(11)


def numpy_conv2d(x, w, border_mode="valid", subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1)):  # type: ignore[no-untyped-def]
    """Theano's conv2d by its definition: one dot product per output position."""
    kh, kw = w.shape[2:]
    dh, dw = filter_dilation
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)  # the dilated filter
    if border_mode == "valid":
        pad = (0, 0)
    elif border_mode == "full":
        pad = (span[0] - 1, span[1] - 1)
    elif border_mode == "half":
        pad = (span[0] // 2, span[1] // 2)
    else:
        pad = (border_mode, border_mode) if isinstance(border_mode, int) else border_mode
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    xp = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]), np.float64)
    xp[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + wd] = x
    rows = (xp.shape[2] - span[0]) // subsample[0] + 1
    cols = (xp.shape[3] - span[1]) // subsample[1] + 1
    y = np.zeros((n, w.shape[0], rows, cols))
    for r in range(rows):
        for q in range(cols):
            r0, q0 = r * subsample[0], q * subsample[1]
            patch = xp[:, :, r0 : r0 + span[0] : dh, q0 : q0 + span[1] : dw]
            y[:, :, r, q] = np.tensordot(patch, w.astype(np.float64), axes=([1, 2, 3], [1, 2, 3]))
    return y


CASES = [
    dict(),
    dict(border_mode="full"),
    dict(border_mode="half"),
    dict(border_mode=1),
    dict(border_mode=(2, 0)),
    dict(subsample=(2, 2)),
    dict(subsample=(3, 1), border_mode="full"),
    dict(filter_dilation=(2, 2)),
    dict(filter_dilation=(2, 1), border_mode="half", subsample=(1, 2)),
    dict(filter_flip=False),
    dict(filter_flip=False, border_mode=(1, 2), subsample=(2, 3), filter_dilation=(1, 2)),
]


def _ids(case: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in case.items()) or "valid"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_values_match_numpy(dtype: str, case: dict) -> None:
    x, w = T.tensor(dtype, (None,) * 4, "x"), T.tensor(dtype, (None,) * 4, "w")
    f = tc.function([x, w], T.nnet.conv2d(x, w, **case))
    for shapes in [((2, 3, 7, 8), (4, 3, 3, 2)), ((1, 1, 5, 5), (2, 1, 1, 1)), ((3, 2, 8, 9), (1, 2, 4, 3))]:
        xv, wv = (RNG.standard_normal(s).astype(dtype) for s in shapes)
        got, want = f(xv, wv), numpy_conv2d(xv, wv, **case)
        assert got.dtype == dtype and got.shape == want.shape
        tol = 1e-12 if dtype == "float64" else 2e-5
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


def _settings(w_shape: tuple, case: dict) -> tuple:
    """(stride, padding, dilation, flip) of a case, for the gradients' references."""
    dilation = case.get("filter_dilation", (1, 1))
    span = [(k - 1) * d for k, d in zip(w_shape[2:], dilation, strict=True)]
    border = case.get("border_mode", "valid")
    pad = {"valid": (0, 0), "full": tuple(span), "half": tuple((s + 1) // 2 for s in span)}.get(
        border, border
    )
    pad = (pad, pad) if isinstance(pad, int) else pad
    return case.get("subsample", (1, 1)), pad, dilation, case.get("filter_flip", True)


def conv_step(dtype: str, case: dict):  # type: ignore[no-untyped-def]
    """f(x, w, c) -> [conv2d(x, w), d sum(y * c) / dx, ... / dw]. test_conv_tiles.py builds its
    functions here too: the same graph from the same line is a compile-cache hit there, so each
    case's code is compiled and optimised once per test run."""
    x, w, c = (
        T.tensor(dtype, (None,) * 4, "x"),
        T.tensor(dtype, (None,) * 4, "w"),
        T.tensor(dtype, (None,) * 4),
    )
    y = T.nnet.conv2d(x, w, **case)
    return tc.function([x, w, c], [y, *T.grad(T.sum(y * c), [x, w])])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_rows_longer_than_a_vector(dtype: str, case: dict) -> None:
    """Output rows of 5 to 21 elements: the vector copies and adds of im2col and col2im
    (codegen_llvm/conv_runs.py; 8 f32 or 4 f64 lanes), whole vectors and their tails, with
    the rows of padded taps taken one by one; both gradients against the references."""
    from tc.ir.ops.conv import conv_grad_filters_reference, conv_grad_input_reference

    f = conv_step(dtype, case)
    for shapes in [((2, 3, 9, 23), (4, 3, 3, 3)), ((3, 2, 6, 12), (2, 2, 2, 3))]:
        xv, wv = (RNG.standard_normal(s) for s in shapes)
        want_y = numpy_conv2d(xv, wv, **case)
        cv = RNG.standard_normal(want_y.shape)
        got = f(*(v.astype(dtype) for v in (xv, wv, cv)))
        settings = _settings(wv.shape, case)
        want = [
            want_y,
            conv_grad_input_reference(xv.shape, wv, cv, *settings),
            conv_grad_filters_reference(xv, wv.shape, cv, *settings),
        ]
        tol = 1e-12 if dtype == "float64" else 2e-5
        for value, expected in zip(got, want, strict=True):
            np.testing.assert_allclose(value, expected, rtol=tol, atol=tol * 10 * np.abs(expected).max())


def test_static_shapes_layouts_and_empty_batches() -> None:
    x, w = T.tensor("float64", (None, 3, 8, 8), "x"), T.tensor("float64", (5, 3, 3, 3), "w")
    y = T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 2))
    assert y.type.shape == (None, 5, 4, 4)
    assert T.nnet.conv2d(x, w, border_mode="full").type.shape == (None, 5, 10, 10)
    f = tc.function([x, w], y)
    xv, wv = RNG.standard_normal((2, 3, 8, 8)), RNG.standard_normal((5, 3, 3, 3))
    want = numpy_conv2d(xv, wv, "half", (2, 2))
    np.testing.assert_allclose(f(xv, wv), want, rtol=1e-12, atol=1e-12)
    # transposed / strided inputs and filters are read as they lie
    xt = np.ascontiguousarray(xv.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    wt = np.asfortranarray(wv)
    np.testing.assert_allclose(f(xt, wt), want, rtol=1e-12, atol=1e-12)
    wide = np.repeat(xv, 2, axis=3)[..., ::2]
    np.testing.assert_allclose(f(wide, wv), want, rtol=1e-12, atol=1e-12)
    assert f(np.zeros((0, 3, 8, 8)), wv).shape == (0, 5, 4, 4)


def test_large_batches_run_in_chunks() -> None:
    """More images than one column matrix holds (codegen_llvm/conv.py's CHUNK_ELEMENTS: 10
    here), the last chunk partial: values and both gradients against the references."""
    from tc.ir.ops.conv import conv_grad_filters_reference, conv_grad_input_reference

    x, w, c = T.ftensor4("x"), T.ftensor4("w"), T.ftensor4("c")
    y = T.nnet.conv2d(x, w, border_mode="half")
    f = tc.function([x, w, c], [y, *T.grad(T.sum(y * c), [x, w])])
    xv, wv = RNG.standard_normal((23, 8, 32, 32)), RNG.standard_normal((4, 8, 5, 5))
    cv = RNG.standard_normal((23, 4, 32, 32))
    got = f(xv.astype("f4"), wv.astype("f4"), cv.astype("f4"))
    settings = ((1, 1), (2, 2), (1, 1), True)
    want = [
        numpy_conv2d(xv, wv, "half"),
        conv_grad_input_reference(xv.shape, wv, cv, *settings),
        conv_grad_filters_reference(xv, wv.shape, cv, *settings),
    ]
    for g, expected in zip(got, want, strict=True):
        np.testing.assert_allclose(g, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())


@pytest.mark.parametrize(
    "shapes", [((2, 0, 5, 5), (3, 0, 3, 3)), ((0, 2, 5, 5), (3, 2, 3, 3)), ((2, 2, 5, 5), (0, 2, 3, 3))]
)
def test_empty_batches_channels_and_filters(shapes: tuple) -> None:
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = T.nnet.conv2d(x, w, border_mode=1)
    f = tc.function([x, w], [y, *T.grad(T.sum(y), [x, w])])
    for _ in range(2):  # a heap overrun would show on a later call
        got = f(np.ones(shapes[0]), np.ones(shapes[1]))
        assert [g.shape for g in got] == [
            numpy_conv2d(np.ones(shapes[0]), np.ones(shapes[1]), 1).shape,
            *shapes,
        ]
        assert all(not g.any() for g in got)


def test_without_blas_the_loops_compute_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tc.callables.blas_routines", lambda: {})
    x, w, c = T.tensor("float32", (None,) * 4, "x"), T.tensor("float32", (None,) * 4, "w"), T.ftensor4("c")
    y = T.nnet.conv2d(
        x, w, border_mode=(2, 1), subsample=(1, 2), filter_dilation=(2, 1)
    )  # not compiled before
    f = tc.function([x, w, c], [y, *T.grad(T.sum(y * c), [x, w])])
    xv, wv = RNG.standard_normal((3, 2, 7, 6)).astype("f4"), RNG.standard_normal((4, 2, 3, 3)).astype("f4")
    cv = RNG.standard_normal(numpy_conv2d(xv, wv, (2, 1), (1, 2), True, (2, 1)).shape).astype("f4")
    from tc.ir.ops.conv import conv_grad_filters_reference, conv_grad_input_reference

    settings = ((1, 2), (2, 1), (2, 1), True)
    want = [
        numpy_conv2d(xv, wv, (2, 1), (1, 2), True, (2, 1)),
        conv_grad_input_reference(xv.shape, wv.astype("f8"), cv.astype("f8"), *settings),
        conv_grad_filters_reference(xv.astype("f8"), wv.shape, cv.astype("f8"), *settings),
    ]
    for got, expected in zip(f(xv, wv, cv), want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_integer_inputs_and_mixed_dtypes_promote() -> None:
    x, w = T.itensor4("x"), T.ftensor4("w")
    y = T.nnet.conv2d(x, w)
    assert y.dtype == "float64"
    xv, wv = RNG.integers(-3, 3, (1, 2, 4, 4)).astype("i4"), RNG.standard_normal((1, 2, 2, 2)).astype("f4")
    np.testing.assert_allclose(tc.function([x, w], y)(xv, wv), numpy_conv2d(xv, wv), rtol=1e-6)


def test_theano_import_paths_and_hints() -> None:
    import tc.tensor.nnet.conv
    from tc.tensor.nnet import conv2d

    assert conv2d is T.nnet.conv2d is tc.tensor.nnet.conv.conv2d
    x, w = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(x, w, input_shape=(None, 2, 5, 5), filter_shape=(3, 2, 3, 3), image_shape=None)
    xv, wv = RNG.standard_normal((2, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3))
    np.testing.assert_allclose(tc.function([x, w], y)(xv, wv), numpy_conv2d(xv, wv), rtol=1e-12)
    with pytest.raises(tc.TcShapeError, match=r"test_conv\.py:\d+.*filter_shape"):
        conv2d(
            T.tensor("float64", (2, 2, 5, 5)), T.tensor("float64", (3, 2, 3, 3)), filter_shape=(3, 2, 2, 3)
        )


GRAD_CASES = [CASES[0], CASES[1], CASES[2], CASES[6], CASES[8], CASES[10]]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[_ids(c) for c in GRAD_CASES])
def test_gradients_match_finite_differences(case: dict) -> None:
    xv, wv = RNG.standard_normal((2, 2, 6, 7)), RNG.standard_normal((3, 2, 3, 2))
    verify_grad(lambda a, b: T.nnet.conv2d(a, b, **case), [xv, wv])


def test_float32_gradients_agree_with_float64() -> None:
    xv, wv = RNG.standard_normal((2, 2, 6, 7)), RNG.standard_normal((3, 2, 3, 2))
    grads = []
    for dtype in ("float64", "float32"):
        x, w = T.tensor(dtype, (None,) * 4, "x"), T.tensor(dtype, (None,) * 4, "w")
        cost = T.sum(T.tanh(T.nnet.conv2d(x, w, border_mode="full", subsample=(2, 1))))
        grads.append(tc.function([x, w], T.grad(cost, [x, w]))(xv.astype(dtype), wv.astype(dtype)))
    for g64, g32 in zip(*grads, strict=True):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", [CASES[0], CASES[10]], ids=["valid", "mixed"])
def test_the_gradient_ops_have_gradients(case: dict) -> None:
    """Second derivatives: the gradient ops are linear in their value operands."""
    xv, wv = RNG.standard_normal((2, 2, 6, 7)), RNG.standard_normal((3, 2, 3, 2))
    y = T.nnet.conv2d(T.constant(xv), T.constant(wv), **case)
    attrs = dict(y.owner.attributes)  # type: ignore[union-attr]
    gv = RNG.standard_normal(tc.function([], y)().shape)
    verify_grad(lambda w, g: make_apply(Conv2DGradInput, [T.constant(xv), w, g], attrs).out, [wv, gv])
    verify_grad(lambda x, g: make_apply(Conv2DGradFilters, [x, T.constant(wv), g], attrs).out, [xv, gv])
    x = T.dtensor4("x")
    hessian_row = T.grad(T.sum(T.grad(T.sum(T.nnet.conv2d(x, T.constant(wv), **case) ** 2), x)), x)
    assert tc.function([x], hessian_row)(xv).shape == xv.shape


def test_build_time_errors_name_the_users_line() -> None:
    here = re.escape(Path(__file__).name) + r":\d+"
    x = T.tensor("float64", (2, 3, 5, 5), "x")
    with pytest.raises(tc.TcShapeError, match=here + r".*do not fit"):
        T.nnet.conv2d(x, T.tensor("float64", (4, 3, 6, 3)))
    with pytest.raises(tc.TcShapeError, match=here + r".*3 channels but the filters expect 2"):
        T.nnet.conv2d(x, T.tensor("float64", (4, 2, 3, 3)))
    with pytest.raises(tc.TcTypeError, match=here + r".*4-d"):
        T.nnet.conv2d(T.dmatrix("m"), T.dtensor4("w"))
    with pytest.raises(tc.TcValueError, match=here + r".*border_mode"):
        T.nnet.conv2d(x, T.dtensor4("w"), border_mode="same")
    with pytest.raises(tc.TcValueError, match=here + r".*subsample must be positive"):
        T.nnet.conv2d(x, T.dtensor4("w"), subsample=(0, 1))
    with pytest.raises(tc.TcTypeError, match=here + r".*input_shape must be a tuple"):
        T.nnet.conv2d(x, T.dtensor4("w"), input_shape=3)  # type: ignore[arg-type]
    # a dilated filter that no longer fits
    with pytest.raises(tc.TcShapeError, match="do not fit"):
        T.nnet.conv2d(x, T.tensor("float64", (1, 3, 3, 3)), filter_dilation=(3, 1))


def test_call_time_errors_before_any_loop() -> None:
    x, w = T.dtensor4("x"), T.dtensor4("w")
    f = tc.function([x, w], T.nnet.conv2d(x, w))
    line = re.escape(Path(__file__).name) + r":\d+"
    with pytest.raises(tc.TcShapeError, match=line + r".*at least 1 output rows.*found -1"):
        f(np.ones((1, 3, 4, 4)), np.ones((2, 3, 6, 3)))
    with pytest.raises(tc.TcShapeError, match=r"input channels.*'x' has size 3.*'w' has size 2"):
        f(np.ones((1, 3, 6, 6)), np.ones((2, 2, 3, 3)))
    with pytest.raises(tc.TcError):
        f(np.ones((3, 6, 6)), np.ones((2, 3, 3, 3)))
    g = tc.function([x, w], T.grad(T.sum(T.nnet.conv2d(x, w, border_mode="full")), w))
    assert g(np.ones((1, 1, 2, 2)), np.ones((1, 1, 4, 4))).shape == (1, 1, 4, 4)  # full always fits


IR = """module {
  func @f(%x: tensor<?x2x5x5xf64>, %w: tensor<3x2x3x3xf64>) -> tensor<?x3x3x2xf64> {
    %0 = tx.conv2d %x, %w {border = "explicit", dilation = [1, 1], flip = true, padding = [1, 0], stride = [2, 2]} : tensor<?x2x5x5xf64>, tensor<3x2x3x3xf64> -> tensor<?x3x3x2xf64>
    return %0 : tensor<?x3x3x2xf64>
  }
}
"""  # noqa: E501


def test_text_round_trip_and_interpreter() -> None:
    module = parse_module(IR)
    assert print_module(module) == IR
    xv, wv = RNG.standard_normal((2, 2, 5, 5)), RNG.standard_normal((3, 2, 3, 3))
    (got,) = run_function(module.functions[0], xv, wv)
    np.testing.assert_allclose(got, numpy_conv2d(xv, wv, (1, 0), (2, 2)), rtol=1e-12)
    with pytest.raises(TcError, match="pair of ints"):
        parse_module(IR.replace("stride = [2, 2]", "stride = [2]"))
    with pytest.raises(TcError, match="border"):
        parse_module(IR.replace('"explicit"', '"same"'))


def test_tx_builtin(tmp_path: Path) -> None:
    path = tmp_path / "conv.tx"
    path.write_text(
        "fn f(x: f32[?, ?, ?, ?], w: f32[?, ?, ?, ?]) -> f32[?, ?, ?, ?] {\n"
        '    return conv2d(x, w, border_mode = "half", subsample = [1, 2], filter_flip = false)\n'
        "}\n"
    )
    xv, wv = RNG.standard_normal((2, 3, 6, 7)).astype("f4"), RNG.standard_normal((4, 3, 3, 3)).astype("f4")
    want = numpy_conv2d(xv, wv, "half", (1, 2), filter_flip=False)
    np.testing.assert_allclose(tc.compile_file(path).f(xv, wv), want, rtol=1e-4, atol=1e-5)
