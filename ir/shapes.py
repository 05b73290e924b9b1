"""Shapes as expressions of the arguments' shapes, and the checks they imply.

The runtime needs, before calling native code, the shape of every result
(to allocate it) and the assurance that the arguments' unknown dimensions
agree wherever an op requires it (two `?` dimensions added together must be
equal). `ShapePlan` derives both from a function once, at compile time; the
call path then only reads integers.

A size is a term: a known int, `ArgDim` (an argument's axis), `ArgValue` (the
value of an integer scalar argument or global, or an entry of an integer
vector argument), or an `Expr` of integer arithmetic over terms (EXPRESSIONS:
add, floordiv, Python's slice length, arange's length, ..., wrapping at the
width of the dtype that computed it, as native code does). Integer scalars
computed from arguments, shapes and constants are tracked as terms, so
`data[i * bs:(i + 1) * bs]` is sized before the call; a size that depends on
anything else (float data, a reduction) is refused at compile time. Rules
beyond equal sizes (an index in range, matching element counts) are
`Requirement`s; when a plan `uses_values`, the runtime hands `check` and
`result_shape` the arguments' arrays too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .core import ELEMENTWISE, Function, Operation, Value
from .errors import TcCompilationError, TcIndexError, TcShapeError, TcValueError
from .ops.indexing import Gather, ScatterAdd
from .ops.linalg import BatchedDot, Dot
from .ops.random import RandomChoice, RandomOp
from .ops.reduce import NEEDS_ELEMENTS, Reduce
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
)
from .ops.views import DimShuffle
from .types import TensorType


@dataclass(frozen=True)
class ArgDim:
    """Axis `axis` of argument number `arg`, known only at call time."""

    arg: int
    axis: int


@dataclass(frozen=True)
class ArgValue:
    """The value of integer scalar argument (or global) number `arg`, known only at call time;
    with `index`, entry `index` of an integer vector argument (`x.reshape(shape, ndim=2)`)."""

    arg: int
    index: int | None = None


@dataclass(frozen=True)
class Expr:
    """Integer arithmetic over terms: `kind` is one of EXPRESSIONS (None: a default slice bound)."""

    kind: str
    args: tuple[Term | None, ...]


Term = int | ArgDim | ArgValue | Expr


def _slice_length(n: int, start: int | None, stop: int | None, step: int) -> int:
    return len(range(*slice(start, stop, step).indices(n)))


def _item(index: int, *terms: int) -> int:
    return terms[index]


def _wrap(value: int, bits: int, signed: int) -> int:
    """`value` as a `bits`-bit machine integer holds it (as the native code computes)."""
    value %= 1 << bits
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


EXPRESSIONS: dict[str, Callable[..., int]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b if b else 0,
    "mod": lambda a, b: a % b if b else 0,
    "neg": lambda a: -a,
    "max": max,
    "min": min,
    "prod": lambda *a: int(np.prod(a, dtype=np.int64)),
    "slice": _slice_length,  # (n, start, stop, step), Python's clamping
    "arange": lambda start, stop, step: len(range(start, stop, step)) if step else 0,
    "item": _item,  # (index, *terms): one entry of a vector of terms
    "wrap": _wrap,  # (value, bits, signed): machine integer arithmetic wraps around
}


@dataclass(frozen=True)
class Requirement:
    """A value-level rule an op needs (an index in range, matching element counts, ...).

    `kind` picks the test and the error in `ShapePlan._require`; `terms` are its inputs.
    """

    kind: str
    terms: tuple[Term | tuple[Term, ...], ...]
    op_name: str
    location: str


@dataclass(frozen=True)
class Bound:
    """A dimension an op needs to be at least `minimum` (e.g. a non-empty population)."""

    term: Term
    minimum: int
    what: str
    op_name: str
    location: str


@dataclass(frozen=True)
class Constraint:
    """Two dimensions an op needs equal; `op` is kept for the error message."""

    left: Term
    right: Term
    op_name: str
    location: str
    # For a product, the axes of the left and right operand that it pairs (their sizes must be
    # equal, there is no broadcasting), and how it pairs them ("contracts"); None for broadcasting.
    pairs: tuple[int, int, str] | None = None


class ShapePlan:
    """The result shapes and run-time shape checks of one function."""

    def __init__(self, function: Function, globals: Sequence[tuple[str, TensorType]] = ()) -> None:
        """`globals` are the shared buffers the function reads, as extra arguments after its own."""
        self.arg_names = [a.name or f"#{i}" for i, a in enumerate(function.args)]
        self.arg_names += [f"@{name}" for name, _ in globals]

        def symbolic(index: int, type: TensorType) -> tuple[Term, ...]:
            return tuple(ArgDim(index, axis) if d is None else d for axis, d in enumerate(type.shape))

        shapes: dict[Value, tuple[Term, ...]] = {
            arg: symbolic(index, arg.type) for index, arg in enumerate(function.args)
        }
        global_shapes = {
            name: symbolic(len(function.args) + k, type) for k, (name, type) in enumerate(globals)
        }
        self.constraints: list[Constraint] = []
        self.bounds: list[Bound] = []
        self.store_shapes: list[tuple[Term, ...]] = []
        # Integer vectors whose values are known as terms (shapes, and constants below).
        values: dict[Value, tuple[Term, ...]] = {}
        # Integer scalars whose values are known as terms (argument values, shape entries, arithmetic).
        scalars: dict[Value, Term] = {
            arg: ArgValue(index) for index, arg in enumerate(function.args) if _is_int_scalar(arg.type)
        }
        global_index = {name: len(function.args) + k for k, (name, _) in enumerate(globals)}
        # Integer vector arguments (and loaded globals), whose entries a size may read.
        self._vector_args: dict[Value, int] = {
            arg: index for index, arg in enumerate(function.args) if _is_int_vector(arg.type)
        }
        self.requirements: list[Requirement] = []
        for op in function.body.ops:
            if op.name == "return":
                continue
            if op.name == "tx.load":
                shapes[op.results[0]] = global_shapes[op.symbol]  # type: ignore[attr-defined]
                if _is_int_scalar(op.results[0].type):
                    scalars[op.results[0]] = ArgValue(global_index[op.symbol])  # type: ignore[attr-defined]
                if _is_int_vector(op.results[0].type):
                    self._vector_args[op.results[0]] = global_index[op.symbol]  # type: ignore[attr-defined]
            elif op.name == "tx.store":
                self.store_shapes.append(shapes[op.operands[0]])
            elif op.name == "tx.shape":
                shapes[op.results[0]] = (len(shapes[op.operands[0]]),)
                values[op.results[0]] = shapes[op.operands[0]]
            elif isinstance(op, DimShuffle):
                source = shapes[op.operands[0]]
                shapes[op.results[0]] = tuple(1 if p == -1 else source[p] for p in op.pattern)
            elif isinstance(op, Dot):
                a, b = shapes[op.operands[0]], shapes[op.operands[1]]
                if a[-1] != b[0]:
                    location = str(op.location) if op.location else "?"
                    pairs = (len(a) - 1, 0, "contracts")
                    self.constraints.append(Constraint(a[-1], b[0], op.name, location, pairs))
                shapes[op.results[0]] = a[:-1] + b[1:]
            elif isinstance(op, BatchedDot):
                a, b = shapes[op.operands[0]], shapes[op.operands[1]]
                location = str(op.location) if op.location else "?"
                batch, inner = (0, 0, "pairs the batch"), (2, 1, "contracts")
                for left, right, pairs in ((a[0], b[0], batch), (a[2], b[1], inner)):
                    if left != right:
                        self.constraints.append(Constraint(left, right, op.name, location, pairs))
                shapes[op.results[0]] = (a[0], a[1], b[2])
            elif isinstance(op, Reduce):
                source = shapes[op.operands[0]]
                keep = bool(op.attributes["keepdims"])
                shapes[op.results[0]] = tuple(
                    1 if a in op.axes else d for a, d in enumerate(source) if keep or a not in op.axes
                )
                if op.kind in NEEDS_ELEMENTS:
                    location = str(op.location) if op.location else "?"
                    for axis in op.axes:
                        self.bounds.append(
                            Bound(source[axis], 1, f"elements along axis {axis}", op.name, location)
                        )
            elif isinstance(op, (Gather, ScatterAdd)):
                shapes[op.results[0]] = self._indexing_shape(op, shapes)
            elif isinstance(op, RandomOp):
                # The generated code reads the stream's two words: a state a user resized is refused.
                location = str(op.location) if op.location else "?"
                (words,) = shapes[op.operands[0]]
                self.bounds.append(Bound(words, 2, "words of stream state", op.name, location))
                if isinstance(op, RandomChoice):
                    self._choice_checks(op, shapes)
                if op.size_operand is not None:
                    shapes[op.results[0]] = self._size_terms(op, op.size_operand, values)
                else:
                    shapes[op.results[0]] = tuple(d for d in op.results[0].type.shape if d is not None)
            elif isinstance(op, VALUE_SHAPED):
                shapes[op.results[0]] = self._value_shaped(op, shapes, values, scalars)
            elif op.has_trait(ELEMENTWISE):
                shape = self._broadcast(op, [shapes[v] for v in op.operands])
                shapes.update((r, shape) for r in op.results)
                _track_arithmetic(op, scalars)
            elif all(r.type.is_static for r in op.results):
                shapes.update((r, tuple(d for d in r.type.shape if d is not None)) for r in op.results)
                result_type = op.results[0].type
                if op.name == "tx.constant" and result_type.rank == 1 and result_type.dtype.is_integer:
                    # an integer vector may be a shape (reshape's target); others never are
                    values[op.results[0]] = tuple(int(v) for v in op.value)  # type: ignore[attr-defined]
                if op.name == "tx.constant" and _is_int_scalar(op.results[0].type):
                    scalars[op.results[0]] = int(op.value)  # type: ignore[attr-defined]
                if op.name == "tx.size":
                    source = shapes[op.operands[0]]
                    scalars[op.results[0]] = _expr("prod", *(source[a] for a in op.axes))  # type: ignore[attr-defined]
            else:
                raise TcCompilationError(f"no shape rule for '{op.name}' at {op.location}")
        self.result_shapes = [shapes[v] for v in function.return_op.operands]
        every = [*self.result_shapes, *self.store_shapes, *(r.terms for r in self.requirements)]
        every += [(c.left, c.right) for c in self.constraints] + [(b.term,) for b in self.bounds]
        # Whether a call must hand over the arguments' values, not only their shapes.
        self.uses_values = any(_mentions_values(t) for t in every)
        self.has_checks = bool(self.constraints or self.bounds or self.requirements)

    def _indexing_shape(
        self, op: Gather | ScatterAdd, shapes: dict[Value, tuple[Term, ...]]
    ) -> tuple[Term, ...]:
        """Index arrays broadcast together; scatter-add's updates have the gathered shape."""
        location = str(op.location) if op.location else "?"
        indices = [shapes[v] for v in op.indices]
        rank = max(len(s) for s in indices)
        gathered: list[Term] = []
        for axis in range(rank):
            terms = [s[axis - rank + len(s)] for s in indices if axis - rank + len(s) >= 0]
            terms = sorted((t for t in terms if t != 1), key=lambda t: not isinstance(t, int))
            gathered.append(terms[0] if terms else 1)
            self.constraints += [
                Constraint(terms[0], t, op.name, location) for t in terms[1:] if t != terms[0]
            ]
        source = shapes[op.operands[0]]
        gathered += source[len(indices) :]
        if isinstance(op, Gather):
            return tuple(gathered)
        updates = shapes[op.operands[1]]
        pairs = zip(gathered, updates, strict=True)
        self.constraints += [Constraint(g, u, op.name, location) for g, u in pairs if g != u]
        return source

    @staticmethod
    def _size_terms(op: Operation, size: Value, values: dict[Value, tuple[Term, ...]]) -> tuple[Term, ...]:
        """The shape a size vector stands for, in terms of the arguments' shapes."""
        terms = values.get(size)
        if terms is None:
            raise TcCompilationError(
                f"'{op.name}' at {op.location}: a run-time size must be a shape (x.shape) or a constant"
            )
        return terms

    def _broadcast(self, op: Operation, operand_shapes: Sequence[tuple[Term, ...]]) -> tuple[Term, ...]:
        rank = len(op.results[0].type.shape)
        location = str(op.location) if op.location else "?"
        result: list[Term] = []
        for axis in range(rank):
            terms = []
            for shape in operand_shapes:
                local = axis - (rank - len(shape))
                if local >= 0 and shape[local] != 1:
                    terms.append(shape[local])
            if not terms:
                result.append(1)
                continue
            static = op.results[0].type.shape[axis]
            if static is not None and static != 1:
                terms.append(static)  # a size the result's type learned (a refining tx.cast)
            # Prefer a known size as the representative; check the others against it.
            terms.sort(key=lambda t: not isinstance(t, int))
            first = terms[0]
            for other in terms[1:]:
                if other != first:
                    self.constraints.append(Constraint(first, other, op.name, location))
            result.append(first)
        return tuple(result)

    def _choice_checks(self, op: RandomChoice, shapes: dict[Value, tuple[Term, ...]]) -> None:
        """The native draw reads values[j] for j < n: n must cover the draw, weights must match."""
        location = str(op.location) if op.location else "?"
        (population,) = shapes[op.values]
        if op.count:
            needed = 1 if op.attributes["replace"] else op.count
            self.bounds.append(Bound(population, needed, "values to choose from", op.name, location))
        if op.weights is not None:
            (weights,) = shapes[op.weights]
            if weights != population:
                self.constraints.append(Constraint(population, weights, op.name, location))

    @functools.cached_property
    def evaluate(self) -> Callable[[Sequence[tuple[int, ...]], Data], Evaluated | None]:
        """`evaluate(shapes, data)`: (result shapes, store shapes), or None when a check fails
        (then `check` says which, with the full message).

        The plan compiled to one straight-line Python function, each distinct term computed
        once: the call path runs it on every call, so it must cost microseconds, not the
        tree walks of `check`.
        """
        lines: list[str] = []
        names: dict[Term, str] = {}
        binary = {"add": "+", "sub": "-", "mul": "*"}

        def emit(term: Term | None) -> str:
            if term is None or isinstance(term, int):
                return repr(term)
            if term in names:
                return names[term]
            if isinstance(term, ArgDim):
                expr = f"shapes[{term.arg}][{term.axis}]"
            elif isinstance(term, ArgValue):
                entry = "" if term.index is None else f"[{term.index}]"
                expr = f"int(data[{term.arg}]{entry})"
            elif term.kind in binary:
                left, right = (emit(a) for a in term.args)
                expr = f"{left} {binary[term.kind]} {right}"
            else:
                expr = f"E[{term.kind!r}]({', '.join(emit(a) for a in term.args)})"
            names[term] = f"t{len(names)}"
            lines.append(f"    {names[term]} = {expr}")
            return names[term]

        for b in self.bounds:
            lines.append(f"    if {emit(b.term)} < {b.minimum}: return None")
        for c in self.constraints:
            left, right = emit(c.left), emit(c.right)
            lines.append(f"    if {left} != {right}: return None")
        for index, r in enumerate(self.requirements):
            if r.kind == "index":
                at, size = emit(r.terms[0]), emit(r.terms[1])  # type: ignore[arg-type]
                lines.append(f"    if not -{size} <= {at} < {size}: return None")
            elif r.kind == "step":
                lines.append(f"    if {emit(r.terms[0])} == 0: return None")  # type: ignore[arg-type]
            else:  # rarer rules: the general code (which raises with its message)
                lines.append(f"    R[{index}](shapes, data)")

        def shapes_text(shapes: list[tuple[Term, ...]]) -> str:
            return (
                "(" + "".join("(" + "".join(f"{emit(t)}, " for t in shape) + "), " for shape in shapes) + ")"
            )

        lines.append(f"    return {shapes_text(self.result_shapes)}, {shapes_text(self.store_shapes)}")
        source = "def evaluate(shapes, data):\n" + "\n".join(lines) + "\n"
        scope: dict[str, Any] = {
            "E": EXPRESSIONS,
            "R": [functools.partial(self._require, r) for r in self.requirements],
        }
        exec(compile(source, "<shape plan>", "exec"), scope)  # noqa: S102  (our own generated code)
        evaluate: Callable[[Sequence[tuple[int, ...]], Data], Evaluated | None] = scope["evaluate"]
        return evaluate

    def check(self, shapes: Sequence[tuple[int, ...]], data: Data = None) -> None:
        """Raise TcShapeError (TcIndexError, TcValueError) if the arguments break a rule.

        `data` are the arguments' and globals' arrays, needed when `uses_values`.
        """
        for b in self.bounds:
            found = self._value(b.term, shapes, data)
            if found < b.minimum:
                raise TcShapeError(
                    f"{b.op_name} at {b.location} needs at least {b.minimum} {b.what}, found {found}"
                )
        for c in self.constraints:
            left, right = self._value(c.left, shapes, data), self._value(c.right, shapes, data)
            if left != right:
                found = f"{self._describe(c.left, shapes, data)} but {self._describe(c.right, shapes, data)}"
                if c.pairs is not None:
                    left_axis, right_axis, how = c.pairs
                    raise TcShapeError(
                        f"{c.op_name} at {c.location} {how} dimension {left_axis} of the left operand "
                        f"(size {left}) with dimension {right_axis} of the right (size {right}): {found}"
                    )
                rule = ""
                if 1 in (left, right):
                    rule = (
                        "; sizes must be equal, or one of them statically 1: a dimension stretches only "
                        "where its type says 1 (T.row, T.col, x.dimshuffle('x', 0), or f64[1, ?] in .tx), "
                        "never where it is ? and happens to be 1"
                    )
                raise TcShapeError(f"shapes do not broadcast in {c.op_name} at {c.location}: {found}{rule}")
        for r in self.requirements:
            self._require(r, shapes, data)

    @staticmethod
    def _value(term: Term | None, shapes: Sequence[tuple[int, ...]], data: Data = None) -> int:
        if isinstance(term, int):
            return term
        if isinstance(term, ArgDim):
            return shapes[term.arg][term.axis]
        if isinstance(term, ArgValue):
            assert data is not None, "a value-dependent shape needs the arguments' values"
            return int(data[term.arg] if term.index is None else data[term.arg][term.index])
        assert isinstance(term, Expr)
        args = [None if a is None else ShapePlan._value(a, shapes, data) for a in term.args]
        return int(EXPRESSIONS[term.kind](*args))

    def _values(
        self, terms: tuple[Term, ...], shapes: Sequence[tuple[int, ...]], data: Data
    ) -> tuple[int, ...]:
        return tuple(self._value(t, shapes, data) for t in terms)

    def _require(self, r: Requirement, shapes: Sequence[tuple[int, ...]], data: Data) -> None:
        where = f"{r.op_name} at {r.location}"
        if r.kind == "index":
            index, size, axis = (self._value(t, shapes, data) for t in r.terms)  # type: ignore[arg-type]
            if not -size <= index < size:
                raise TcIndexError(
                    f"{where}: index {index} is out of bounds for axis {axis} with size {size}"
                )
        elif r.kind == "step":
            if self._value(r.terms[0], shapes, data) == 0:  # type: ignore[arg-type]
                raise TcValueError(f"{where}: the step must not be zero")
        elif r.kind == "sizes":
            sizes = self._values(r.terms[0], shapes, data)  # type: ignore[arg-type]
            if any(d < 0 for d in sizes):
                raise TcValueError(f"{where}: negative size in shape {sizes}")
        elif r.kind == "reshape":
            source = self._values(r.terms[0], shapes, data)  # type: ignore[arg-type]
            wanted = self._values(r.terms[1], shapes, data)  # type: ignore[arg-type]
            infer: tuple[int, ...] = r.terms[2]  # type: ignore[assignment]
            total = int(np.prod(source, dtype=np.int64))
            known = [d for k, d in enumerate(wanted) if k not in infer]
            rest = int(np.prod(known, dtype=np.int64))
            fits = rest == total if not infer else rest != 0 and total % rest == 0
            if any(d < 0 for d in known) or not fits:
                note = " (only a literal -1 is inferred)" if any(d < 0 for d in known) else ""
                raise TcShapeError(
                    f"{where}: cannot reshape an array of shape {source} into shape {wanted}{note}"
                )
        elif r.kind == "concatenate":
            first = self._values(r.terms[0], shapes, data)  # type: ignore[arg-type]
            other = self._values(r.terms[1], shapes, data)  # type: ignore[arg-type]
            axis = r.terms[2][0]  # type: ignore[index,assignment]
            if any(a != b for k, (a, b) in enumerate(zip(first, other, strict=True)) if k != axis):
                raise TcShapeError(
                    f"{where}: shapes {first} and {other} differ on an axis other than the joined axis {axis}"
                )
        else:
            raise AssertionError(f"unknown requirement {r.kind}")

    def _describe(self, term: Term, shapes: Sequence[tuple[int, ...]], data: Data = None) -> str:
        if isinstance(term, int):
            return f"a dimension is fixed at {term}"
        if not isinstance(term, ArgDim):
            return f"a computed size is {self._value(term, shapes, data)}"
        name = self.arg_names[term.arg]
        kind = "shared variable" if name.startswith("@") else "argument"
        return f"{kind} '{name.lstrip('@')}' has size {shapes[term.arg][term.axis]} on axis {term.axis}"

    # -- ops whose sizes come from values (ops/shape.py) --------------------------------

    def _value_shaped(
        self,
        op: Operation,
        shapes: dict[Value, tuple[Term, ...]],
        values: dict[Value, tuple[Term, ...]],
        scalars: dict[Value, Term],
    ) -> tuple[Term, ...]:
        location = str(op.location) if op.location else "?"

        def scalar(value: Value) -> Term:
            term = scalars.get(value)
            if term is None:
                raise TcCompilationError(
                    f"'{op.name}' at {location}: a size, index or bound must be computed from integer "
                    "scalar inputs, shared integer scalars, shapes and constants; "
                    f"this one comes from '{value.owner.name if value.owner else 'an argument'}'"
                )
            return term

        def require(kind: str, *terms: Term | tuple[Term, ...]) -> None:
            self.requirements.append(Requirement(kind, terms, op.name, location))

        if isinstance(op, (Subtensor, IncSubtensor)):
            source = shapes[op.operands[0]]
            first = 1 if isinstance(op, Subtensor) else 2
            region, picks = self._region(op, source, [scalar(v) for v in op.operands[first:]], require)
            if isinstance(op, IncSubtensor):
                self._broadcast_into(op, shapes[op.operands[1]], region, location)
                return source
            self._track_pick(op, values, scalars, picks)
            return region
        if isinstance(op, Reshape):
            source = shapes[op.operands[0]]
            operands = iter(scalar(v) for v in op.operands[1:])
            requested = op.shape_entries
            wanted = tuple(next(operands) if e == OPERAND else int(e) for e in requested)
            infer = tuple(k for k, e in enumerate(requested) if e == -1)  # only a literal -1 is inferred
            require("reshape", source, wanted, infer)
            if not infer:
                return wanted
            rest = _expr("prod", *(d for k, d in enumerate(wanted) if k not in infer))
            inferred = _expr("floordiv", _expr("prod", *source), rest)
            return tuple(inferred if k in infer else d for k, d in enumerate(wanted))
        if isinstance(op, Alloc):
            operands = iter(scalar(v) for v in op.operands[1:])
            entries = op.attributes["shape"]
            assert isinstance(entries, tuple)
            shape = tuple(next(operands) if e == OPERAND else int(e) for e in entries)
            require("sizes", shape)
            self._broadcast_into(op, shapes[op.operands[0]], shape, location)
            return shape
        if isinstance(op, Concatenate):
            parts = [shapes[v] for v in op.operands]
            for other in parts[1:]:
                if any(a != b for k, (a, b) in enumerate(zip(parts[0], other, strict=True)) if k != op.axis):
                    require("concatenate", parts[0], other, (op.axis,))
            joined = parts[0][op.axis]
            for other in parts[1:]:
                joined = _expr("add", joined, other[op.axis])
            # a dimension known statically anywhere is the representative
            return tuple(
                joined if k == op.axis else next((p[k] for p in parts if isinstance(p[k], int)), parts[0][k])
                for k in range(len(parts[0]))
            )
        if isinstance(op, Arange):
            if op.results[0].type.dtype.is_float or not all(_is_int_scalar(v.type) for v in op.operands):
                if all(v.owner is not None and v.owner.name == "tx.constant" for v in op.operands):
                    start, stop, step = (v.owner.value[()] for v in op.operands)  # type: ignore[union-attr]
                    require("step", int(step != 0))
                    return (int(np.arange(start, stop, step if step else 1).size),)
                raise TcCompilationError(
                    f"'{op.name}' at {location}: the length of a range of non-integers must be known when "
                    "compiling; give constant bounds or integer scalars"
                )
            start, stop, step = (scalar(v) for v in op.operands)
            require("step", step)
            return (_expr("arange", start, stop, step),)
        raise TcCompilationError(f"no shape rule for '{op.name}' at {location}")

    def _region(
        self, op: Subtensor | IncSubtensor, source: tuple[Term, ...], operands: list[Term], require: Any
    ) -> tuple[tuple[Term, ...], list[Term | slice | None]]:
        """The shape of `source[spec]`, with index checks; also what each entry picks."""
        given = iter(operands)
        entries = op.entries
        region: list[Term] = []
        picks: list[Term | slice | None] = []
        for axis, n in enumerate(source):
            entry = entries[axis] if axis < len(entries) else SliceEntry(None, None, 1)
            if isinstance(entry, IndexEntry):
                index = next(given) if entry.index == OPERAND else int(entry.index)
                if not (isinstance(index, int) and isinstance(n, int)):  # else checked by the type rule
                    require("index", index, n, axis)
                picks.append(index)
                continue
            start = next(given) if entry.start == OPERAND else entry.start
            stop = next(given) if entry.stop == OPERAND else entry.stop
            if entry.is_full:
                region.append(n)
            else:
                region.append(_expr("slice", n, start, stop, entry.step))  # type: ignore[arg-type]
            if isinstance(start, (int, type(None))) and isinstance(stop, (int, type(None))):
                picks.append(slice(start, stop, entry.step))
            else:
                picks.append(None)  # a slice with run-time bounds
        return tuple(region), picks

    def _track_pick(
        self,
        op: Operation,
        values: dict[Value, tuple[Term, ...]],
        scalars: dict[Value, Term],
        picks: list[Term | slice | None],
    ) -> None:
        """`x.shape[0]`, `x.shape[1:]`: entries of a vector whose values are known."""
        if len(picks) != 1:
            return
        (pick,) = picks
        terms = values.get(op.operands[0])
        if terms is None:
            arg = self._vector_args.get(op.operands[0])
            if arg is not None and isinstance(pick, int):  # checked against the length already
                scalars[op.results[0]] = ArgValue(arg, pick)
            return
        if isinstance(pick, slice):
            values[op.results[0]] = terms[pick]
        elif isinstance(pick, int):
            if -len(terms) <= pick < len(terms):
                scalars[op.results[0]] = terms[pick]
        elif pick is not None:
            scalars[op.results[0]] = Expr("item", (pick, *terms))

    def _broadcast_into(
        self, op: Operation, values: tuple[Term, ...], target: tuple[Term, ...], location: str
    ) -> None:
        """`values` (right-aligned) must broadcast to `target`: sizes of 1 stretch, others match."""
        for v, t in zip(values, target[len(target) - len(values) :], strict=True):
            if v != 1 and v != t:
                self.constraints.append(Constraint(t, v, op.name, location))


