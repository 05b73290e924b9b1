"""A CPython-level entry point for functions of scalars: the shortest call path.

For a function whose arguments, results and shared variables are all scalars,
this module compiles a METH_FASTCALL function

    PyObject *fast(PyObject *ctx, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)

that accepts each argument by its exact type (a Python float for f64, a
Python int in range for an integer dtype, the numpy scalar of the input's
own dtype), computes into fresh 0-d arrays and returns them, all while
holding the GIL, with no ctypes in between. Anything else (another type, a
wrong count, a value needing conversion) is handed to ctx[0], the general
Python call path, with the same arguments: behaviour never depends on which
path ran. ctx[1 + k] makes result k (a bound `copy` of a 0-d template). A
function with shared variables also takes their locks and reads and updates
their values (pycall_state.py).

It relies on two layouts that CPython and numpy keep stable for their
regular (non-debug, GIL) builds: `ob_type` is the second word of every
object, and a numpy scalar's or 0-d array's payload pointer / value sits at
offset 16. `supported()` says whether this interpreter qualifies.
"""

from __future__ import annotations

import ctypes
import sys
import sysconfig
from collections.abc import Sequence

import numpy as np

from ..ir import DType
from . import jit
from . import llvm_ir as ll
from .jit import LLVM_LOCK, host_target_machine, parse_verified
from .loader import load_holder
from .module_text import module_text
from .native_module import CodeHolder
from .pycall_state import SharedState, StateAccess
from .target import host_target
from .types import F64, I8, I8_PTR, I32, I64, memory_type

OB_TYPE_OFFSET = 8
PAYLOAD_OFFSET = 16


def supported() -> bool:
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return sys.implementation.name == "cpython" and not hasattr(sys, "gettotalrefcount") and not free_threaded


def _api(name: str) -> int:
    return ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value or 0


class _Builder:
    def __init__(self, module: ll.Module, builder: ll.IRBuilder) -> None:
        self.module = module
        self.b = builder

    def call_address(self, address: int, ret: ll.Type, args: list[ll.Value]) -> ll.Value:
        fn_type = ll.FunctionType(ret, [a.type for a in args])
        pointer = self.b.inttoptr(I64(address), fn_type.as_pointer())
        return self.b.call(pointer, args)

    def field(self, obj: ll.Value, offset: int, ty: ll.Type) -> ll.Value:
        address = self.b.gep(obj, [I64(offset)])
        return self.b.load(self.b.bitcast(address, ty.as_pointer()))

    def is_type(self, obj: ll.Value, type_object: object) -> ll.Value:
        actual = self.b.ptrtoint(self.field(obj, OB_TYPE_OFFSET, I8_PTR), I64)
        return self.b.icmp_unsigned("==", actual, I64(id(type_object)))


def compile_fastcall(
    entry_address: int,
    inputs: Sequence[DType],
    outputs: Sequence[DType],
    single_output: bool,
    state: SharedState | None = None,
) -> tuple[int, CodeHolder]:
    """Compile the fast entry for a native entry point at `entry_address`: (its address, the
    holder of its code). `state`: the shared buffers of a stateful function (pycall_state.py)."""
    module = host_target().new_module("tc_fastcall")
    fn = ll.Function(
        module, ll.FunctionType(I8_PTR, [I8_PTR, I8_PTR.as_pointer(), I64, I8_PTR]), "tc_fastcall"
    )
    ctx, args, nargs, kwnames = fn.args
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    slow = fn.append_basic_block("slow")
    e = _Builder(module, b)

    def next_block(name: str) -> ll.Block:
        return fn.append_basic_block(name)

    ok = next_block("arity_ok")
    no_keywords = b.icmp_unsigned("==", kwnames, ll.Constant(I8_PTR, None))
    b.cbranch(b.and_(no_keywords, b.icmp_signed("==", nargs, I64(len(inputs)))), ok, slow)
    b.position_at_end(ok)
    slots = []
    for index, dtype in enumerate(inputs):
        obj = b.load(b.gep(args, [I64(index)]))
        slot = b.alloca(memory_type(dtype))
        _accept(e, fn, obj, dtype, slot, slow, index)
        slots.append(slot)

    access = StateAccess(b, fn, ctx, state, _api) if state is not None else None
    hosts: list[ll.Value] = []
    scratch: list[ll.Value] = []
    if access is not None:
        access.take_locks(slow)
        hosts, scratch = access.host_data(slow), access.scratch()
    results = _make_outputs(e, fn, ctx, len(outputs), access)

    pointers = [*slots, *[e.field(a, PAYLOAD_OFFSET, I8_PTR) for a in results], *hosts, *scratch]
    data = b.alloca(I8_PTR, size=I32(len(pointers)))
    for index, pointer in enumerate(pointers):
        b.store(b.bitcast(pointer, I8_PTR), b.gep(data, [I32(index)]))
    dims = b.alloca(I64)
    status = e.call_address(entry_address, I32, [data, dims])
    fine = next_block("fine")
    oom = next_block("oom")
    b.cbranch(b.icmp_signed("==", status, I32(0)), fine, oom)
    b.position_at_end(oom)
    for array in results:
        e.call_address(_api("Py_DecRef"), ll.VoidType(), [array])
    if access is not None:
        access.release_locks()
    message = _cstring(module, "tc: could not allocate temporary buffers; no shared variable was changed")
    memory_error = b.inttoptr(I64(id(MemoryError)), I8_PTR)
    e.call_address(_api("PyErr_SetString"), ll.VoidType(), [memory_error, message])
    b.ret(ll.Constant(I8_PTR, None))

    b.position_at_end(fine)
    if access is not None:
        access.write_updates(scratch, hosts)
        access.release_locks()
    if single_output and len(results) == 1:
        b.ret(results[0])
    else:
        lst = e.call_address(_api("PyList_New"), I8_PTR, [I64(len(results))])
        for k, array in enumerate(results):
            e.call_address(_api("PyList_SetItem"), I32, [lst, I64(k), array])  # steals the reference
        b.ret(lst)

    b.position_at_end(slow)
    fallback = e.call_address(_api("PyTuple_GetItem"), I8_PTR, [ctx, I64(0)])
    b.ret(e.call_address(_api("PyObject_Vectorcall"), I8_PTR, [fallback, args, nargs, kwnames]))

    return _compile(module)


