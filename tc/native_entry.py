"""The CPython-level entries of scalar functions (codegen_llvm/pycall.py), made after a few
calls: making one costs about 10 ms of LLVM, which a function called a few times never earns
back. Functions with scalar shared variables (an accumulator) get one too."""

from __future__ import annotations

import functools

from tc.runtime import CompiledFunction

from .optimized import FunctionInterface

# Calls through the Python path before a scalar function gets its native entry.
NATIVE_ENTRY_AFTER_CALLS = 16


def defer_native_entry(compiled: CompiledFunction, function: FunctionInterface, address: int) -> None:
    """Give `compiled` (the entry point of `function` at `address`) its native entry later."""
    make = functools.partial(_use_fastcall_entry, function=function, address=address)
    compiled.defer_native_entry(make, NATIVE_ENTRY_AFTER_CALLS)


def _use_fastcall_entry(compiled: CompiledFunction, function: FunctionInterface, address: int) -> None:
    from tc.codegen_llvm import pycall
    from tc.codegen_llvm.pycall_state import SharedState

    if not pycall.supported():
        return
    context = compiled.shared_context() if compiled._shared else ()
    state = None
    if context:
        buffers = compiled._shared
        state = SharedState(
            buffers=len(buffers),
            locks=len(compiled._locks),
            stores=tuple((index, buffers[index].type.dtype) for index, _ in compiled._stores),
            apply_updates=compiled._keep_updates,
            first=1 + len(function.result_types),  # after the general path and the result makers
        )
    entry, engine = pycall.compile_fastcall(
        address,
        [t.dtype for t in function.arg_types],
        [t.dtype for t in function.result_types],
        compiled._single,
        state,
    )
    compiled.use_native_entry(entry, engine, context)
