"""Run a tc function's GPU program without a GPU: its kernels in the host's grid emulator,
and check its PTX with ptxas where the CUDA toolkit is installed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from tc.codegen_ptx import target as nvptx
from tc.codegen_ptx.grid import EMULATED, NVPTX
from tc.codegen_ptx.launch import EmulatedDevice
from tc.codegen_ptx.program import build_program
from tc.ir import DType, Function


def fused(compiled) -> Function:  # type: ignore[no-untyped-def]
    """The optimised (fused) IR of a CPU-compiled tc function."""
    return compiled.ir_function("tir-opt")


def run_emulated(
    function: Function, args: Sequence[np.ndarray], globals: dict[str, np.ndarray] | None = None
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """(results, updated globals) of `function` run in the grid emulator."""
    module = EMULATED.new_module()
    program, _ = build_program(function, EMULATED, module)
    device = EmulatedDevice(module)
    inputs = [
        np.asarray(a, dtype=v.type.dtype.numpy)
        if v.type.rank == 0
        else device.upload(np.asarray(a, v.type.dtype.numpy))
        for a, v in zip(args, function.args, strict=True)
    ]
    state = {name: device.upload(np.asarray(value)) for name, value in (globals or {}).items()}
    results, updates = program.run(device, inputs, state)
    host = [np.asarray(r) if isinstance(r, np.ndarray) else device.download(r) for r in results]
    new_state = {
        name: np.asarray(v) if isinstance(v, np.ndarray) else device.download(v) for name, v in updates
    }
    return host, new_state


def ptx_of(function: Function, architecture: str = nvptx.DEFAULT_ARCHITECTURE) -> str:
    """The function's PTX, checked with ptxas when it is installed."""
    return optimized_ir_and_ptx_of(function, architecture)[1]


def optimized_ir_and_ptx_of(
    function: Function, architecture: str = nvptx.DEFAULT_ARCHITECTURE
) -> tuple[str, str]:
    module = NVPTX.new_module()
    _, kernels = build_program(function, NVPTX, module)
    optimized, ptx = nvptx.compile_ptx(module, kernels, architecture)
    if nvptx.find_ptxas() is not None:
        nvptx.assemble(ptx, architecture)
    return optimized, ptx


def needs_ptxas() -> None:
    if nvptx.find_ptxas() is None:
        pytest.skip("ptxas (CUDA toolkit) is not installed")


__all__ = ["DType", "fused", "needs_ptxas", "optimized_ir_and_ptx_of", "ptx_of", "run_emulated"]
