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

from .symbols import dispatch_symbol, next_slot

# An entry point's type as LLVM IR text: int32_t (*)(void **data, int64_t *dims), as lower.py
# defines it (the stubs are parsed with the quick code, which they must match to verify).
_ENTRY = "i32 (i8**, i64*)*"

_STUB = """
@{slot} = global {entry_type} null, align 8
define i32 @{stub}(i8** %data, i64* %dims) {{
  %next = load atomic {entry_type}, {entry_type}* @{slot} unordered, align 8
  %quick = icmp eq {entry_type} %next, null
  %callee = select i1 %quick, {entry_type} @{entry}, {entry_type} %next
  %result = tail call i32 %callee(i8** %data, i64* %dims)
  ret i32 %result
}}
"""


def dispatch_text(entries: list[str]) -> str:
    """LLVM IR text defining the stubs and slots of `entries`, to be appended to the text of
    the quick module that defines them (one module to parse: building the stubs with
    an IR builder and linking their module in cost a cold compile 0.7 ms). The load is
    unordered: the runtime writes the slot (one aligned word) while other threads may be
    calling, and each call sees either the old value or the new, never a torn one."""
    return "".join(
        _STUB.format(
            entry=_quoted(entry),
            slot=_quoted(next_slot(entry)),
            stub=_quoted(dispatch_symbol(entry)),
            entry_type=_ENTRY,
        )
        for entry in entries
    )


def _quoted(symbol: str) -> str:
    """`symbol` as an LLVM IR global name: quoted, with any byte but a letter, a digit or one
    of `._-$` written as \\XX (LLVM's escape)."""
    kept = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$"
    return '"' + "".join(chr(b) if b in kept else f"\\{b:02X}" for b in symbol.encode()) + '"'
