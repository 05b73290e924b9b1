"""Shared variables in the fastcall entry (pycall.py) of a stateful scalar function.

A function such as Theano's accumulator (`updates=[(state, state + inc)]`) reads and
updates 0-d shared buffers. Its entry runs holding the GIL throughout, but a call on another
thread may be inside native code, with the GIL released, while it holds a buffer's lock. So
the entry takes each lock without blocking, through the lock's bound `acquire(False)`, and
if one is held elsewhere it hands the call to the Python path, which waits for it. It finds
each buffer's current host array as an attribute of the buffer object (whose name the
runtime gives), and refuses (the Python path again) one that is not a writable ndarray: a
value that lives on the GPU, or a read-only array the user lent. Updates are computed into
scratch slots and copied into the buffers only after the call succeeded, so a failed call
changes no shared variable.

Items of the entry's context tuple after the result makers: each buffer, the attribute's
name, each lock's bound `acquire`, then each lock's bound `release` (locks in the order
every other call path takes them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from ..ir import DType
from . import llvm_ir as ll
from .packed_call import ARRAY_DATA, ARRAY_FLAGS, OBJECT_TYPE, object_field
from .types import I8_PTR, I32, I64, memory_type

ARRAY_WRITEABLE = 0x0400  # NPY_ARRAY_WRITEABLE


class SharedState(NamedTuple):
    """What an entry knows of its shared buffers: how many, how many distinct locks, each
    store's buffer and dtype, whether updates are applied (a copy made with
    delete_updates=True drops them), and the context index of the first buffer."""

    buffers: int
    locks: int
    stores: tuple[tuple[int, DType], ...]
    apply_updates: bool
    first: int

    @property
    def attribute(self) -> int:
        return self.first + self.buffers

    def acquire(self, k: int) -> int:
        return self.attribute + 1 + k

    def release(self, k: int) -> int:
        return self.attribute + 1 + self.locks + k


class StateAccess:
    """Emits the lock, read and update steps of one entry (`fn`, context `ctx`)."""

    def __init__(
        self, b: ll.IRBuilder, fn: ll.Function, ctx: ll.Value, state: SharedState, api: Callable[[str], int]
    ) -> None:
        self.b, self.fn, self.ctx, self.state, self.api = b, fn, ctx, state, api

    def call(self, name: str, ret: ll.Type, args: list[ll.Value]) -> ll.Value:
        fn_type = ll.FunctionType(ret, [a.type for a in args])
        return self.b.call(self.b.inttoptr(I64(self.api(name)), fn_type.as_pointer()), args)

    def item(self, index: int) -> ll.Value:
        return self.call("PyTuple_GetItem", I8_PTR, [self.ctx, I64(index)])

    def release_locks(self, count: int | None = None) -> None:
        """Release the first `count` locks (all by default), last taken first."""
        for k in reversed(range(self.state.locks if count is None else count)):
            null = ll.Constant(I8_PTR, None)
            done = self.call(
                "PyObject_Vectorcall", I8_PTR, [self.item(self.state.release(k)), null, I64(0), null]
            )
            self.call("Py_DecRef", ll.VoidType(), [done])  # Py_XDECREF: a NULL is skipped

    def take_locks(self, slow: ll.Block) -> None:
        """Every lock taken, or (one held elsewhere) those taken released and on to `slow`;
        an exception from `acquire` returns NULL with it set."""
        b, fn = self.b, self.fn
        argv = b.alloca(I8_PTR)
        b.store(b.inttoptr(I64(id(False)), I8_PTR), argv)
        for k in range(self.state.locks):
            null = ll.Constant(I8_PTR, None)
            got = self.call(
                "PyObject_Vectorcall", I8_PTR, [self.item(self.state.acquire(k)), argv, I64(1), null]
            )
            raised, called = (
                fn.append_basic_block(f"lock{k}.raised"),
                fn.append_basic_block(f"lock{k}.called"),
            )
            b.cbranch(b.icmp_unsigned("==", got, null), raised, called)
            b.position_at_end(raised)
            self.release_locks(k)
            b.ret(null)
            b.position_at_end(called)
            taken = b.icmp_unsigned("==", b.ptrtoint(got, I64), I64(id(True)))
            self.call("Py_DecRef", ll.VoidType(), [got])
            busy, held = fn.append_basic_block(f"lock{k}.busy"), fn.append_basic_block(f"lock{k}.held")
            b.cbranch(taken, held, busy)
            b.position_at_end(busy)
            self.release_locks(k)
            b.branch(slow)
            b.position_at_end(held)

    def host_data(self, slow: ll.Block) -> list[ll.Value]:
        """Each buffer's data pointer, once every lock is held; a buffer whose value is not a
        writable host ndarray releases the locks and goes to `slow`."""
        b, fn, state = self.b, self.fn, self.state
        name = self.item(state.attribute)
        pointers = []
        refuse = fn.append_basic_block("not_on_host")
        for k in range(state.buffers):
            host = self.call("PyObject_GetAttr", I8_PTR, [self.item(state.first + k), name])
            raised, got = fn.append_basic_block(f"buffer{k}.raised"), fn.append_basic_block(f"buffer{k}.got")
            b.cbranch(b.icmp_unsigned("==", host, ll.Constant(I8_PTR, None)), raised, got)
            b.position_at_end(raised)
            self.release_locks()
            b.ret(ll.Constant(I8_PTR, None))
            b.position_at_end(got)
            # The buffer keeps its array alive while the locks and the GIL are held.
            self.call("Py_DecRef", ll.VoidType(), [host])
            kind = b.ptrtoint(object_field(b, host, OBJECT_TYPE, I8_PTR), I64)
            flags = object_field(b, host, ARRAY_FLAGS, I32)
            usable = b.and_(
                b.icmp_unsigned("==", kind, I64(id(np.ndarray))),
                b.icmp_unsigned("!=", b.and_(flags, I32(ARRAY_WRITEABLE)), I32(0)),
            )
            ok = fn.append_basic_block(f"buffer{k}.ok")
            b.cbranch(usable, ok, refuse)
            b.position_at_end(ok)
            pointers.append(object_field(b, host, ARRAY_DATA, I8_PTR))
        with b.goto_block(refuse):
            self.release_locks()
            b.branch(slow)
        return pointers

    def scratch(self) -> list[ll.Value]:
        """A slot per store, where the entry writes the update."""
        return [self.b.alloca(memory_type(dtype)) for _, dtype in self.state.stores]

    def write_updates(self, scratch: Sequence[ll.Value], hosts: Sequence[ll.Value]) -> None:
        """Copy each update into its buffer (the call succeeded), unless updates are dropped."""
        if not self.state.apply_updates:
            return
        b = self.b
        for (index, dtype), slot in zip(self.state.stores, scratch, strict=True):
            target = b.bitcast(hosts[index], memory_type(dtype).as_pointer())
            b.store(b.load(slot), target)
