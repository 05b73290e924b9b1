"""Shape rules of the ops whose result sizes come from their operands' shapes.

Each rule is registered by op class (`@shape_rule`) and records, in a
`ShapeState`, its results' shapes as terms and the checks the op implies.
Ops whose sizes come from integer values (slicing, reshape, alloc, ...) are
in `shape_value_rules.py`.
"""

from __future__ import annotations

from .core import ELEMENTWISE, SAME_SHAPE, Operation, Value
from .errors import TcCompilationError
from .ops import binary
from .ops import elementwise as unary
from .ops.builtin import Constant, Return, Shape, Size
from .ops.indexing import Gather, ScatterAdd, gathered_shape
from .ops.linalg import BatchedDot, Dot, batched_dot_shape, dot_shape
from .ops.random import RandomChoice, RandomOp
from .ops.reduce import NEEDS_ELEMENTS, Reduce, reduced_shape
from .ops.select_cast import Cast
from .ops.state import Load, Store
from .ops.views import DimShuffle, shuffled
from .shape_checks import Bound, Constraint
from .shape_state import FALLBACK_RULES, PlanSizes, ShapeState, SymbolicShape, location, shape_rule
from .shape_terms import ArgValue, Term, expr, is_int_scalar, is_int_vector

# Integer scalar arithmetic the plan follows, as EXPRESSIONS kinds.
ARITHMETIC: dict[type[Operation], str] = {
    binary.Add: "add",
    binary.Sub: "sub",
    binary.Mul: "mul",
    binary.FloorDiv: "floordiv",
    binary.Mod: "mod",
    unary.Neg: "neg",
    binary.Maximum: "max",
    binary.Minimum: "min",
}


@shape_rule(Return)
def _return(op: Operation, state: ShapeState) -> None:
    """The plan reads the returned values' shapes after the walk."""


@shape_rule(Load)
def _load(op: Load, state: ShapeState) -> None:
    result = op.results[0]
    state.shapes[result] = state.global_shapes[op.symbol]
    if is_int_scalar(result.type):
        state.scalars[result] = ArgValue(state.global_index[op.symbol])
    if is_int_vector(result.type):
        state.vector_args[result] = state.global_index[op.symbol]


@shape_rule(Store)
def _store(op: Store, state: ShapeState) -> None:
    state.store_shapes.append(state.shapes[op.operands[0]])


@shape_rule(Shape)
def _shape(op: Shape, state: ShapeState) -> None:
    source = state.shapes[op.operands[0]]
    state.shapes[op.results[0]] = (len(source),)
    state.values[op.results[0]] = source


@shape_rule(Constant)
def _constant(op: Constant, state: ShapeState) -> None:
    _static(op, state)
    result_type = op.results[0].type
    if result_type.rank == 1 and result_type.dtype.is_integer:
        # an integer vector may be a shape (reshape's target); others never are
        state.values[op.results[0]] = tuple(int(v) for v in op.value)
    if is_int_scalar(result_type):
        state.scalars[op.results[0]] = int(op.value)


@shape_rule(Size)
def _size(op: Size, state: ShapeState) -> None:
    _static(op, state)
    source = state.shapes[op.operands[0]]
    state.scalars[op.results[0]] = expr("prod", *(source[a] for a in op.axes))


def _static(op: Operation, state: ShapeState) -> None:
    """Results whose types know every size."""
    if not all(r.type.is_static for r in op.results):
        raise TcCompilationError(f"no shape rule for '{op.name}' at {op.location}")
    state.shapes.update((r, tuple(d for d in r.type.shape if d is not None)) for r in op.results)


@shape_rule(DimShuffle)
def _dimshuffle(op: DimShuffle, state: ShapeState) -> None:
    source = state.shapes[op.operands[0]]
    state.shapes[op.results[0]] = shuffled(source, op.pattern)
    # An integer scalar made a one-entry vector keeps its value (T.stack of sizes).
    scalar = state.scalars.get(op.operands[0])
    if scalar is not None and tuple(op.pattern) == (-1,):
        state.values[op.results[0]] = (scalar,)


@shape_rule(Dot)
def _dot(op: Dot, state: ShapeState) -> None:
    a, b = state.shapes[op.operands[0]], state.shapes[op.operands[1]]
    state.shapes[op.results[0]] = dot_shape(PlanSizes(state, op), a, b)


@shape_rule(BatchedDot)
def _batched_dot(op: BatchedDot, state: ShapeState) -> None:
    a, b = state.shapes[op.operands[0]], state.shapes[op.operands[1]]
    state.shapes[op.results[0]] = batched_dot_shape(PlanSizes(state, op), a, b)


@shape_rule(Reduce)
def _reduce(op: Reduce, state: ShapeState) -> None:
    source = state.shapes[op.operands[0]]
    needs_elements = op.kind in NEEDS_ELEMENTS
    state.shapes[op.results[0]] = reduce_shape(op, state, source, op.axes, op.keepdims, needs_elements)


