"""codegen_llvm/module_text.py: a module's text, and its objects freed without the cycle collector."""

from __future__ import annotations

import gc
import weakref

from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.module_text import module_text


def _counting_loop() -> tuple[ll.Module, ll.Block]:
    """A function whose loop's phi and increment point at each other (a reference cycle)."""
    module = ll.Module("m")
    i64 = ll.IntType(64)
    function = ll.Function(module, ll.FunctionType(i64, [i64]), "count")
    entry, loop, done = (function.append_basic_block(name) for name in ("entry", "loop", "done"))
    b = ll.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(i64, "i")
    following = b.add(i, ll.Constant(i64, 1), "next")
    i.add_incoming(ll.Constant(i64, 0), entry)
    i.add_incoming(following, loop)
    b.cbranch(b.icmp_signed("<", following, function.args[0]), loop, done)
    b.position_at_end(done)
    b.ret(following)
    return module, loop


def test_the_text_is_llvmlites() -> None:
    expected = str(_counting_loop()[0])
    assert module_text(_counting_loop()[0]) == expected
    assert '%"i" = phi  i64 [0, %"entry"], [%"next", %"loop"]' in expected


def test_the_modules_objects_are_freed_by_reference_counting() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        module, loop = _counting_loop()
        block = weakref.ref(loop)
        del loop
        str(module)
        del module
        assert block() is not None  # left to the cycle collector
        gc.collect()
        module, loop = _counting_loop()
        block = weakref.ref(loop)
        del loop
        module_text(module)
        del module
        assert block() is None
    finally:
        if was:
            gc.enable()
