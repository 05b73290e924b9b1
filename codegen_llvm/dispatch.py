"""Dispatch stubs for tiered compilation (tc/tiering.py).

Quickly made code (no LLVM optimisation, LLVM's fast instruction selection) answers a
function's first calls while the optimised code is made on another thread. Each entry
point `tc_f` of the quick object gets a stub `tc_f.dispatch`, which the runtime calls
instead: it jumps through the slot `tc_f.next` when that holds an address (the optimised
entry, written once it is loaded), and to the quick `tc_f` while the slot is null. Every
holder of the stub's address (the packed call, a native entry, a copy of the function)
so moves to the optimised code at once, between two calls, with nothing to update.
"""

from __future__ import annotations

import llvmlite.ir as ll

from .module_text import module_text
from .symbols import dispatch_symbol, next_slot
from .target import host_target
from .types import I8_PTR, I32, I64

ENTRY_TYPE = ll.FunctionType(I32, [I8_PTR.as_pointer(), I64.as_pointer()])


def dispatch_module(entries: list[str]) -> str:
    """LLVM IR text for the host declaring `entries` and defining their stubs and slots, to
    be linked into the quick module."""
    module = host_target().new_module("tc.dispatch")
    null = ll.Constant(ENTRY_TYPE.as_pointer(), None)
    for entry in entries:
        quick = ll.Function(module, ENTRY_TYPE, entry)  # defined in the quick module
        slot = ll.GlobalVariable(module, ENTRY_TYPE.as_pointer(), next_slot(entry))
        slot.initializer = null
        slot.align = 8
        stub = ll.Function(module, ENTRY_TYPE, dispatch_symbol(entry))
        builder = ll.IRBuilder(stub.append_basic_block())
        # Unordered: the runtime writes the slot (one aligned word) while other threads may
        # be calling; each call sees either the old value or the new, never a torn one.
        target = builder.load_atomic(slot, "unordered", 8)
        callee = builder.select(builder.icmp_unsigned("==", target, null), quick, target)
        result = builder.call(callee, stub.args, tail=True)
        builder.ret(result)
    return module_text(module)
