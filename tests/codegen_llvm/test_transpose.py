"""Transposing copies in vectors (codegen_llvm/transpose.py), compiled for the host and run on
numpy arrays: every block size, both float dtypes, matrices smaller than a block, exact
multiples and ragged edges, and row strides wider than the rows on both sides."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from llvmlite import binding as llvm

from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.jit import mcjit_target_machine
from tc.codegen_llvm.transpose import emit_transpose
from tc.codegen_llvm.types import I8_PTR, I64
from tc.ir import DType


def _compiled(dtype: DType, n: int):  # type: ignore[no-untyped-def]
    """void transpose(source, target, rows, cols, source row bytes, target row bytes)."""
    module = ll.Module("transpose_test")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [I8_PTR, I8_PTR, *[I64] * 4]), "transpose")
    source, target, rows, cols, ls, lt = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    emit_transpose(b, dtype, source, target, (rows, cols), (ls, lt), n)
    b.ret_void()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    engine = llvm.create_mcjit_compiler(parsed, mcjit_target_machine())
    engine.finalize_object()
    kind = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 2, *[ctypes.c_int64] * 4)
    return engine, kind(engine.get_function_address("transpose"))


@pytest.mark.parametrize("dtype", [DType.F32, DType.F64])
@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_every_shape_matches_numpy(dtype: DType, n: int) -> None:
    engine, transpose = _compiled(dtype, n)
    rng = np.random.default_rng(n)
    for rows, cols in [
        (1, 1),
        (n - 1, n + 1),
        (n, n),
        (2 * n, 3 * n),
        (3 * n + 1, 2 * n - 1),
        (0, 5),
        (37, 45),
    ]:
        wide = rng.standard_normal((rows, cols + 3)).astype(dtype.numpy)
        source = wide[:, :cols]  # rows three elements longer than the matrix
        target = np.full((cols, rows + 2), -1.0, dtype.numpy)
        transpose(source.ctypes.data, target.ctypes.data, rows, cols, *wide.strides[:1], *target.strides[:1])
        np.testing.assert_array_equal(target[:, :rows], source.T)
        assert (target[:, rows:] == -1.0).all()  # nothing written past each row
    del engine
