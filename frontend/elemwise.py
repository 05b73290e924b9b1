"""Elementwise math under Theano's names: each is one IR op class plus promotion.

The op classes in `ir/ops/elementwise.py` own the type rules and the
semantics; this module only picks the class, lets `promotion.py` settle the
dtype, and records the application. Every op that is a plain function of its
operands gets its builder generated from the registry, named by the class's
`frontend_name` and documented by its docstring (GENERATED; `T.<name>` and
the .tx builtins are these). The rest are written out below: variadic add and
mul, round's modes, switch, clip and cast.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.core import OP_REGISTRY, Operation
from ..ir.dtypes import DType
from ..ir.errors import TcTypeError, TcValueError
from ..ir.ops import elementwise as ew
from .graph import TensorLike, Variable, as_tensor_variable, cast_to, make_apply, parse_dtype
from .promotion import IDENTITY_ON_BOOL, promote

Unary = Callable[[TensorLike], Variable]
Binary = Callable[[TensorLike, TensorLike], Variable]


def apply_elementwise(op_class: type[Operation], *operands: TensorLike) -> Variable:
    """Promote the operands to the op's dtype, then apply the op."""
    return make_apply(op_class, promote(op_class, operands)).out


def _unary(op_class: type[Operation], name: str, doc: str) -> Unary:
    def build(x: TensorLike) -> Variable:
        value = as_tensor_variable(x)
        if value.type.dtype is DType.BOOL and op_class in IDENTITY_ON_BOOL:
            return value
        return apply_elementwise(op_class, value)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


def _binary(op_class: type[Operation], name: str, doc: str) -> Binary:
    def build(x: TensorLike, y: TensorLike) -> Variable:
        return apply_elementwise(op_class, x, y)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return build


def _generated() -> dict[str, Callable[..., Variable]]:
    builders: dict[str, Callable[..., Variable]] = {}
    for op_class in OP_REGISTRY.values():
        if not issubclass(op_class, ew.ElementwiseOp) or op_class.frontend_name is None:
            continue
        name, doc = op_class.frontend_name, (op_class.__doc__ or "").strip()
        if op_class.arity not in (1, 2):
            raise TypeError(f"{op_class.name}: a generated builder takes one or two operands")
        builders[name] = (_unary if op_class.arity == 1 else _binary)(op_class, name, doc)
    return builders


# sin, cos, ..., sub, floor_div, ..., eq, neq, ...: one per op class.
GENERATED = _generated()
globals().update(GENERATED)


def __getattr__(name: str) -> Callable[..., Variable]:
    # Called only for a name not found: it tells static checkers that the generated names exist.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Theano spells integer floor division int_div; both are Python's `//`.
int_div = GENERATED["floor_div"]

_ROUND_MODES: dict[str, type[Operation]] = {
    "half_to_even": ew.RoundHalfEven,
    "half_away_from_zero": ew.RoundHalfAway,
}
_round_builders = {mode: _unary(cls, "round", "") for mode, cls in _ROUND_MODES.items()}


def round_(x: TensorLike, mode: str | None = "half_to_even") -> Variable:
    """Round to the nearest integer value, keeping the dtype.

    The default breaks ties to even (numpy's and PyTensor's default, and what
    IEEE rounding does); Theano's old default was `"half_away_from_zero"`,
    which must now be asked for.
    """
    key = "half_to_even" if mode is None else mode
    if key not in _round_builders:
        raise TcValueError(f"round mode must be one of {sorted(_round_builders)}, found {mode!r}")
    return _round_builders[key](x)


# -- variadic and composite ----------------------------------------------------------------


def _fold(op_class: type[Operation], name: str, terms: tuple[TensorLike, ...]) -> Variable:
    # Promote all terms together, so `add(1, 2, x_f32)` stays float32 as `1 + 2 + x` would.
    if not terms:
        raise TcTypeError(f"{name} needs at least one term")
    values = promote(op_class, terms)
    result = values[0]
    for value in values[1:]:
        result = make_apply(op_class, [result, value]).out
    return result


def add(*terms: TensorLike) -> Variable:
    """The sum of one or more terms (variadic, as Theano's); on bools, logical or."""
    return _fold(ew.Add, "add", terms)


def mul(*terms: TensorLike) -> Variable:
    """The product of one or more terms (variadic, as Theano's); on bools, logical and."""
    return _fold(ew.Mul, "mul", terms)


def switch(cond: TensorLike, if_true: TensorLike, if_false: TensorLike) -> Variable:
    """`if_true` where `cond` else `if_false`; a non-bool `cond` means `cond != 0`."""
    condition = as_tensor_variable(cond)
    if condition.type.dtype is not DType.BOOL:
        condition = apply_elementwise(ew.Ne, condition, 0)
    a, b = promote(ew.Select, (if_true, if_false))
    return make_apply(ew.Select, [condition, a, b]).out


where = switch


def clip(x: TensorLike, lower: TensorLike, upper: TensorLike) -> Variable:
    """`x` limited to [lower, upper]: minimum(maximum(x, lower), upper), in the one dtype of
    all three (as numpy's clip: `clip(f32, 0.001, f64)` compares with 0.001 in f64)."""
    x, lower, upper = promote(ew.Minimum, [x, lower, upper])
    return apply_elementwise(ew.Minimum, apply_elementwise(ew.Maximum, x, lower), upper)


def cast(x: TensorLike, dtype: str | DType) -> Variable:
    """`x` converted to `dtype` (`'floatX'` allowed); float to int saturates, nan gives 0."""
    return cast_to(as_tensor_variable(x), parse_dtype(dtype))
