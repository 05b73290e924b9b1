"""Philox draws on the GPU (codegen_ptx/random.py), run in the grid emulator: bit for bit the
CPU function's numbers and state update; and their PTX, checked with ptxas."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tc
from tc.codegen_ptx import target as nvptx
from tc.codegen_ptx.grid import EMULATED
from tc.codegen_ptx.launch import EmulatedDevice
from tc.codegen_ptx.program import build_program
from tc.compile import compile_ir_module
from tc.ir import TcCompilationError, interpreter
from tc.ir.calling import calling_convention
from tc.ir.parser import parse_module
from tc.random import RandomStreams

from .harness import fused, needs_ptxas, optimized_ir_and_ptx_of, run_emulated


def _state(f) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The current values of the CPU function's globals, by symbol (its shared buffers are in
    the calling convention's order)."""
    module = parse_module(f.dump("tir-opt"))
    names = calling_convention(module, module.function(f.name)).globals
    return {name: np.array(buffer.value) for name, buffer in zip(names, f._shared, strict=True)}


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), f"\n{got}\n!=\n{want}"


def _check(f, *args: np.ndarray, warm_up: int = 0) -> None:  # type: ignore[no-untyped-def]
    """The emulated GPU program gives the CPU function's results and state update, bit for bit.
    `warm_up` CPU calls first advance the streams' draw counters."""
    for _ in range(warm_up):
        f(*args)
    before = _state(f)
    results, updates = run_emulated(fused(f), list(args), before)
    expected = f(*args)
    expected = expected if isinstance(expected, list) else [expected]
    assert len(results) == len(expected)
    for got, want in zip(results, expected, strict=True):
        _same_bits(got, np.asarray(want))
    after = _state(f)
    assert updates and set(updates) <= set(after)
    for name, value in updates.items():
        _same_bits(value, after[name])
        assert value[1] == before[name][1] + 1


DRAWS = {
    "uniform-f64": lambda s: s.uniform((4, 5), low=-1.5, high=2.0, dtype="float64"),
    "uniform-f32": lambda s: s.uniform((4, 5), low=-1.5, high=2.0, dtype="float32"),
    "uniform-scalar": lambda s: s.uniform((), dtype="float64"),
    "normal-f64-odd": lambda s: s.normal((3, 7), avg=1.0, std=2.0, dtype="float64"),
    "normal-f32-odd": lambda s: s.normal((3, 7), avg=1.0, std=2.0, dtype="float32"),
    "normal-f64-even": lambda s: s.normal((4, 6), dtype="float64"),
    "normal-f32-one": lambda s: s.normal((1,), dtype="float32"),
    "integers": lambda s: s.random_integers((9,), -5, 100),
    "integers-wide": lambda s: s.random_integers((2, 8), -(2**31), 2**32 - 2 - 2**31),
    "integers-numpy": lambda s: s.integers(7, size=(3, 3)),
    "binomial-i64": lambda s: s.binomial((10,), n=5, p=0.3),
    "binomial-i32": lambda s: s.binomial((10,), n=7, p=0.6, dtype="int32"),
    "binomial-i8": lambda s: s.binomial((2, 5), n=3, p=0.5, dtype="int8"),
    "binomial-u8": lambda s: s.binomial((2, 5), n=3, p=0.5, dtype="uint8"),
    "binomial-f64": lambda s: s.binomial((10,), n=4, p=0.25, dtype="float64"),
    "binomial-f32": lambda s: s.binomial((10,), n=4, p=0.25, dtype="float32"),
    "binomial-bool": lambda s: s.binomial((10,), n=1, p=0.5, dtype="bool"),
    "binomial-none": lambda s: s.binomial((6,), n=0, p=0.5),
}


@pytest.mark.parametrize("draw", DRAWS.values(), ids=list(DRAWS))
def test_draw_matches_cpu(draw) -> None:  # type: ignore[no-untyped-def]
    f = tc.function([], draw(RandomStreams(seed=234)))
    _check(f, warm_up=2)  # draws = 2: the counter's third word is not zero


