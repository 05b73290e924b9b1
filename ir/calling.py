"""The calling convention shared by the CPU backend and the runtime.

A compiled function's entry point takes one array slot per

1. argument, in order;
2. result, in return order;
3. global the function loads or stores, in module order (its current buffer);
4. store, in program order (where the new value is written).

A store may be given the global's own buffer as its destination (an update
in place, one pass over the data) when `in_place_stores` allows it and the
shapes agree at run time; otherwise a fresh buffer that the runtime swaps in
after the call succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import CALLABLE_BODY, Function, Module, Value
from .ops.indexing import CHECKS_INDICES
from .ops.state import GlobalAccess, Load, Store
from .types import TensorType


@dataclass(frozen=True)
class CallingConvention:
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


def in_place_stores(function: Function) -> set[int]:
    """Stores (by index) whose value may be computed straight into the global's buffer.

    Safe when a fused kernel is the only reader of the global and the stored
    value is one of its results used by nothing else: every element is read
    and written at the same index, and nothing reads the old value afterwards.
    The kernel must also run after every op that can still fail on its operands'
    values (an index check), so that a failed call leaves the global unchanged.
    """
    loads = {op.symbol: op for op in function.body.ops if isinstance(op, Load)}
    allowed: set[int] = set()
    stores = [op for op in function.body.ops if isinstance(op, Store)]
    order = {op: position for position, op in enumerate(function.body.ops)}
    # A loop can fail in any step (an index, a temporary), so it counts as a check.
    can_fail = [
        order[op] for op in function.body.ops if op.has_trait(CHECKS_INDICES) or op.has_trait(CALLABLE_BODY)
    ]
    last_check = max(can_fail, default=-1)
    for index, store in enumerate(stores):
        value = store.operands[0]
        kernel = value.owner
        load = loads.get(store.symbol)
        if kernel is None or kernel.name != "kernel.elementwise" or len(value.uses) != 1:
            continue
        if order.get(kernel, -1) < last_check:
            continue
        readers = {use.op for result in load.results for use in result.uses} if load else set()
        if readers <= {kernel} and value.type.shape == (
            load.results[0].type.shape if load else value.type.shape
        ):
            allowed.add(index)
    return allowed