Data = Sequence[Any] | None
# What a plan's `evaluate` gives: the result shapes and the store shapes.
Evaluated = tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]
VALUE_SHAPED = (Subtensor, IncSubtensor, Reshape, Alloc, Concatenate, Arange)
ARITHMETIC = {
    "tx.add": "add",
    "tx.sub": "sub",
    "tx.mul": "mul",
    "tx.floordiv": "floordiv",
    "tx.mod": "mod",
    "tx.neg": "neg",
    "tx.maximum": "max",
    "tx.minimum": "min",
}


def _is_int_scalar(type: TensorType) -> bool:
    return type.rank == 0 and type.dtype.is_integer and not type.dtype.is_bool


def _is_int_vector(type: TensorType) -> bool:
    return type.rank == 1 and type.dtype.is_integer and not type.dtype.is_bool


def _expr(kind: str, *args: Term | None) -> Term:
    """An expression term, or its value when every argument is known now."""
    if all(a is None or isinstance(a, int) for a in args):
        return int(EXPRESSIONS[kind](*args))
    return Expr(kind, args)


def _track_arithmetic(op: Operation, scalars: dict[Value, Term]) -> None:
    """Integer scalar arithmetic over known values stays known (index * batch_size)."""
    if len(op.results) != 1 or not _is_int_scalar(op.results[0].type):
        return
    if not all(v in scalars for v in op.operands):
        return
    args = [scalars[v] for v in op.operands]
    dtype = op.results[0].type.dtype
    if op.name == "tx.cast" and len(args) == 1:
        term = args[0]
    elif op.name in ARITHMETIC:
        term = _expr(ARITHMETIC[op.name], *args)
    else:
        return
    scalars[op.results[0]] = _expr("wrap", term, dtype.itemsize * 8, int(dtype.is_signed))


def _mentions_values(term: object) -> bool:
    if isinstance(term, ArgValue):
        return True
    if isinstance(term, (tuple, Expr)):
        return any(_mentions_values(t) for t in (term.args if isinstance(term, Expr) else term))
    return False
