"""`tc_call_packed`: the runtime's call of an entry point with its slots read natively.

Filling `data` and `dims` from Python costs about a microsecond per array (`a.ctypes.data`
builds an object, and so does every shape and stride list): 10 us of a call that passes
eight arrays. This function of the support library takes the tuple of arrays itself and
reads each one's fields where numpy's C API puts them (PyArrayObject: data pointer, rank,
dimensions and strides pointers, a layout numpy has kept since 1.7), then calls the entry:

    int32_t tc_call_packed(entry, PyTupleObject *arrays, int64 count, void **data,
                           int64 *dims, int64 dims_capacity, PyTypeObject *ndarray)

The caller passes a tuple of exactly `count` objects, which it holds for the call, and the
address of numpy.ndarray. Returns the entry's status; or, calling nothing, -1 when the ranks
need more than `dims_capacity - 2` words of `dims` (the last two are the entry's index
report), -2 when an object's type is not exactly ndarray (the caller takes its Python path).
"""

from __future__ import annotations

from . import llvm_ir as ll
from .control import counted_loop
from .types import I8_PTR, I32, I64

PACKED_CALL = "tc_call_packed"
ENTRY_TYPE = ll.FunctionType(I32, [I8_PTR.as_pointer(), I64.as_pointer()])
PACKED_CALL_TYPE = ll.FunctionType(
    I32, [I8_PTR, I8_PTR, I64, I8_PTR.as_pointer(), I64.as_pointer(), I64, I8_PTR]
)
TUPLE_ITEMS = 24  # PyTupleObject: refcount, type, size, then the items (64-bit CPython)
OBJECT_TYPE = 8  # PyObject: refcount, then the type
ARRAY_DATA, ARRAY_RANK, ARRAY_DIMS, ARRAY_STRIDES, ARRAY_FLAGS = 16, 24, 32, 40, 64  # PyArrayObject_fields


def add_packed_call(module: ll.Module) -> ll.Function:
    fn = ll.Function(module, PACKED_CALL_TYPE, PACKED_CALL)
    entry, arrays, count, data, dims, capacity, ndarray = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    overflow = fn.append_basic_block("too_many_dims")
    not_array = fn.append_basic_block("not_an_array")
    offset = b.alloca(I64, name="offset")
    b.store(I64(0), offset)
    limit = b.sub(capacity, I64(2))
    with counted_loop(b, count, "slot") as slot:
        item = b.gep(arrays, [b.add(I64(TUPLE_ITEMS), b.mul(slot, I64(8)))])
        array = b.load(b.bitcast(item, I8_PTR.as_pointer()))
        is_array = fn.append_basic_block("is_array")
        b.cbranch(
            b.icmp_unsigned("!=", object_field(b, array, OBJECT_TYPE, I8_PTR), ndarray), not_array, is_array
        )
        b.position_at_end(is_array)
        b.store(object_field(b, array, ARRAY_DATA, I8_PTR), b.gep(data, [slot]))
        rank = b.sext(object_field(b, array, ARRAY_RANK, I32), I64)
        start = b.load(offset)
        end = b.add(start, b.add(rank, rank))
        fits = fn.append_basic_block("fits")
        b.cbranch(b.icmp_signed(">", end, limit), overflow, fits)
        b.position_at_end(fits)
        shape = object_field(b, array, ARRAY_DIMS, I64.as_pointer())
        strides = object_field(b, array, ARRAY_STRIDES, I64.as_pointer())
        with counted_loop(b, rank, "axis") as axis:
            b.store(b.load(b.gep(shape, [axis])), b.gep(dims, [b.add(start, axis)]))
            b.store(b.load(b.gep(strides, [axis])), b.gep(dims, [b.add(b.add(start, rank), axis)]))
        b.store(end, offset)
    b.ret(b.call(b.bitcast(entry, ENTRY_TYPE.as_pointer()), [data, dims]))
    with b.goto_block(overflow):
        b.ret(I32(-1))
    with b.goto_block(not_array):
        b.ret(I32(-2))
    return fn


def object_field(b: ll.IRBuilder, array: ll.Value, offset: int, kind: ll.Type) -> ll.Value:
    """The field of type `kind` at byte `offset` of the object at `array`."""
    return b.load(b.bitcast(b.gep(array, [I64(offset)]), kind.as_pointer()))