def reduce_shape(
    op: Operation,
    state: ShapeState,
    source: SymbolicShape,
    axes: tuple[int, ...],
    keepdims: bool,
    needs_elements: bool,
) -> SymbolicShape:
    """`source` with `axes` dropped (or kept as 1); a reduction that needs elements (max, min,
    argmax, argmin) bounds each reduced size below by 1. tx.reduce's and kernel.reduce's."""
    if needs_elements:
        for axis in axes:
            state.bounds.append(Bound(source[axis], 1, f"elements along axis {axis}", op.name, location(op)))
    return reduced_shape(source, axes, keepdims)


@shape_rule(Gather)
def _gather(op: Gather, state: ShapeState) -> None:
    state.shapes[op.results[0]] = _gathered(op, state)


@shape_rule(ScatterAdd)
def _scatter_add(op: ScatterAdd, state: ShapeState) -> None:
    """The updates have the gathered shape; the result has the source's."""
    updates = state.shapes[op.operands[1]]
    pairs = zip(_gathered(op, state), updates, strict=True)
    state.constraints += [Constraint(g, u, op.name, location(op)) for g, u in pairs if g != u]
    state.shapes[op.results[0]] = state.shapes[op.operands[0]]


def _gathered(op: Gather | ScatterAdd, state: ShapeState) -> SymbolicShape:
    """The shape `source[indices]` has: the index arrays broadcast together, then the axes
    they leave alone."""
    indices = [state.shapes[v] for v in op.indices]
    return gathered_shape(PlanSizes(state, op), state.shapes[op.operands[0]], indices)


@shape_rule(RandomOp)
def _random(op: RandomOp, state: ShapeState) -> None:
    _stream_bound(op, state)
    _random_shape(op, state)


@shape_rule(RandomChoice)
def _random_choice(op: RandomChoice, state: ShapeState) -> None:
    """The native draw reads values[j] for j < n: n must cover the draw, weights must match."""
    _stream_bound(op, state)
    (population,) = state.shapes[op.values]
    if op.count:
        needed = 1 if op.replace else op.count
        state.bounds.append(Bound(population, needed, "values to choose from", op.name, location(op)))
    if op.weights is not None:
        (weights,) = state.shapes[op.weights]
        if weights != population:
            state.constraints.append(Constraint(population, weights, op.name, location(op)))
    _random_shape(op, state)


def _stream_bound(op: RandomOp, state: ShapeState) -> None:
    """The generated code reads the stream's two words: a state a user resized is refused."""
    (words,) = state.shapes[op.operands[0]]
    state.bounds.append(Bound(words, 2, "words of stream state", op.name, location(op)))


def _random_shape(op: RandomOp, state: ShapeState) -> None:
    if op.size_operand is not None:
        state.shapes[op.results[0]] = state.size_terms(op, op.size_operand)
    else:
        state.shapes[op.results[0]] = tuple(d for d in op.results[0].type.shape if d is not None)


def _elementwise(op: Operation, state: ShapeState) -> None:
    shape = state.broadcast(op, [state.shapes[v] for v in op.operands])
    state.shapes.update((r, shape) for r in op.results)
    if op.regions:
        _track_kernel(op, state.scalars)
    else:
        _track_arithmetic(op, state.scalars)


def _track_kernel(op: Operation, scalars: dict[Value, Term]) -> None:
    """A fused scalar kernel over known integers (index * batch_size, after `fuse`) stays known:
    its body's arithmetic is followed as the ops' own would be."""
    if any(r.type.rank for r in op.results) or not all(v in scalars for v in op.operands):
        return
    block = op.regions[0].block
    inner: dict[Value, Term] = dict(zip(block.args, (scalars[v] for v in op.operands), strict=True))
    for body_op in block.ops:
        if type(body_op) is Constant and is_int_scalar(body_op.results[0].type):
            inner[body_op.results[0]] = int(body_op.value)
        else:
            _track_arithmetic(body_op, inner)
    yielded = block.terminator.operands if block.terminator is not None else []
    for result, value in zip(op.results, yielded, strict=True):
        if value in inner:
            scalars[result] = inner[value]


def _track_arithmetic(op: Operation, scalars: dict[Value, Term]) -> None:
    """Integer scalar arithmetic over known values stays known (index * batch_size)."""
    if len(op.results) != 1 or not is_int_scalar(op.results[0].type):
        return
    if not all(v in scalars for v in op.operands):
        return
    args = [scalars[v] for v in op.operands]
    dtype = op.results[0].type.dtype
    kind = "cast" if type(op) is Cast else ARITHMETIC.get(type(op))
    if kind is None:
        return
    term = args[0] if kind == "cast" else expr(kind, *args)
    scalars[op.results[0]] = expr("wrap", term, dtype.itemsize * 8, int(dtype.is_signed))


def _same_shape(op: Operation, state: ShapeState) -> None:
    """Each result has the shape of operand 0 (the SAME_SHAPE trait)."""
    state.shapes.update((r, state.shapes[op.operands[0]]) for r in op.results)


FALLBACK_RULES.append((lambda op: op.has_trait(ELEMENTWISE), _elementwise))
FALLBACK_RULES.append((lambda op: op.has_trait(SAME_SHAPE), _same_shape))
FALLBACK_RULES.append((lambda op: all(r.type.is_static for r in op.results), _static))
