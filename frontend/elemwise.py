"""Elementwise math under Theano's names: each is one IR op class plus promotion.

The op classes in `ir/ops/elementwise.py` own the type rules and the
semantics; this module only picks the class, lets `promotion.py` settle the
dtype, and records the application.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir.core import Operation
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


# -- floating point (integers and bools are upgraded to float first) -----------------------

sin = _unary(ew.Sin, "sin", "Elementwise sine.")
cos = _unary(ew.Cos, "cos", "Elementwise cosine.")
tan = _unary(ew.Tan, "tan", "Elementwise tangent.")
arcsin = _unary(ew.Arcsin, "arcsin", "Elementwise inverse sine.")
arccos = _unary(ew.Arccos, "arccos", "Elementwise inverse cosine.")
arctan = _unary(ew.Arctan, "arctan", "Elementwise inverse tangent.")
sinh = _unary(ew.Sinh, "sinh", "Elementwise hyperbolic sine.")
cosh = _unary(ew.Cosh, "cosh", "Elementwise hyperbolic cosine.")
tanh = _unary(ew.Tanh, "tanh", "Elementwise hyperbolic tangent.")
exp = _unary(ew.Exp, "exp", "Elementwise e**x.")
exp2 = _unary(ew.Exp2, "exp2", "Elementwise 2**x.")
expm1 = _unary(ew.Expm1, "expm1", "Elementwise exp(x) - 1, accurate near 0.")
log = _unary(ew.Log, "log", "Elementwise natural logarithm.")
log2 = _unary(ew.Log2, "log2", "Elementwise base-2 logarithm.")
log10 = _unary(ew.Log10, "log10", "Elementwise base-10 logarithm.")
log1p = _unary(ew.Log1p, "log1p", "Elementwise log(1 + x), accurate near 0.")
sqrt = _unary(ew.Sqrt, "sqrt", "Elementwise square root.")
deg2rad = _unary(ew.Deg2rad, "deg2rad", "Degrees to radians.")
rad2deg = _unary(ew.Rad2deg, "rad2deg", "Radians to degrees.")
sigmoid = _unary(ew.Sigmoid, "sigmoid", "The logistic function 1 / (1 + exp(-x)).")
softplus = _unary(ew.Softplus, "softplus", "log(1 + exp(x)), without overflow.")
erf = _unary(ew.Erf, "erf", "The error function.")
arctan2 = _binary(ew.Arctan2, "arctan2", "Elementwise arctan(y / x) in the right quadrant.")
true_div = _binary(ew.TrueDiv, "true_div", "True division `x / y`; integers divide as floats.")

# -- any number ----------------------------------------------------------------------------

neg = _unary(ew.Neg, "neg", "`-x`; an error on bools, as in numpy.")
abs_ = _unary(ew.Abs, "abs_", "Elementwise absolute value (`abs(x)`).")
sgn = _unary(ew.Sign, "sgn", "-1, 0 or 1 by the sign of x (nan stays nan).")
sqr = _unary(ew.Sqr, "sqr", "x * x.")
floor = _unary(ew.Floor, "floor", "Round towards -inf; the identity on integers.")
ceil = _unary(ew.Ceil, "ceil", "Round towards +inf; the identity on integers.")
sub = _binary(ew.Sub, "sub", "`x - y`; an error on bools, as in numpy.")
floor_div = _binary(ew.FloorDiv, "floor_div", "Python's `x // y` (rounds towards -inf).")
mod = _binary(ew.Mod, "mod", "Python's `x % y` (the sign of the divisor).")
pow = _binary(ew.Pow, "pow", "`x ** y`.")
maximum = _binary(ew.Maximum, "maximum", "Elementwise maximum; nan propagates.")
minimum = _binary(ew.Minimum, "minimum", "Elementwise minimum; nan propagates.")

# Theano spells integer floor division int_div; both are Python's `//`.
int_div = floor_div

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


# -- logic and bits ------------------------------------------------------------------------

and_ = _binary(ew.And, "and_", "`x & y`: logical on bools, bitwise on integers.")
or_ = _binary(ew.Or, "or_", "`x | y`: logical on bools, bitwise on integers.")
xor = _binary(ew.Xor, "xor", "`x ^ y`: logical on bools, bitwise on integers.")
invert = _unary(ew.Invert, "invert", "`~x`: logical not on bools, bitwise not on integers.")

# -- comparisons (bool results) ------------------------------------------------------------

eq = _binary(ew.Eq, "eq", "Elementwise `x == y` (the `==` operator keeps identity semantics).")
neq = _binary(ew.Ne, "neq", "Elementwise `x != y` (the `!=` operator keeps identity semantics).")
lt = _binary(ew.Lt, "lt", "Elementwise `x < y`.")
le = _binary(ew.Le, "le", "Elementwise `x <= y`.")
gt = _binary(ew.Gt, "gt", "Elementwise `x > y`.")
ge = _binary(ew.Ge, "ge", "Elementwise `x >= y`.")


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
        condition = neq(condition, 0)
    a, b = promote(ew.Select, (if_true, if_false))
    return make_apply(ew.Select, [condition, a, b]).out


where = switch


def clip(x: TensorLike, lower: TensorLike, upper: TensorLike) -> Variable:
    """`x` limited to [lower, upper]: minimum(maximum(x, lower), upper)."""
    return minimum(maximum(x, lower), upper)


def cast(x: TensorLike, dtype: str | DType) -> Variable:
    """`x` converted to `dtype` (`'floatX'` allowed); float to int saturates, nan gives 0."""
    return cast_to(as_tensor_variable(x), parse_dtype(dtype))
