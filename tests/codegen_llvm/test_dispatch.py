"""codegen_llvm/dispatch.py: the stubs through which quick code's callers reach optimised code."""

from __future__ import annotations

import ctypes

from tc.codegen_llvm.dispatch import dispatch_text
from tc.codegen_llvm.jit import host_target_machine, parse_verified
from tc.codegen_llvm.loader import load_holder

ENTRY = """
define i32 @"{name}"(i8** %data, i64* %dims) {{
  ret i32 {value}
}}
"""
ENTRY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)


def test_a_stub_calls_the_quick_entry_until_its_slot_names_another() -> None:
    names = ["tc_f", "tc_g$1.x"]  # ($ and . are in tc's symbols)
    text = "".join(ENTRY.format(name=name, value=7) for name in names) + dispatch_text(names)
    tm = host_target_machine(opt=0)
    with parse_verified(text) as module:
        holder = load_holder(tm.emit_object(module))
    for name in names:
        stub = ENTRY_TYPE(holder.get_global_value_address(f"{name}.dispatch"))
        assert stub(None, None) == 7
        other = ENTRY_TYPE(lambda data, dims: 11)
        slot = ctypes.c_void_p.from_address(holder.get_global_value_address(f"{name}.next"))
        slot.value = ctypes.cast(other, ctypes.c_void_p).value
        assert stub(None, None) == 11
        slot.value = None
        assert stub(None, None) == 7
    assert all(holder.get_global_value_address(name) for name in names)
