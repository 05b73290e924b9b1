"""The calling convention shared by the CPU backend and the runtime.

A compiled function's entry point takes one array slot per

1. argument, in order;
2. result, in return order;
3. global the function loads or stores, in module order (its current buffer);
4. store, in program order (where the new value is written).

A store may be given the global's own buffer as its destination (an update
in place, one pass over the data) when the plan-buffers pass marked it
`in_place` and the shapes agree at run time; otherwise a fresh buffer that the
runtime swaps in after the call succeeds.
"""

from __future__ import annotations

from typing import NamedTuple

from .core import Function, Module, Value
from .ops.state import GlobalAccess, Store
from .types import TensorType

# profile=True: the int64 words where profiled code records each op's runs
# (codegen_llvm/profile.py writes them, runtime/profile.py reads them): a header of
# PROFILE_HEADER words (records written, capacity), then records of PROFILE_RECORD words
# (op index, start ns, end ns, bytes, flops).
PROFILE_HEADER = 2
PROFILE_RECORD = 5


class CallingConvention(NamedTuple):
    arguments: tuple[Value, ...]
    results: tuple[Value, ...]
    globals: tuple[str, ...]
    stores: tuple[Store, ...]
    global_types: dict[str, TensorType]

    @property
    def slot_ranks(self) -> tuple[int, ...]:
        ranks = [v.type.rank for v in self.arguments] + [v.type.rank for v in self.results]
        ranks += [self.global_types[name].rank for name in self.globals]
        ranks += [op.operands[0].type.rank for op in self.stores]
        return tuple(ranks)

    @property
    def first_global_slot(self) -> int:
        return len(self.arguments) + len(self.results)

    @property
    def first_store_slot(self) -> int:
        return self.first_global_slot + len(self.globals)


def calling_convention(module: Module, function: Function) -> CallingConvention:
    used = {op.symbol for op in function.walk() if isinstance(op, GlobalAccess)}
    names = tuple(g.name for g in module.globals if g.name in used)
    return CallingConvention(
        arguments=tuple(function.args),
        results=tuple(function.return_op.operands),
        globals=names,
        stores=tuple(op for op in function.body.ops if isinstance(op, Store)),
        global_types={g.name: g.type for g in module.globals},
    )
