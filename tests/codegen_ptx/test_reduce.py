"""tx.reduce on the GPU: the thread-per-output kernel run in the grid emulator against numpy,
every strategy's PTX checked with ptxas, and the strategy rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_ptx import reduce as gpu_reduce
from tc.codegen_ptx.grid import NVPTX
from tc.codegen_ptx.launch import EmulatedArray, contiguous_strides
from tc.codegen_ptx.program import ProgramBuilder
from tc.ir import DType, TcValueError
from tc.ir.ops.reduce import Reduce

from . import harness

REDUCERS = {
    "sum": T.sum,
    "prod": T.prod,
    "mean": T.mean,
    "max": T.max,
    "min": T.min,
    "argmax": T.argmax,
    "argmin": T.argmin,
}


def _reference(kind: str, x: np.ndarray, axis, keepdims: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
    if kind in ("argmax", "argmin"):
        pick = np.argmax if kind == "argmax" else np.argmin
        if axis is None:
            flat = pick(x.reshape(-1))
            return np.reshape(flat, (1,) * x.ndim) if keepdims else np.asarray(flat)
        return pick(x, axis=axis, keepdims=keepdims)
    dtype = None
    if kind in ("sum", "prod") and not np.issubdtype(x.dtype, np.floating):
        dtype = np.int64
    function = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "max": np.max, "min": np.min}[kind]
    with np.errstate(all="ignore"):
        return np.asarray(
            function(x, axis=axis, keepdims=keepdims, dtype=dtype)
            if dtype
            else function(x, axis=axis, keepdims=keepdims)
        )


def _input(dtype: str, rank: int):  # type: ignore[no-untyped-def]
    return {1: T.vector, 2: T.matrix, 3: T.tensor3}[rank]("x", dtype=dtype)


def _compile(kind: str, dtype: str, rank: int, axis, keepdims: bool, transpose: bool = False):  # type: ignore[no-untyped-def]
    x = _input(dtype, rank)
    source = x.T if transpose else x
    f = tc.function([x], REDUCERS[kind](source, axis=axis, keepdims=keepdims))
    fused = harness.fused(f)
    names = [op.name for op in fused.body.ops]
    assert "tx.reduce" in names, names
    return fused


def _data(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "int32":
        return rng.integers(-50, 50, shape).astype(np.int32)
    return (rng.standard_normal(shape) + 0.5).astype(dtype)


def _check(result: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    assert result.shape == expected.shape
    assert result.dtype == expected.dtype or (expected.dtype == np.intp and result.dtype == np.int64)
    if np.issubdtype(expected.dtype, np.floating):
        rtol = 1e-5 if expected.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(result, expected, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(result, expected)


CASES = [
    # kind, dtype, shape, axis, keepdims
    ("sum", "float32", (5, 7), 1, False),
    ("sum", "float32", (5, 7), 0, True),
    ("sum", "float64", (3, 4, 5), (0, 2), False),
    ("sum", "float64", (3, 4, 5), None, True),
    ("sum", "int32", (6, 5), -1, False),
    ("sum", "bool", (6, 9), 1, False),
    ("sum", "float32", (300,), None, False),
    ("prod", "float64", (4, 6), 1, False),
    ("prod", "int32", (3, 4, 2), (0, 2), True),
    ("prod", "bool", (5, 3), 0, False),
    ("mean", "float32", (5, 7), 1, False),
    ("mean", "float64", (3, 4, 5), (0, 2), True),
    ("mean", "int32", (6, 5), None, False),
    ("mean", "bool", (6, 5), 0, False),
    ("max", "float32", (5, 7), 0, False),
    ("max", "float64", (3, 4, 5), (1, 2), True),
    ("max", "int32", (6, 5), None, False),
    ("min", "float64", (5, 7), -2, False),
    ("min", "int32", (3, 4, 5), (0, 2), False),
    ("argmax", "float32", (5, 7), 1, False),
    ("argmax", "float64", (3, 4, 5), 1, True),
    ("argmax", "int32", (6, 5), None, False),
    ("argmax", "bool", (6, 5), 0, False),
    ("argmax", "float64", (3, 4, 5), None, True),
    ("argmin", "float32", (5, 7), 0, True),
    ("argmin", "int32", (3, 4, 5), -1, False),
    ("argmin", "float64", (6, 5), None, False),
]


@pytest.mark.parametrize(("kind", "dtype", "shape", "axis", "keepdims"), CASES)
def test_emulated_matches_numpy(kind, dtype, shape, axis, keepdims) -> None:  # type: ignore[no-untyped-def]
    fused = _compile(kind, dtype, len(shape), axis, keepdims)
    x = _data(dtype, shape)
    if dtype == "int32" and kind == "prod":
        x = np.clip(x, -3, 3)
    (result,), _ = harness.run_emulated(fused, [x])
    _check(result, _reference(kind, x, axis, keepdims), dtype)


@pytest.mark.parametrize("kind", ["sum", "mean", "max", "argmax", "argmin", "prod"])
def test_transposed_source(kind: str) -> None:
    fused = _compile(kind, "float64", 2, 0, False, transpose=True)
    x = _data("float64", (4, 6), seed=1)
    (result,), _ = harness.run_emulated(fused, [x])
    _check(result, _reference(kind, x.T, 0, False), "float64")


@pytest.mark.parametrize("kind", ["max", "min", "argmax", "argmin"])
def test_nan_propagates_and_argmax_points_at_first_nan(kind: str) -> None:
    fused = _compile(kind, "float32", 2, 1, False)
    x = _data("float32", (4, 6), seed=2)
    x[1, 2] = np.nan
    x[1, 4] = np.nan
    x[3, 5] = np.nan
    (result,), _ = harness.run_emulated(fused, [x])
    expected = _reference(kind, x, 1, False)
    _check(result, expected, "float32")
    if kind.startswith("arg"):
        assert list(result[[1, 3]]) == [2, 5]
    else:
        assert np.isnan(result[[1, 3]]).all() and not np.isnan(result[[0, 2]]).any()


def test_argmax_first_of_ties() -> None:
    fused = _compile("argmax", "int32", 2, 1, False)
    x = np.array([[1, 3, 3, 0], [-1, -1, -1, -1], [2, 0, 2, 2]], np.int32)
    (result,), _ = harness.run_emulated(fused, [x])
    np.testing.assert_array_equal(result, [1, 0, 0])


@pytest.mark.parametrize(("kind", "expected"), [("sum", 0.0), ("prod", 1.0), ("mean", np.nan)])
def test_empty_reduction_gives_identity(kind: str, expected: float) -> None:
    fused = _compile(kind, "float64", 2, 1, False)
    (result,), _ = harness.run_emulated(fused, [np.zeros((3, 0))])
    np.testing.assert_array_equal(result, np.full(3, expected))


@pytest.mark.parametrize("kind", ["max", "argmin"])
def test_empty_reduction_of_extremes_raises(kind: str) -> None:
    fused = _compile(kind, "float32", 2, 0, False)
    with pytest.raises(TcValueError, match=kind):
        harness.run_emulated(fused, [np.zeros((0, 3), np.float32)])


def test_empty_output_launches_nothing() -> None:
    fused = _compile("max", "float32", 2, 1, False)
    (result,), _ = harness.run_emulated(fused, [np.zeros((0, 3), np.float32)])
    assert result.shape == (0,)


def test_long_float32_sum_is_accurate() -> None:
    fused = _compile("sum", "float32", 1, None, False)
    x = np.full(20000, 0.1, np.float32)
    (result,), _ = harness.run_emulated(fused, [x])
    np.testing.assert_allclose(result, np.sum(x, dtype=np.float64), rtol=1e-6)


# ---------------------------------------------------------------------------- PTX


PTX_CASES = [
    ("sum", "float32", 2, 1),
    ("mean", "float64", 3, (0, 2)),
    ("sum", "bool", 2, None),
    ("prod", "int32", 2, 0),
    ("max", "float32", 2, 0),
    ("min", "int32", 3, None),
    ("argmax", "float32", 2, 1),
    ("argmin", "float64", 3, None),
    ("argmax", "bool", 2, 0),
]


@pytest.mark.parametrize(("kind", "dtype", "rank", "axis"), PTX_CASES)
def test_ptx_assembles(kind, dtype, rank, axis) -> None:  # type: ignore[no-untyped-def]
    harness.needs_ptxas()
    fused = _compile(kind, dtype, rank, axis, False)
    ptx = harness.ptx_of(fused)
    assert "bar.sync" in ptx and "shfl.sync.bfly" in ptx
    for strategy in ("thread", "block", "split", "combine"):
        assert f"reduce_{kind}_{strategy}_0" in ptx


@pytest.mark.parametrize(("kind", "dtype"), [("sum", "float32"), ("argmax", "float64"), ("min", "int32")])
def test_ptx_assembles_for_sm_80(kind: str, dtype: str) -> None:
    harness.needs_ptxas()
    harness.ptx_of(_compile(kind, dtype, 2, 1, False), "sm_80")


# ---------------------------------------------------------------------------- the strategy


def test_plan() -> None:
    plan, sms = gpu_reduce.plan, 132
    assert plan(10, 10**6, True, sms, False).strategy == "thread"  # the emulator
    assert plan(10**6, 8, True, sms, True).strategy == "thread"  # small inner counts
    assert plan(10**4, 10**4, False, sms, True).strategy == "thread"  # column sums
    assert plan(10**4, 10**4, True, sms, True).strategy == "block"  # row sums
    assert plan(100, 5000, False, sms, True).strategy == "block"  # few columns, too short to split
    assert plan(100, 10**4, False, sms, True) == gpu_reduce.Plan("split", 2)
    full = plan(1, 2**26, True, sms, True)
    assert full.strategy == "split" and full.splits == sms * gpu_reduce.BLOCKS_PER_SM
    assert plan(4, 2**26, False, sms, True).strategy == "split"
    assert plan(1, 5000, True, sms, True).strategy == "block"  # too short to split
    few = plan(2, 3 * gpu_reduce.SPLIT_MIN_CHUNK, True, sms, True)
    assert few == gpu_reduce.Plan("split", 3)


def test_collapse() -> None:
    collapse = gpu_reduce.collapse
    assert collapse([(4, 20), (5, 1)], 2) == [(4, 20), (5, 1)]  # a kept axis between them
    assert collapse([(4, 5), (5, 1)], 2) == [(1, 0), (20, 1)]
    assert collapse([(4, 1), (5, 4)], 2) == [(4, 1), (5, 4)]
    assert collapse([(1, 7), (6, 2)], 2) == [(1, 0), (6, 2)]
    assert collapse([(3, 1), (0, 5)], 2) == [(1, 0), (0, 0)]
    assert collapse([], 0) == []


class RecordingDevice:
    """A device that allocates host memory and records launches instead of running them."""

    block_reductions = True

    def __init__(self, multiprocessors: int = 132) -> None:
        self.multiprocessors = multiprocessors
        self.launches: list[tuple[str, int, int, list[int | float]]] = []
        self.buffers: list[np.ndarray] = []

    def empty(self, shape: tuple[int, ...], dtype: DType) -> EmulatedArray:
        owner = np.zeros(max(1, math.prod(shape)), dtype.numpy)
        self.buffers.append(owner)
        return EmulatedArray(owner.ctypes.data, tuple(shape), contiguous_strides(shape), dtype, owner)

    def launch(self, kernel, grid, block, args, shared_bytes=0) -> None:  # type: ignore[no-untyped-def]
        self.launches.append((kernel, grid, block, list(args)))


def _step(kind: str, rank: int, axis):  # type: ignore[no-untyped-def]
    fused = _compile(kind, "float32", rank, axis, False)
    (op,) = [op for op in fused.body.ops if isinstance(op, Reduce)]
    builder = ProgramBuilder(NVPTX, NVPTX.new_module(), set())
    return gpu_reduce._reduce_step(builder, op), builder.kernels


def test_run_launches_by_strategy() -> None:
    run, kernels = _step("sum", 1, None)
    suffixes = sorted(k.split("reduce_sum_")[-1] for k in kernels)
    assert suffixes == ["block_0", "combine_0", "split_0", "thread_0"]
    device = RecordingDevice()
    source = device.empty((2**22,), DType.F32)
    (out,) = run(device, [source])  # type: ignore[arg-type]
    assert out.shape == ()
    (split, grid, _, args), (combine, _, _, combine_args) = device.launches
    assert split.endswith("reduce_sum_split_0") and combine.endswith("reduce_sum_combine_0")
    splits = args[6]
    assert grid == splits and splits * args[7] >= 2**22 and combine_args[5] == splits
    assert device.buffers[-1].dtype == np.float64  # float32 partials are float64

    run, _ = _step("argmax", 2, 1)
    device = RecordingDevice()
    (out,) = run(device, [device.empty((1000, 500), DType.F32)])  # type: ignore[arg-type]
    assert out.shape == (1000,) and len(device.launches) == 1
    assert device.launches[0][0].endswith("reduce_argmax_block_0")

    run, _ = _step("max", 2, 0)
    device = RecordingDevice()
    (out,) = run(device, [device.empty((300, 5000), DType.F32)])  # type: ignore[arg-type]
    assert len(device.launches) == 1 and device.launches[0][0].endswith("reduce_max_thread_0")
