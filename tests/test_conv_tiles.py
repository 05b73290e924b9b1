"""Convolutions image by image in tc's register tiles (codegen_llvm/conv_tiles.py), the path
for images with at least one tile's width of output positions: every border mode, stride,
dilation and flip of tests/test_conv.py, both float dtypes, against the references; batches
of fewer images than slices and of slices of unequal size; gradients read in any layout;
results that do not depend on the thread count; and the shapes left to the chunked path."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import CASES, _ids, _settings, conv_step, numpy_conv2d

from tc.ir.ops.conv import conv_grad_filters_reference, conv_grad_input_reference

RNG = np.random.default_rng(5)
# (x, w) shapes with 120 and 312 output positions (more than one tile of 32 f32 or 16 f64),
# 3 and 17 images (slices of one image, and 16 slices of one or two)
SHAPES = [((3, 5, 12, 14), (9, 5, 3, 3)), ((17, 2, 10, 40), (4, 2, 2, 3))]


def _references(xv: np.ndarray, wv: np.ndarray, cv: np.ndarray, case: dict) -> list[np.ndarray]:
    settings = _settings(wv.shape, case)
    return [
        numpy_conv2d(xv, wv, **case),
        conv_grad_input_reference(xv.shape, wv, cv, *settings),
        conv_grad_filters_reference(xv, wv.shape, cv, *settings),
    ]


def _check(got: list[np.ndarray], want: list[np.ndarray], dtype: str) -> None:
    tol = 1e-12 if dtype == "float64" else 2e-5
    for value, expected in zip(got, want, strict=True):
        assert value.dtype == dtype and value.shape == expected.shape
        scale = np.abs(expected).max(initial=0.0)
        np.testing.assert_allclose(value, expected, rtol=tol, atol=tol * 10 * scale)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_values_and_gradients_match_the_references(dtype: str, case: dict) -> None:
    f = conv_step(dtype, case)
    assert f"tc_lib.tiles_{'f32' if dtype == 'float32' else 'f64'}" in f.dump("llvm")
    for shapes in SHAPES:
        xv, wv = (RNG.standard_normal(s) for s in shapes)
        cv = RNG.standard_normal(numpy_conv2d(xv, wv, **case).shape)
        _check(f(*(v.astype(dtype) for v in (xv, wv, cv))), _references(xv, wv, cv, case), dtype)


def test_gradients_in_any_layout() -> None:
    """The output gradient is read in place where its planes are C-contiguous, else copied:
    channels-last, reversed rows and every other column all give the references' values."""
    f = conv_step("float64", {})
    xv, wv = RNG.standard_normal((5, 3, 11, 40)), RNG.standard_normal((6, 3, 3, 3))
    shape = numpy_conv2d(xv, wv).shape
    base = RNG.standard_normal((shape[0], shape[2], shape[3], shape[1]))
    layouts = [
        base.transpose(0, 3, 1, 2),  # channels last
        np.ascontiguousarray(base.transpose(0, 3, 1, 2))[:, :, ::-1],  # rows reversed
        np.repeat(base.transpose(0, 3, 1, 2), 2, axis=3)[..., ::2],  # columns two apart
    ]
    for cv in layouts:
        _check(f(xv, wv, cv), _references(xv, wv, np.ascontiguousarray(cv), {}), "float64")


def test_the_result_does_not_depend_on_the_thread_count() -> None:
    f = conv_step("float32", {})
    xv = RNG.standard_normal((37, 4, 14, 14)).astype(np.float32)
    wv = RNG.standard_normal((10, 4, 5, 5)).astype(np.float32)
    cv = RNG.standard_normal((37, 10, 10, 10)).astype(np.float32)
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(xv, wv, cv)
        native.set_num_threads(2)
        two = f(xv, wv, cv)
    finally:
        native.set_num_threads(2)
    for a, b in zip(one, two, strict=True):
        assert a.tobytes() == b.tobytes()


