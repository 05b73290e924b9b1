"""The size algebra (ir/sizes.py): a convolution's and a pooling's output sizes, written once,
give the same numbers statically, as shape-plan terms evaluated on arguments, and as LLVM
code, for sizes that fit and sizes that do not (negative rooms, empty axes)."""

from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
from llvmlite import binding as llvm

from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.jit import mcjit_target_machine
from tc.codegen_llvm.terms import LLVMSizes
from tc.codegen_llvm.types import I64
from tc.ir.ops.conv import conv_axis
from tc.ir.ops.pool import pool_output_size, pool_room
from tc.ir.shape_terms import ArgDim, evaluate_term
from tc.ir.sizes import STATIC, TERMS, SizeMismatch, broadcast

SIZES = range(0, 9)


def _native(rule) -> ctypes.CFUNCTYPE:
    """rule(sizes, a, b) compiled as i64 f(i64 a, i64 b)."""
    module = ll.Module("sizes")
    fn = ll.Function(module, ll.FunctionType(I64, [I64, I64]), "f")
    b = ll.IRBuilder(fn.append_basic_block())
    b.ret(rule(LLVMSizes(b), *fn.args))
    ref = llvm.parse_assembly(str(module))
    engine = llvm.create_mcjit_compiler(ref, mcjit_target_machine())
    engine.finalize_object()
    native = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)(
        engine.get_function_address("f")
    )
    native.engine = engine  # kept alive with the function
    return native


def _agree(rule, pairs) -> None:
    native = _native(rule)
    term = rule(TERMS, ArgDim(0, 0), ArgDim(0, 1))
    for a, b in pairs:
        static = rule(STATIC, a, b)
        assert isinstance(static, int)
        assert evaluate_term(term, [(a, b)]) == static, (a, b)
        assert native(a, b) == static, (a, b)


@pytest.mark.parametrize(
    ("border", "padding", "dilation", "stride"),
    [("explicit", 0, 1, 1), ("explicit", 2, 1, 3), ("full", 0, 2, 1), ("half", 0, 1, 2), ("half", 0, 3, 2)],
)
def test_a_convolution_axis_agrees_three_ways(border: str, padding: int, dilation: int, stride: int) -> None:
    def out(sizes, size, kernel):
        return conv_axis(sizes, border, padding, dilation, stride, size, kernel).out

    def pad(sizes, size, kernel):
        return conv_axis(sizes, border, padding, dilation, stride, size, kernel).pad

    pairs = list(itertools.product(SIZES, range(1, 6)))
    _agree(out, pairs)
    _agree(pad, pairs)
    assert out(STATIC, None, 3) is None and out(STATIC, 5, None) is None  # unknown stays unknown
    # what the formula says for sizes that fit, as conv2d's docstring gives it
    for size, kernel in pairs:
        p = pad(STATIC, size, kernel)
        if size + 2 * p >= dilation * (kernel - 1) + 1:
            assert out(STATIC, size, kernel) == (size + 2 * p - dilation * (kernel - 1) - 1) // stride + 1


@pytest.mark.parametrize(
    ("ws", "stride", "pad", "ignore_border"),
    [(2, 2, 0, True), (3, 1, 1, True), (2, 2, 0, False), (3, 2, 0, False), (2, 3, 0, False)],
)
def test_a_pooling_axis_agrees_three_ways(ws: int, stride: int, pad: int, ignore_border: bool) -> None:
    def out(sizes, size, _):
        return pool_output_size(sizes, size, ws, stride, pad, ignore_border)

    _agree(out, [(size, 0) for size in SIZES])
    assert out(STATIC, None, 0) is None
    for size in SIZES:
        # Theano's out_shape: windows starting in the (padded) input, whole ones with ignore_border
        starts = range(0, size + 2 * pad, stride) if size else range(0)
        whole = [s for s in starts if s + ws <= size + 2 * pad]
        expected = len(whole) if ignore_border else len(starts)
        if ignore_border or stride >= ws:
            assert out(STATIC, size, 0) == expected, size
        if ignore_border:
            assert (pool_room(STATIC, size, ws, pad) >= 1) == bool(whole)


def test_broadcasting_agrees_statically_and_in_llvm() -> None:
    """numpy's broadcasting where `?` never stretches: static shapes give numpy's shape, known
    sizes that differ are refused with their axis, and LLVM (run-time sizes for the `?`s)
    gives the sizes numpy gives for the concrete shapes."""
    assert broadcast(STATIC, [(None, 3), (1, 3)]) == (None, 3)
    assert broadcast(STATIC, [(None, 1), (4,)]) == (None, 4)
    assert broadcast(STATIC, [(1, 1), (1,)]) == (1, 1)
    with pytest.raises(SizeMismatch) as refused:
        broadcast(STATIC, [(2, 3), (4, 3)])
    assert refused.value.axis == -2 and refused.value.sizes == [2, 4]

    # (a, 1, 3) with (b, 1) and (1,): a and b are run-time sizes
    def rows(sizes, a, b):
        return broadcast(sizes, [(a, 1, 3), (b, 1), (1,)])

    def lift(shape):
        return [d if isinstance(d, ll.Value) else I64(d) for d in shape]

    module = ll.Module("broadcast")
    fn = ll.Function(module, ll.FunctionType(I64, [I64, I64]), "f")
    b = ll.IRBuilder(fn.append_basic_block())
    extent = lift(rows(LLVMSizes(b), *fn.args))
    b.ret(b.add(b.mul(extent[0], I64(100)), b.add(b.mul(extent[1], I64(10)), extent[2])))
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(str(module)), mcjit_target_machine())
    engine.finalize_object()
    native = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)(
        engine.get_function_address("f")
    )
    expected = np.broadcast_shapes((5, 1, 3), (5, 1), (1,))
    assert native(5, 5) == 100 * expected[0] + 10 * expected[1] + expected[2]
    assert rows(STATIC, None, None) == (None, None, 3)
