"""Shape rules of the ops whose result sizes come from integer values (ops/shape.py).

Slicing bounds, reshape targets, alloc sizes and range bounds are integer
scalar operands; the plan sizes the result before the call only when each
of them is tracked as a term (`ShapeState.scalars`: argument values, shape
entries, constants and arithmetic over them). Anything else is refused at
compile time, naming the op that computed it. Where a rule can only be
checked with the values (an index in range, element counts that match) the
rule records a `Requirement`.
"""

from __future__ import annotations

import numpy as np

from .core import Operation
from .errors import TcCompilationError
from .ops.builtin import Constant
from .ops.shape import (
    OPERAND,
    Alloc,
    Arange,
    Concatenate,
    IncSubtensor,
    IndexEntry,
    Reshape,
    SliceEntry,
    Subtensor,
    joined_length,
)
from .shape_state import ShapeState, SymbolicShape, location, shape_rule
from .shape_terms import ArgValue, Expr, Term, expr, is_int_scalar
from .sizes import TERMS

# What one entry of a subscript picks: an index, a slice with known bounds, or None (run-time bounds).
Pick = Term | slice | None


@shape_rule(Subtensor)
def _subtensor(op: Subtensor, state: ShapeState) -> None:
    source = state.shapes[op.operands[0]]
    region, picks = _region(op, state, source, [state.scalar(op, v) for v in op.operands[1:]])
    _track_pick(op, state, picks)
    state.shapes[op.results[0]] = region


@shape_rule(IncSubtensor)
def _inc_subtensor(op: IncSubtensor, state: ShapeState) -> None:
    """The increment broadcasts into the region; the result has the source's shape."""
    source = state.shapes[op.operands[0]]
    region, _ = _region(op, state, source, [state.scalar(op, v) for v in op.operands[2:]])
    state.broadcast_into(op, state.shapes[op.operands[1]], region)
    state.shapes[op.results[0]] = source


def _region(
    op: Subtensor | IncSubtensor, state: ShapeState, source: SymbolicShape, operands: list[Term]
) -> tuple[SymbolicShape, list[Pick]]:
    """The shape of `source[spec]`, with index checks; also what each entry picks."""
    given = iter(operands)
    entries = op.entries
    region: list[Term] = []
    picks: list[Pick] = []
    for axis, n in enumerate(source):
        entry = entries[axis] if axis < len(entries) else SliceEntry(None, None, 1)
        if isinstance(entry, IndexEntry):
            index = next(given) if entry.index == OPERAND else int(entry.index)
            if not (isinstance(index, int) and isinstance(n, int)):  # else checked by the type rule
                state.require(op, "index", index, n, axis)
            picks.append(index)
            continue
        start = next(given) if entry.start == OPERAND else entry.start
        stop = next(given) if entry.stop == OPERAND else entry.stop
        if entry.is_full:
            region.append(n)
        else:
            region.append(expr("slice", n, start, stop, entry.step))  # type: ignore[arg-type]
        if isinstance(start, (int, type(None))) and isinstance(stop, (int, type(None))):
            picks.append(slice(start, stop, entry.step))
        else:
            picks.append(None)  # a slice with run-time bounds
    return tuple(region), picks


def _track_pick(op: Operation, state: ShapeState, picks: list[Pick]) -> None:
    """`x.shape[0]`, `x.shape[1:]`: entries of a vector whose values are known."""
    if len(picks) != 1:
        return
    (pick,) = picks
    terms = state.values.get(op.operands[0])
    if terms is None:
        arg = state.vector_args.get(op.operands[0])
        if arg is not None and isinstance(pick, int):  # checked against the length already
            state.scalars[op.results[0]] = ArgValue(arg, pick)
        return
    if isinstance(pick, slice):
        state.values[op.results[0]] = terms[pick]
    elif isinstance(pick, int):
        if -len(terms) <= pick < len(terms):
            state.scalars[op.results[0]] = terms[pick]
    elif pick is not None:
        state.scalars[op.results[0]] = Expr("item", (pick, *terms))


@shape_rule(Reshape)
def _reshape(op: Reshape, state: ShapeState) -> None:
    source = state.shapes[op.operands[0]]
    operands = iter(state.scalar(op, v) for v in op.operands[1:])
    requested = op.shape_entries
    wanted = tuple(next(operands) if e == OPERAND else int(e) for e in requested)
    infer = tuple(k for k, e in enumerate(requested) if e == -1)  # only a literal -1 is inferred
    state.require(op, "reshape", source, wanted, infer)
    if not infer:
        state.shapes[op.results[0]] = wanted
        return
    rest = expr("prod", *(d for k, d in enumerate(wanted) if k not in infer))
    inferred = expr("floordiv", expr("prod", *source), rest)
    state.shapes[op.results[0]] = tuple(inferred if k in infer else d for k, d in enumerate(wanted))


@shape_rule(Alloc)
def _alloc(op: Alloc, state: ShapeState) -> None:
    operands = iter(state.scalar(op, v) for v in op.operands[1:])
    shape = tuple(next(operands) if e == OPERAND else int(e) for e in op.shape)
    state.require(op, "sizes", shape)
    state.broadcast_into(op, state.shapes[op.operands[0]], shape)
    state.shapes[op.results[0]] = shape


@shape_rule(Concatenate)
def _concatenate(op: Concatenate, state: ShapeState) -> None:
    parts = [state.shapes[v] for v in op.operands]
    for other in parts[1:]:
        if any(a != b for k, (a, b) in enumerate(zip(parts[0], other, strict=True)) if k != op.axis):
            state.require(op, "concatenate", parts[0], other, (op.axis,))
    joined = joined_length(TERMS, [p[op.axis] for p in parts])
    # a dimension known statically anywhere is the representative
    state.shapes[op.results[0]] = tuple(
        joined if k == op.axis else next((p[k] for p in parts if isinstance(p[k], int)), parts[0][k])
        for k in range(len(parts[0]))
    )
    # Integer vectors whose entries are known (T.stack([x.shape[1], n])) join into one.
    entries = [state.values.get(v) for v in op.operands]
    if len(parts[0]) == 1 and all(e is not None for e in entries):
        state.values[op.results[0]] = tuple(t for e in entries for t in e)  # type: ignore[union-attr]


@shape_rule(Arange)
def _arange(op: Arange, state: ShapeState) -> None:
    if op.results[0].type.dtype.is_float or not all(is_int_scalar(v.type) for v in op.operands):
        constants = [v.owner for v in op.operands if type(v.owner) is Constant]
        if len(constants) == len(op.operands):
            start, stop, step = (c.value[()] for c in constants)
            state.require(op, "step", int(step != 0))
            state.shapes[op.results[0]] = (int(np.arange(start, stop, step if step else 1).size),)
            return
        raise TcCompilationError(
            f"'{op.name}' at {location(op)}: the length of a range of non-integers must be known when "
            "compiling; give constant bounds or integer scalars"
        )
    start, stop, step = (state.scalar(op, v) for v in op.operands)
    state.require(op, "step", step)
    state.shapes[op.results[0]] = (expr("arange", start, stop, step),)
