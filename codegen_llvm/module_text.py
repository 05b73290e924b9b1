"""A module's LLVM IR text, identical internal functions merged, its objects freed at once."""

from __future__ import annotations

from . import llvm_ir as ll


def printed(module: ll.Module, merge: bool = False) -> str:
    """`str(module)`; `merge`: internal functions identical to an earlier one printed as
    aliases of it (merge_functions.py)."""
    values = list(module.globals.values())
    texts = [v.text() for v in values]
    metadata = module.metadata_lines()
    functions = [(i, v) for i, v in enumerate(values) if isinstance(v, ll.Function)]
    internal = sum(1 for _, v in functions if v.linkage == "internal" and not v.is_declaration)
    if merge and internal > 1:  # (only internal functions merge: a scalar function's has none)
        from .merge_functions import merged

        kept = merged([v for _, v in functions], [texts[i] for i, _ in functions], metadata)
        for (i, _), text in zip(functions, kept, strict=True):
            texts[i] = text
    return "\n".join([*module.header_lines(), *texts, *metadata])


def module_text(module: ll.Module) -> str:
    """`module`'s text, identical internal functions printed once (the others as aliases:
    merge_functions.py); the module is emptied (unusable) after.

    Every value points at its parent (and a block at its instructions, a function at its
    blocks and arguments, a loop's phi at a value that uses it), so a lowered module's
    objects (30,000 for the MLP's train step) would wait for Python's cycle collector, which
    spent 13-23 ms on them after each compile. Emptied of the references that close those
    cycles, each object is freed by reference counting as soon as the lowering drops it."""
    text = printed(module, merge=True)
    for value in list(module.globals.values()):
        for phi in getattr(value, "phis", ()):
            phi.incomings = None
        for block in getattr(value, "blocks", ()):
            block.__dict__.clear()
        value.__dict__.clear()
    module.__dict__.clear()
    return text