def _make_outputs(
    e: _Builder, fn: ll.Function, ctx: ll.Value, count: int, access: StateAccess | None
) -> list[ll.Value]:
    """The `count` output arrays, each made by calling its maker (`ctx[1 + k]`, no arguments);
    where one fails, the arrays made so far and the locks are released and the call returns NULL."""
    b = e.b
    results: list[ll.Value] = []
    for k in range(count):
        maker = e.call_address(_api("PyTuple_GetItem"), I8_PTR, [ctx, I64(1 + k)])
        array = e.call_address(_api("PyObject_CallNoArgs"), I8_PTR, [maker])
        made = fn.append_basic_block(f"made{k}")
        failed = fn.append_basic_block(f"failed{k}")
        b.cbranch(b.icmp_unsigned("==", array, ll.Constant(I8_PTR, None)), failed, made)
        b.position_at_end(failed)
        for earlier in results:
            e.call_address(_api("Py_DecRef"), ll.VoidType(), [earlier])
        if access is not None:
            access.release_locks()
        b.ret(ll.Constant(I8_PTR, None))  # the exception is already set
        b.position_at_end(made)
        results.append(array)
    return results


def _compile(module: ll.Module) -> tuple[int, CodeHolder]:
    """The `tc_fastcall` of `module`, optimised and loaded: (its address, the code's holder,
    which keeps it mapped)."""
    tm = host_target_machine(opt=2)
    with LLVM_LOCK:
        with parse_verified(module_text(module)) as parsed:
            parsed.optimize(tm, 2)
            data = tm.emit_object(parsed)
        jit.compile_count += 1
    holder = load_holder(data)
    return holder.get_global_value_address("tc_fastcall"), holder


def _accept(
    e: _Builder, fn: ll.Function, obj: ll.Value, dtype: DType, slot: ll.Value, slow: ll.Block, index: int
) -> None:
    """Store the value of `obj` into `slot` if its exact type needs no conversion, else go slow."""
    b = e.b
    done = fn.append_basic_block(f"arg{index}.done")
    own_scalar = np.dtype(dtype.numpy).type
    # 1. the numpy scalar of exactly this dtype: copy its payload
    not_numpy = fn.append_basic_block(f"arg{index}.not_numpy")
    numpy_case = fn.append_basic_block(f"arg{index}.numpy")
    b.cbranch(e.is_type(obj, own_scalar), numpy_case, not_numpy)
    b.position_at_end(numpy_case)
    b.store(e.field(obj, PAYLOAD_OFFSET, memory_type(dtype)), slot)
    b.branch(done)
    b.position_at_end(not_numpy)
    # 2. the Python type that holds this dtype exactly
    if dtype is DType.F32:  # a Python float may need rounding, which the general path decides
        b.branch(slow)
        b.position_at_end(done)
        return
    python_case = fn.append_basic_block(f"arg{index}.python")
    if dtype is DType.F64:
        b.cbranch(e.is_type(obj, float), python_case, slow)
        b.position_at_end(python_case)
        b.store(e.call_address(_api("PyFloat_AsDouble"), F64, [obj]), slot)
        b.branch(done)
    elif dtype.is_integer:
        b.cbranch(e.is_type(obj, int), python_case, slow)
        b.position_at_end(python_case)
        overflow = b.alloca(I32)
        value = e.call_address(_api("PyLong_AsLongLongAndOverflow"), I64, [obj, b.bitcast(overflow, I8_PTR)])
        info = np.iinfo(dtype.numpy)
        fits = b.and_(
            b.icmp_signed("==", b.load(overflow), I32(0)),
            b.and_(
                b.icmp_signed(">=", value, I64(int(info.min))), b.icmp_signed("<=", value, I64(int(info.max)))
            ),
        )
        store = fn.append_basic_block(f"arg{index}.store")
        b.cbranch(fits, store, slow)
        b.position_at_end(store)
        b.store(b.trunc(value, memory_type(dtype)) if dtype.bits < 64 else value, slot)
        b.branch(done)
    else:  # bool
        b.cbranch(e.is_type(obj, bool), python_case, slow)
        b.position_at_end(python_case)
        is_true = b.icmp_unsigned("==", b.ptrtoint(obj, I64), I64(id(True)))
        b.store(b.zext(is_true, I8), slot)
        b.branch(done)
    b.position_at_end(done)


def _cstring(module: ll.Module, text: str) -> ll.Value:
    data = bytearray(text.encode() + b"\0")
    const = ll.Constant(ll.ArrayType(I8, len(data)), data)
    glob = ll.GlobalVariable(module, const.type, name=module.get_unique_name("message"))
    glob.global_constant = True
    glob.initializer = const
    glob.linkage = "internal"
    return glob.bitcast(I8_PTR)
