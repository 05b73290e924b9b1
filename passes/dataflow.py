"""A block's dataflow order: the ops of a block sorted so each comes after the ops whose
results it uses, as close to their old order as possible.

This is the one graph-shaped analysis the passes need on every compile (fusion and givens
move ops), and it is a linear walk over the ops rather than a networkx view: importing
networkx costs a process 0.2 s, more than the whole compile of a small function. The IR
stays the source of truth; nothing is kept between passes.
"""

from __future__ import annotations

import heapq

from ..ir import Block, Operation


def in_dataflow_order(block: Block) -> bool:
    """Whether every op of the block comes after the ops of the block whose results it uses."""
    seen: set[Operation] = set()
    for op in block.ops:
        if any(producer not in seen for producer in _producers(block, op)):
            return False
        seen.add(op)
    return True


def order_by_dataflow(block: Block, pass_name: str) -> None:
    """Put the block's ops in an order their dataflow allows (the terminator stays last):
    of the ops whose producers are all placed, the one that came first is placed next (Kahn's
    algorithm with the old position as priority), so an order that already is one stays.
    A cycle is a bug of the pass `pass_name` that made it."""
    if in_dataflow_order(block):
        return
    terminator = block.terminator
    ops = [op for op in block.ops if op is not terminator]
    position = {op: index for index, op in enumerate(ops)}
    producers = {op: _producers(block, op) for op in ops}
    waiting = {op: len(producers[op]) for op in ops}
    users: dict[Operation, list[Operation]] = {op: [] for op in ops}
    for op in ops:
        for producer in producers[op]:
            users[producer].append(op)
    ready = [(position[op], op) for op in ops if not waiting[op]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, op = heapq.heappop(ready)
        order.append(op)
        for user in users[op]:
            waiting[user] -= 1
            if not waiting[user]:
                heapq.heappush(ready, (position[user], user))
    if len(order) < len(ops):
        raise AssertionError(f"{pass_name} created a cycle among {len(ops) - len(order)} ops")
    block.ops = order + ([terminator] if terminator is not None else [])


def _producers(block: Block, op: Operation) -> set[Operation]:
    """The ops of `block` whose results `op` uses."""
    return {value.owner for value in op.operands if value.owner is not None and value.owner.parent is block}