def test_first_draw_and_many_streams() -> None:
    """Draw 0, and several streams in one program (each its own kernel and state)."""
    srng = RandomStreams(seed=7)
    f = tc.function(
        [], [srng.uniform((5,)), srng.normal((3,)), srng.random_integers((4,), 0, 9), srng.binomial((2,))]
    )
    _check(f)


@pytest.mark.parametrize("count", [1000, 1001])
def test_grid_stride(count: int) -> None:
    """More elements (pairs) than threads in the emulated grid: each thread does several."""
    srng = RandomStreams(seed=99)
    f = tc.function([], [srng.uniform((count,)), srng.normal((count,), dtype="float32")])
    _check(f, warm_up=1)


@pytest.mark.parametrize("shape", [(3, 5), (0, 4), (1, 1)])
def test_symbolic_size(shape: tuple[int, ...]) -> None:
    """`?` dimensions read from the size operand (a host shape: `tx.shape %x`) at run time."""
    srng = RandomStreams(seed=5)
    x = tc.tensor.matrix("x", dtype="float64")
    f = tc.function([x], [srng.normal(x.shape, avg=-2.0, std=0.5), srng.binomial(x.shape, n=3, p=0.7)])
    _check(f, np.zeros(shape))


SIZED_IR = """module {
  tx.global @s : tensor<2xi64>
  func @f(%size: tensor<2xi64>, %avg: tensor<f32>) -> (tensor<?x?xf32>, tensor<?x?xi16>) {
    %s = tx.load @s : tensor<2xi64>
    %0 = tx.random_normal %s, %avg, %avg, %size : STATE, tensor<f32>, tensor<f32>, SIZE -> tensor<?x?xf32>
    %1 = tx.constant dense<0.25> : tensor<f64>
    %2 = tx.random_binomial %s, %1, %size {trials = 5} : STATE, tensor<f64>, SIZE -> tensor<?x?xi16>
    return %0, %2 : tensor<?x?xf32>, tensor<?x?xi16>
  }
}""".replace("STATE", "tensor<2xi64>").replace("SIZE", "tensor<2xi64>")


@pytest.mark.parametrize("shape", [(3, 5), (0, 4), (1, 1)])
def test_size_on_the_device(shape: tuple[int, ...]) -> None:
    """`?` dimensions read at run time from a size operand on the device (downloaded). The CPU
    compiler takes only shapes and constants as sizes, so the reference is the interpreter."""
    module = parse_module(SIZED_IR)
    state = np.array([-0x123456789ABCDEF, 2], np.int64)
    args = [np.array(shape, np.int64), np.float32(1.5)]
    results, _ = run_emulated(module.function("f"), args, {"s": state})
    expected = interpreter.run(module, "f", *args, state={"s": state})
    for got, want in zip(results, expected, strict=True):
        _same_bits(got, np.asarray(want))


def test_scalar_arguments_by_value() -> None:
    """Parameters that are the function's scalar arguments: host values passed by value."""
    srng = RandomStreams(seed=11)
    low, high = tc.tensor.dscalar("low"), tc.tensor.dscalar("high")
    avg = tc.tensor.fscalar("avg")
    p = tc.tensor.dscalar("p")
    f = tc.function(
        [low, high, avg, p],
        [
            srng.uniform((6,), low=low, high=high, dtype="float64"),
            srng.normal((5,), avg=avg, std=3.0, dtype="float32"),
            srng.binomial((7,), n=9, p=p),
        ],
    )
    _check(f, np.float64(-3.0), np.float64(4.5), np.float32(0.25), np.float64(0.8))


def test_device_scalar_parameters() -> None:
    """Parameters that live on the device (rank-0 shared variables): read through a pointer."""
    srng = RandomStreams(seed=13)
    p = tc.shared(np.float64(0.35), name="p")
    low = tc.shared(np.float64(10.0), name="low")
    f = tc.function([], [srng.binomial((8,), n=6, p=p), srng.uniform((4,), low=low, high=12.0)])
    _check(f, warm_up=1)


