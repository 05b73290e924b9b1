"""Run GPU kernels on the host, one thread at a time: CI's check of their indexing.

The kernels are emitted for `grid.EMULATED` (the same IR, with the thread's
position read from four globals and math from libm), compiled for the host
with MCJIT, and called once per (block, thread) of a small grid. Only kernels
without barriers or cross-thread communication can be run this way: the
elementwise, Philox and gather kernels, whose every thread is independent.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import llvmlite.binding as llvm
import numpy as np

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.jit import LLVM_LOCK, initialize_llvm, mcjit_target_machine
from .grid import GRID_GLOBALS


class EmulatedModule:
    """Kernels of one module, compiled for the host."""

    def __init__(self, module: ll.Module) -> None:
        initialize_llvm()
        for name in GRID_GLOBALS:  # present even in a module without kernels
            if name not in module.globals:
                ll.GlobalVariable(module, ll.IntType(32), name).initializer = ll.Constant(ll.IntType(32), 0)
        with LLVM_LOCK:
            tm = mcjit_target_machine()
            module.triple = tm.triple
            module.data_layout = str(tm.target_data)
            parsed = llvm.parse_assembly(str(module))
            parsed.verify()
            self._engine = llvm.create_mcjit_compiler(parsed, tm)
            self._engine.finalize_object()
        self._types = {fn.name: fn.ftype for fn in module.functions if not fn.is_declaration}
        self._grid = [
            ctypes.c_int32.from_address(self._engine.get_global_value_address(g)) for g in GRID_GLOBALS
        ]

    def launch(self, name: str, grid: int, block: int, args: Sequence[object]) -> None:
        """Run kernel `name` on `grid` blocks of `block` threads. Pointer arguments are numpy
        arrays (their data); the others Python numbers, converted to the parameter's type."""
        ftype = self._types[name]
        ctypes_args = [_ctypes_type(t) for t in ftype.args]
        kernel = ctypes.CFUNCTYPE(None, *ctypes_args)(self._engine.get_function_address(name))
        values = [
            a.ctypes.data if isinstance(a, np.ndarray) else a
            for a in args  # type: ignore[union-attr]
        ]
        tid, ntid, ctaid, nctaid = self._grid
        ntid.value, nctaid.value = block, grid
        for b in range(grid):
            ctaid.value = b
            for t in range(block):
                tid.value = t
                kernel(*values)


def _ctypes_type(ty: ll.Type) -> type:
    if isinstance(ty, ll.PointerType):
        return ctypes.c_void_p
    if isinstance(ty, ll.DoubleType):
        return ctypes.c_double
    if isinstance(ty, ll.FloatType):
        return ctypes.c_float
    assert isinstance(ty, ll.IntType)
    return {8: ctypes.c_int8, 16: ctypes.c_int16, 32: ctypes.c_int32, 64: ctypes.c_int64}[ty.width]
