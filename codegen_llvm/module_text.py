"""An llvmlite module's text, its objects freed at once."""

from __future__ import annotations

from llvmlite import ir as ll

from . import ir_text


def module_text(module: ll.Module) -> str:
    """`module`'s LLVM IR text, identical internal functions printed once (the others as
    aliases: merge_functions.py); the module is emptied (unusable) after.

    Every llvmlite value points at its parent, and loops' phis at the values that use them,
    so a lowered module's objects (30,000 for the MLP's train step) would wait for Python's
    cycle collector, which spent 13-23 ms on them after each compile. Emptied, each object is
    freed by reference counting as soon as the lowering drops it."""
    text = ir_text.module_text(module, merge=True)
    for value in list(module.globals.values()):
        for block in getattr(value, "blocks", ()):
            for instruction in block.instructions:
                instruction.__dict__.clear()
            block.__dict__.clear()
        for argument in getattr(value, "args", ()):
            argument.__dict__.clear()
        value.__dict__.clear()
    module.__dict__.clear()
    return text
