"""The loop-nest abstraction (codegen_llvm/nest.py): iteration spaces over strided and
broadcast operands, the one contiguity test, and the serial walk, compiled for the host and
run on numpy arrays of every layout."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np
import pytest
from llvmlite import binding as llvm

from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.jit import mcjit_target_machine
from tc.codegen_llvm.nest import ArrayRef, IterationSpace, contiguous_over
from tc.codegen_llvm.types import F64, I8_PTR, I64, load_element, store_element
from tc.ir import DType


def _compile(module: ll.Module, name: str) -> tuple[llvm.ExecutionEngine, int]:
    ref = llvm.parse_assembly(str(module))
    ref.verify()
    engine = llvm.create_mcjit_compiler(ref, mcjit_target_machine())
    engine.finalize_object()
    return engine, engine.get_function_address(name)


def _array_args(rank: int, fn: ll.Function, first: int, static: tuple[int | None, ...]) -> ArrayRef:
    """A float64 ArrayRef from the arguments (pointer, shape..., strides...) at `first`."""
    args = fn.args[first : first + 1 + 2 * rank]
    return ArrayRef(DType.F64, args[0], list(args[1 : 1 + rank]), list(args[1 + rank :]), static)


def _copy_function(rank: int, static: tuple[int | None, ...]) -> tuple[llvm.ExecutionEngine, Callable]:
    """void copy(target, shape..., strides..., source, shape..., strides...): target[i] =
    source[i] broadcast over target's shape, through IterationSpace.over and walk."""
    module = ll.Module("nest")
    types = [I8_PTR, *[I64] * (2 * rank)] * 2
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), types), "copy")
    b = ll.IRBuilder(fn.append_basic_block())
    target = _array_args(rank, fn, 0, (None,) * rank)
    source = _array_args(rank, fn, 1 + 2 * rank, static)
    space = IterationSpace.over(target.shape, target.static_shape, [target, source])

    def body(pointers: list[ll.Value], counters: list[ll.Value]) -> None:
        assert len(counters) == rank
        store_element(b, DType.F64, load_element(b, DType.F64, pointers[1]), pointers[0])

    space.walk(b, "copy", [target.pointer, source.pointer], body)
    b.ret_void()
    engine, address = _compile(module, "copy")
    prototype = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p, *[ctypes.c_int64] * (2 * rank)] * 2)
    return engine, prototype(address)


def _call_args(array: np.ndarray) -> list[int]:
    return [array.ctypes.data, *array.shape, *array.strides]


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a,
        lambda a: a.T,
        lambda a: a[::-1, ::2],
        lambda a: a[1:, 3:7].T[::-1],
    ],
    ids=["contiguous", "transposed", "reversed-sliced", "sliced-transposed-reversed"],
)
def test_a_walk_reads_any_layout_and_writes_any_layout(make) -> None:
    engine, copy = _copy_function(2, (None, None))
    source = make(np.arange(8.0 * 12).reshape(8, 12))
    target = np.zeros((source.shape[1], source.shape[0])).T  # a transposed destination
    copy(*_call_args(target), *_call_args(source))
    np.testing.assert_array_equal(target, source)
    del engine


def test_a_walk_broadcasts_static_unit_axes_as_numpy_does() -> None:
    engine, copy = _copy_function(3, (1, None, 1))
    source = np.arange(5.0).reshape(1, 5, 1)
    target = np.zeros((2, 5, 3))
    copy(*_call_args(target), *_call_args(source))
    np.testing.assert_array_equal(target, np.broadcast_to(source, target.shape))
    empty = np.zeros((2, 0, 3))  # an empty axis: the walk runs no point
    copy(*_call_args(empty), *_call_args(source[:, :0]))
    del engine


def test_the_counters_are_the_point_index() -> None:
    module = ll.Module("counters")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [I8_PTR, I64, I64]), "index")
    b = ll.IRBuilder(fn.append_basic_block())
    rows, columns = fn.args[1:]
    space = IterationSpace([rows, columns], [[b.mul(columns, I64(8)), I64(8)]])

    def body(pointers: list[ll.Value], counters: list[ll.Value]) -> None:
        value = b.sitofp(b.add(b.mul(counters[0], I64(100)), counters[1]), F64)
        store_element(b, DType.F64, value, pointers[0])

    space.walk(b, "index", [fn.args[0]], body)
    b.ret_void()
    engine, address = _compile(module, "index")
    out = np.zeros((3, 4))
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)(address)(out.ctypes.data, 3, 4)
    np.testing.assert_array_equal(out, 100 * np.arange(3)[:, None] + np.arange(4))
    del engine


@pytest.mark.parametrize(
    ("view", "axes", "expected"),
    [
        (lambda a: a, None, True),
        (lambda a: a.T, None, False),
        (lambda a: a[:, ::2], None, False),
        (lambda a: a[:, ::2], [0], False),  # rows of the sliced array still 8 elements apart
        (lambda a: a[:1, ::-1], None, False),
        (lambda a: a[:, :1], None, False),  # a column: rows apart by a full row
        (lambda a: a[2:3], None, True),  # one row: any row stride
        (lambda a: a[::-1][:0], None, True),  # an empty axis: nothing moves along it
        (lambda a: a[:, ::2], [1], False),
        (lambda a: a[:, 3:5], [1], True),  # each row's run is contiguous
    ],
)
def test_the_contiguity_test(view, axes, expected: bool) -> None:
    module = ll.Module("contiguous")
    fn = ll.Function(module, ll.FunctionType(ll.IntType(8), [I64] * 4), "contiguous")
    b = ll.IRBuilder(fn.append_basic_block())
    ok = contiguous_over(b, fn.args[:2], fn.args[2:], 8, axes)
    b.ret(b.zext(ok, ll.IntType(8)))
    engine, address = _compile(module, "contiguous")
    array = view(np.zeros((4, 8)))
    result = ctypes.CFUNCTYPE(ctypes.c_int8, *[ctypes.c_int64] * 4)(address)(*array.shape, *array.strides)
    assert bool(result) is expected
    del engine
