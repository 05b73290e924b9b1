"""A module as flat records, for the compile cache: saved and loaded without the text parser.

The pass cache (tc/pass_cache.py) keeps the optimised IR of a compile; reading it back
through the textual form costs lark's grammar (tens of milliseconds the first time in a
process) and a parse (about 10 ms for a train step). Here a module is a list of plain
records — each op's name, operand numbers, result types, attributes, regions and
location — pickled as one flat structure (pickling the objects themselves recurses along
the use lists, too deep for long graphs), and rebuilt op by op with the ops' own
constructors. `thaw(freeze(m))` prints exactly as `m` does, locations included.

The records are as trusted as the object code the same cache holds: only tc writes them.
"""

from __future__ import annotations

import pickle
from typing import Any

from . import ops as _ops  # noqa: F401  (registers every op)
from .core import OP_REGISTRY, Block, Function, Global, Module, Operation, Region, Value
from .errors import TcError

_FORMAT = 1


def freeze(module: Module) -> bytes:
    """The module as bytes that `thaw` rebuilds."""
    numbers: dict[Value, int] = {}
    functions = [(f.name, _block(f.body, numbers), f.location) for f in module.functions]
    globals_ = [(g.name, g.type, g.initial) for g in module.globals]
    return pickle.dumps((_FORMAT, globals_, functions), protocol=pickle.HIGHEST_PROTOCOL)


def _block(block: Block, numbers: dict[Value, int]) -> tuple[Any, ...]:
    args = []
    for arg in block.args:
        numbers[arg] = len(numbers)
        args.append((arg.type, arg.name))
    return (args, [_op(op, numbers) for op in block.ops])


def _op(op: Operation, numbers: dict[Value, int]) -> tuple[Any, ...]:
    operands = [numbers[v] for v in op.operands]
    regions = [[_block(b, numbers) for b in region.blocks] for region in op.regions]
    results = []
    for result in op.results:  # numbered after the regions, as the text defines them
        numbers[result] = len(numbers)
        results.append((result.type, result.name))
    return (op.name, operands, results, op.attributes, regions, op.location)


def thaw(data: bytes) -> Module:
    """The module `freeze` saved; a TcError if the bytes are not such a record."""
    try:
        version, globals_, functions = pickle.loads(data)
    except Exception as err:  # noqa: BLE001 (any damage to the bytes)
        raise TcError(f"not a saved module: {err}") from None
    if version != _FORMAT:
        raise TcError(f"a saved module of format {version}, expected {_FORMAT}")
    values: list[Value] = []
    module = Module(globals=[Global(name, type, initial) for name, type, initial in globals_])
    for name, block, location in functions:
        module.functions.append(Function(name, _thaw_block(block, values), location))
    return module


def _thaw_block(record: tuple[Any, ...], values: list[Value]) -> Block:
    args, ops = record
    block = Block([t for t, _ in args], [n for _, n in args])
    values.extend(block.args)
    for op in ops:
        block.append(_thaw_op(op, values))
    return block


def _thaw_op(record: tuple[Any, ...], values: list[Value]) -> Operation:
    name, operands, results, attributes, regions, location = record
    operand_values = [values[k] for k in operands]
    region_objects = [Region([_thaw_block(b, values) for b in blocks]) for blocks in regions]
    result_types = [t for t, _ in results]
    op = OP_REGISTRY[name](operand_values, result_types, dict(attributes), region_objects, location)
    for result, (_, hint) in zip(op.results, results, strict=True):
        result.name = hint
    values.extend(op.results)
    return op
