"""Shape terms (ir/shape_terms.py) evaluated in generated code, as the shape plan evaluates them in
Python: the same term language, a third way of reading it (the verifier reads static sizes).
`LLVMSizes` is the size algebra of ir/sizes.py in generated code: a rule written once over it
(a convolution's output size) gives the i64 values codegen lays its loops out with.

A scan needs the shapes its step produces before the loop runs, to allocate the stacked
results; the step's shape rules give them as terms over the step's arguments, which the
caller maps to run-time values (`arg_dim`, `arg_value`). Integer arithmetic follows Python's
(floor division, slice clamping) as EXPRESSIONS does, on i64.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.shape_terms import ArgDim, ArgValue, Expr, Term
from ..ir.sizes import Sizes
from . import llvm_ir as ll
from .types import I64

ArgDimValue = Callable[[int, int], ll.Value]
ArgScalarValue = Callable[[int, int | None], ll.Value]


def emit_term(
    b: ll.IRBuilder,
    term: Term | None,
    arg_dim: ArgDimValue,
    arg_value: ArgScalarValue,
    memo: dict[Term, ll.Value] | None = None,
) -> ll.Value:
    """The i64 value of `term`; `arg_dim(arg, axis)` and `arg_value(arg, index)` read the
    arguments. `memo` keeps the values of expressions already emitted, for a caller whose
    code runs straight on (each value emitted before dominates the next use): the sizes of
    a train step's temporaries all repeat the minibatch's slice length."""
    if term is None:
        raise ValueError("a default slice bound has no value of its own")
    if isinstance(term, int):
        return I64(term)
    if isinstance(term, ArgDim):
        return arg_dim(term.arg, term.axis)
    if isinstance(term, ArgValue):
        return arg_value(term.arg, term.index)
    assert isinstance(term, Expr)
    known = None if memo is None else memo.get(term)
    if known is not None:
        return known
    if term.kind == "slice":
        value = _slice_length(b, term.args, arg_dim, arg_value, memo)
    else:
        args = [emit_term(b, a, arg_dim, arg_value, memo) for a in term.args]
        value = _EXPRESSIONS[term.kind](b, *args)
    if memo is not None:
        memo[term] = value
    return value


def _floordiv(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    safe = b.select(b.icmp_signed("==", y, I64(0)), I64(1), y)
    q = b.sdiv(x, safe)
    # C truncates toward zero; Python floors: step down when the remainder's sign differs.
    r = b.srem(x, safe)
    adjust = b.and_(
        b.icmp_signed("!=", r, I64(0)),
        b.icmp_signed("!=", b.icmp_signed("<", r, I64(0)), b.icmp_signed("<", safe, I64(0))),
    )
    q = b.sub(q, b.zext(adjust, I64))
    return b.select(b.icmp_signed("==", y, I64(0)), I64(0), q)


def _mod(b: ll.IRBuilder, x: ll.Value, y: ll.Value) -> ll.Value:
    q = _floordiv(b, x, y)
    return b.select(b.icmp_signed("==", y, I64(0)), I64(0), b.sub(x, b.mul(q, y)))


def _max(b: ll.IRBuilder, *values: ll.Value) -> ll.Value:
    out = values[0]
    for v in values[1:]:
        out = b.select(b.icmp_signed(">", v, out), v, out)
    return out


def _min(b: ll.IRBuilder, *values: ll.Value) -> ll.Value:
    out = values[0]
    for v in values[1:]:
        out = b.select(b.icmp_signed("<", v, out), v, out)
    return out


def _prod(b: ll.IRBuilder, *values: ll.Value) -> ll.Value:
    out: ll.Value = I64(1)
    for v in values:
        out = b.mul(out, v)
    return out


def _range_length(b: ll.IRBuilder, start: ll.Value, stop: ll.Value, step: ll.Value) -> ll.Value:
    """len(range(start, stop, step)); 0 for a zero step."""
    up = b.icmp_signed(">", step, I64(0))
    span = b.select(up, b.sub(stop, start), b.sub(start, stop))
    magnitude = b.select(up, step, b.sub(I64(0), step))
    safe = b.select(b.icmp_signed("==", magnitude, I64(0)), I64(1), magnitude)
    length = b.add(b.sdiv(b.sub(span, I64(1)), safe), I64(1))
    empty = b.or_(b.icmp_signed("<=", span, I64(0)), b.icmp_signed("==", step, I64(0)))
    return b.select(empty, I64(0), length)


def _item(b: ll.IRBuilder, index: ll.Value, *values: ll.Value) -> ll.Value:
    out = values[-1] if values else I64(0)
    for position in range(len(values) - 2, -1, -1):
        out = b.select(b.icmp_signed("==", index, I64(position)), values[position], out)
    return out


def _wrap(b: ll.IRBuilder, value: ll.Value, bits: ll.Value, signed: ll.Value) -> ll.Value:
    # bits and signed are constants in every term the rules build.
    width, is_signed = int(bits.constant), int(signed.constant)  # type: ignore[attr-defined]
    if width >= 64:
        return value
    narrow = b.trunc(value, ll.IntType(width))
    return b.sext(narrow, I64) if is_signed else b.zext(narrow, I64)


def _slice_length(
    b: ll.IRBuilder,
    args: tuple[Term | None, ...],
    arg_dim: ArgDimValue,
    arg_value: ArgScalarValue,
    memo: dict[Term, ll.Value] | None,
) -> ll.Value:
    """len(range(*slice(start, stop, step).indices(n))), with Python's clamping."""
    n_term, start_term, stop_term, step_term = args

    def value(term: Term | None) -> ll.Value | None:
        return None if term is None else emit_term(b, term, arg_dim, arg_value, memo)

    step = I64(1) if step_term is None else emit_term(b, step_term, arg_dim, arg_value, memo)
    n = emit_term(b, n_term, arg_dim, arg_value, memo)
    return emit_slice(b, n, value(start_term), value(stop_term), step)[1]