def test_shapes_the_tiles_do_not_suit_and_empty_batches() -> None:
    """Fewer output positions than a tile, or fewer filters than its smallest row block: the
    same function computes them by im2col and BLAS; an empty batch (no slices) gives zero
    filter gradients."""
    f = conv_step("float32", {})
    for shapes in [
        ((4, 2, 6, 7), (5, 2, 3, 3)),
        ((4, 2, 12, 14), (2, 2, 3, 3)),
        ((0, 2, 12, 14), (5, 2, 3, 3)),
    ]:
        xv, wv = (RNG.standard_normal(s) for s in shapes)
        cv = RNG.standard_normal(numpy_conv2d(xv, wv).shape)
        _check(f(*(v.astype("float32") for v in (xv, wv, cv))), _references(xv, wv, cv, {}), "float32")


def test_large_images_take_fewer_slices_to_the_same_values() -> None:
    """Images whose scratch would pass SCRATCH_ELEMENTS over 16 slices (200 taps x 3,600
    positions: two slices fit) give the references' values, on one thread and on two."""
    f = conv_step("float64", {})
    xv, wv = RNG.standard_normal((5, 8, 64, 64)), RNG.standard_normal((16, 8, 5, 5))
    cv = RNG.standard_normal(numpy_conv2d(xv, wv).shape)
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(xv, wv, cv)
        native.set_num_threads(2)
        two = f(xv, wv, cv)
    finally:
        native.set_num_threads(2)
    _check(two, _references(xv, wv, cv, {}), "float64")
    for a, b in zip(one, two, strict=True):
        assert a.tobytes() == b.tobytes()


AVX2_TILES = """
import numpy as np
from tc.codegen_llvm import register_tile
register_tile.vector_bytes = lambda: 32  # AVX2's tiles (MR = 6) on any host, before compiling
import tc, tc.tensor as T
from test_conv import numpy_conv2d
from tc.ir.ops.conv import conv_grad_filters_reference, conv_grad_input_reference
rng = np.random.default_rng(3)
for dtype, tol in (("float64", 1e-12), ("float32", 2e-5)):
    x, w, c = (T.tensor(dtype, (None,) * 4) for _ in range(3))
    y = T.nnet.conv2d(x, w)
    f = tc.function([x, w, c], [y, *T.grad(T.sum(y * c), [x, w])])
    # 5 filters and 5 taps: fewer rows than MR, packed in two blocks of SMALL_ROWS (8 rows)
    for shapes in (((2, 3, 8, 8), (5, 3, 3, 3)), ((3, 5, 9, 9), (7, 5, 1, 1))):
        xv, wv = (rng.standard_normal(s).astype(dtype) for s in shapes)
        want = numpy_conv2d(xv, wv)
        cv = rng.standard_normal(want.shape).astype(dtype)
        got = f(xv, wv, cv)
        references = [
            want,
            conv_grad_input_reference(xv.shape, wv, cv, (1, 1), (0, 0), (1, 1), True),
            conv_grad_filters_reference(xv, wv.shape, cv, (1, 1), (0, 0), (1, 1), True),
        ]
        for value, expected in zip(got, references, strict=True):
            np.testing.assert_allclose(value, expected, rtol=tol, atol=tol * 10 * np.abs(expected).max())
print("ok")
"""


def test_fewer_filters_than_a_row_block_on_avx2_tiles(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Filters (or taps) fewer than MR are packed in blocks of SMALL_ROWS, which can take more
    rows than MR: with AVX2's MR = 6, five filters take 8 rows, and a buffer sized for 6
    overran into the heap (the process aborted). Run with AVX2's tiles whatever the host, in a
    process of its own (the tile sizes are fixed per process) with glibc's heap checks on."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, TC_CACHE_DIR=str(tmp_path), MALLOC_CHECK_="3", MALLOC_PERTURB_="165")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", AVX2_TILES], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