INTEGERS_IR = """module {
  tx.global @s : tensor<2xi64>
  func @f(%lo: tensor<i64>, %hi: tensor<i64>) -> (tensor<3x5xDTYPE>) {
    %s = tx.load @s : tensor<2xi64>
    %0 = tx.random_integers %s, %lo, %hi : tensor<2xi64>, tensor<i64>, tensor<i64> -> tensor<3x5xDTYPE>
    return %0 : tensor<3x5xDTYPE>
  }
}"""


@pytest.mark.parametrize("dtype", ["i8", "i16", "i32", "u8", "i64"])
def test_integer_dtypes(dtype: str) -> None:
    """tx.random_integers producing narrower integers (written as IR: the frontend makes int64)."""
    f = compile_ir_module(parse_module(INTEGERS_IR.replace("DTYPE", dtype)))["f"]
    f._shared[0].value = np.array([0x123456789ABCDEF, 41], np.int64)
    low, high = np.int64(-3 if dtype[0] == "i" else 0), np.int64(100)
    results, _ = run_emulated(fused(f), [low, high], {"s": f._shared[0].value})
    _same_bits(results[0], np.asarray(f(low, high)))


def test_strided_state() -> None:
    """The state is read as [key at 0, draws at the stride], so a strided view works."""
    srng = RandomStreams(seed=17)
    f = tc.function([], srng.normal((9,)), no_default_updates=True)
    (name, state) = next(iter(_state(f).items()))
    state = np.array([state[0], 3], np.int64)
    f._shared[0].value = state
    module = EMULATED.new_module()
    program, _ = build_program(fused(f), EMULATED, module)
    device = EmulatedDevice(module)
    base = device.upload(np.array([state[0], -1, state[1], -1], np.int64))
    view = device.view(base, 0, (2,), (2,))
    (result,), _ = program.run(device, [], {name: view})
    _same_bits(device.download(result), f())


def test_sequential_draws_have_no_gpu_lowering() -> None:
    srng = RandomStreams(seed=3)
    for draw in (srng.permutation(10), srng.choice((4,), a=np.arange(6.0)), srng.choice((3,), 5, False)):
        f = tc.function([], draw)
        with pytest.raises(TcCompilationError, match="no GPU lowering yet"):
            run_emulated(fused(f), [], _state(f))


@pytest.mark.parametrize("architecture", ["sm_80", "sm_90"])
def test_ptx_assembles(architecture: str) -> None:
    needs_ptxas()
    if nvptx.find_libdevice() is None:
        pytest.skip("libdevice (CUDA toolkit) is not installed")
    srng = RandomStreams(seed=1)
    x = tc.tensor.matrix("x", dtype="float32")
    p = tc.shared(np.float64(0.5), name="p")
    avg = tc.tensor.dscalar("avg")
    draws = [
        srng.uniform((4, 5), dtype="float32"),
        srng.uniform(x.shape, dtype="float64"),
        srng.normal((7,), avg=avg, dtype="float64"),
        srng.normal(x.shape, dtype="float32"),
        srng.random_integers((3,), -4, 4),
        srng.binomial((6,), n=3, p=p, dtype="int8"),
        srng.binomial((6,), n=2, p=0.1, dtype="bool"),
    ]
    optimized, ptx = optimized_ir_and_ptx_of(fused(tc.function([x, avg], draws)), architecture)
    for kind in ("uniform", "normal", "integers", "binomial"):
        assert re.search(rf"\.entry \w*random_{kind}_", ptx)
    # No contraction into fused multiply-adds, so the numbers stay the CPU's on the GPU: the
    # only fma instructions are the math's own llvm.fma calls (also fused on the CPU).
    fused_in_ir = len(re.findall(r"call \w+ @llvm\.fma\.f(32|64)\(", optimized))
    assert fused_in_ir > 0  # the normal draws' log and sin/cos
    assert len(re.findall(r"\bfma\.rn\.f(32|64)\b", ptx)) == fused_in_ir