def emit_slice(
    b: ll.IRBuilder, n: ll.Value, start: ll.Value | None, stop: ll.Value | None, step: ll.Value
) -> tuple[ll.Value, ll.Value]:
    """Python's slice(start, stop, step).indices(n) (None: the default bound): the first index
    and the length; the slices of views and the plan's slice terms in generated code."""
    up = b.icmp_signed(">", step, I64(0))
    lower = b.select(up, I64(0), I64(-1))
    upper = b.select(up, n, b.sub(n, I64(1)))

    def bound(value: ll.Value | None, default_up: ll.Value, default_down: ll.Value) -> ll.Value:
        if value is None:
            return b.select(up, default_up, default_down)
        shifted = _max(b, b.add(value, n), lower)
        return b.select(b.icmp_signed("<", value, I64(0)), shifted, _min(b, value, upper))

    first = bound(start, lower, upper)
    return first, _range_length(b, first, bound(stop, upper, lower), step)


_EXPRESSIONS: dict[str, Callable[..., ll.Value]] = {
    "add": lambda b, x, y: b.add(x, y),
    "sub": lambda b, x, y: b.sub(x, y),
    "mul": lambda b, x, y: b.mul(x, y),
    "floordiv": _floordiv,
    "mod": _mod,
    "neg": lambda b, x: b.sub(I64(0), x),
    "max": _max,
    "min": _min,
    "prod": _prod,
    "arange": _range_length,
    "item": _item,
    "wrap": _wrap,
}


class LLVMSizes(Sizes[ll.Value]):
    """Sizes as i64 values computed by `builder`'s code, with Python's integer semantics."""

    def __init__(self, builder: ll.IRBuilder) -> None:
        self.b = builder

    def lift(self, value: int | ll.Value) -> ll.Value:
        return I64(value) if isinstance(value, int) else value

    def apply(self, kind: str, *args: ll.Value) -> ll.Value:
        return _EXPRESSIONS[kind](self.b, *args)
