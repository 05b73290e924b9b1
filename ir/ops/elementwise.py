"""Elementwise ops: one class per op, with its dtype rule and numpy reference.

Every operand of an elementwise op has the same dtype (the builder inserts
the casts that numpy's promotion implies, so the promotion policy lives in
one place, the frontend); shapes broadcast by `broadcast_shapes`. The numpy
reference is the semantics every backend must reproduce, including the edge
cases (division by zero, nan, signed zero) noted on each op.

An op class is the op's one definition: besides its name, dtype rule,
reference and gradient it declares, as plain data, how one element is
computed (`math_function`, the `*_instruction`s, `predicate`; interpreted by
codegen_llvm/scalar.py) and the name under which the frontend exposes it
(`frontend_name`: `T.<name>` and the .tx builtin are generated from it).
Its docstring is that function's docstring.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..core import Value

# The base classes are in elementwise_base.py, the binary, comparison, select, fill and cast
# ops in binary.py and select_cast.py; all stay importable from here (`ew.Add`), and importing
# this module registers them.
from .binary import (  # noqa: F401
    Add,
    And,
    Arctan2,
    Eq,
    FloorDiv,
    Ge,
    Gt,
    Hypot,
    Le,
    Lt,
    Maximum,
    Minimum,
    Mod,
    Mul,
    Ne,
    Or,
    Pow,
    Sub,
    TrueDiv,
    Xor,
)
from .elementwise_base import (  # noqa: F401
    ANY,
    FLOATS,
    INTEGERS,
    LOGICAL,
    NUMBERS,
    Binary,
    Comparison,
    ElementwiseOp,
    Unary,
    UnaryFloat,
)
from .select_cast import (  # noqa: F401
    Cast,
    Fill,
    Select,
    cast_reference,
)

# -- unary, floating point ------------------------------------------------------------------


class Sin(UnaryFloat):
    """Elementwise sine."""

    name = "tx.sin"
    math_function = "sin"
    reference = staticmethod(np.sin)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.mul", g, b.op("tx.cos", x))]


class Cos(UnaryFloat):
    """Elementwise cosine."""

    name = "tx.cos"
    math_function = "cos"
    reference = staticmethod(np.cos)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.neg", b.op("tx.mul", g, b.op("tx.sin", x)))]


class Tan(UnaryFloat):
    """Elementwise tangent."""

    name = "tx.tan"
    math_function = "tan"
    reference = staticmethod(np.tan)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.mul", g, b.op("tx.add", b.op("tx.mul", y, y), 1.0))]


class Arcsin(UnaryFloat):
    """Elementwise inverse sine."""

    name = "tx.arcsin"
    math_function = "asin"
    reference = staticmethod(np.arcsin)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.div", g, b.op("tx.sqrt", b.op("tx.sub", 1.0, b.op("tx.mul", x, x))))]


class Arccos(UnaryFloat):
    """Elementwise inverse cosine."""

    name = "tx.arccos"
    math_function = "acos"
    reference = staticmethod(np.arccos)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.neg", b.op("tx.div", g, b.op("tx.sqrt", b.op("tx.sub", 1.0, b.op("tx.mul", x, x)))))]


class Arctan(UnaryFloat):
    """Elementwise inverse tangent."""

    name = "tx.arctan"
    math_function = "atan"
    reference = staticmethod(np.arctan)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.div", g, b.op("tx.add", b.op("tx.mul", x, x), 1.0))]


class Sinh(UnaryFloat):
    """Elementwise hyperbolic sine."""

    name = "tx.sinh"
    math_function = "sinh"
    reference = staticmethod(np.sinh)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.mul", g, b.op("tx.cosh", x))]


class Cosh(UnaryFloat):
    """Elementwise hyperbolic cosine."""

    name = "tx.cosh"
    math_function = "cosh"
    reference = staticmethod(np.cosh)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.mul", g, b.op("tx.sinh", x))]


class Tanh(UnaryFloat):
    """Elementwise hyperbolic tangent."""

    name = "tx.tanh"
    math_function = "tanh"
    reference = staticmethod(np.tanh)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.mul", g, b.op("tx.sub", 1.0, b.op("tx.mul", y, y)))]


class Exp(UnaryFloat):
    """Elementwise e**x."""

    name = "tx.exp"
    math_function = "exp"
    reference = staticmethod(np.exp)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.mul", g, y)]


class Exp2(UnaryFloat):
    """Elementwise 2**x."""

    name = "tx.exp2"
    math_function = "exp2"
    reference = staticmethod(np.exp2)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.mul", g, b.op("tx.mul", y, math.log(2.0)))]


class Expm1(UnaryFloat):
    """Elementwise exp(x) - 1, accurate near 0."""

    name = "tx.expm1"
    math_function = "expm1"
    reference = staticmethod(np.expm1)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.mul", g, b.op("tx.add", y, 1.0))]


class Log(UnaryFloat):
    """Elementwise natural logarithm."""

    name = "tx.log"
    math_function = "log"
    reference = staticmethod(np.log)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.div", g, x)]


class Log2(UnaryFloat):
    """Elementwise base-2 logarithm."""

    name = "tx.log2"
    math_function = "log2"
    reference = staticmethod(np.log2)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.div", g, b.op("tx.mul", x, math.log(2.0)))]


class Log10(UnaryFloat):
    """Elementwise base-10 logarithm."""

    name = "tx.log10"
    math_function = "log10"
    reference = staticmethod(np.log10)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.div", g, b.op("tx.mul", x, math.log(10.0)))]


class Log1p(UnaryFloat):
    """Elementwise log(1 + x), accurate near 0."""

    name = "tx.log1p"
    math_function = "log1p"
    reference = staticmethod(np.log1p)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.div", g, b.op("tx.add", x, 1.0))]


class Sqrt(UnaryFloat):
    """Elementwise square root."""

    name = "tx.sqrt"
    math_function = "sqrt"
    reference = staticmethod(np.sqrt)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.div", b.op("tx.mul", g, 0.5), y)]


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; math.erf is correctly rounded enough to serve as the oracle.
    # (frompyfunc gives a Python float for a 0-d input: asarray, not .astype)
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=np.asarray(x).dtype)


class Erf(UnaryFloat):
    """The error function."""

    name = "tx.erf"
    math_function = "erf"
    reference = staticmethod(_erf)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [
            b.op(
                "tx.mul",
                g,
                b.op(
                    "tx.mul", b.op("tx.exp", b.op("tx.neg", b.op("tx.mul", x, x))), 2.0 / math.sqrt(math.pi)
                ),
            )
        ]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)) is already safe at both ends: exp overflows to inf -> 0.
    one = np.ones((), np.asarray(x).dtype)
    return one / (one + np.exp(-x))


class Sigmoid(UnaryFloat):
    """The logistic function 1 / (1 + exp(-x))."""

    name = "tx.sigmoid"
    costly = True
    reference = staticmethod(_sigmoid)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        y = self.result
        return [b.op("tx.mul", g, b.op("tx.mul", y, b.op("tx.sub", 1.0, y)))]


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class Softplus(UnaryFloat):
    """log(1 + exp(x)), without overflow."""

    name = "tx.softplus"
    costly = True
    reference = staticmethod(_softplus)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.mul", g, b.op("tx.sigmoid", x))]


def _deg2rad(x: np.ndarray) -> np.ndarray:
    return x * np.asarray(math.pi / 180.0, np.asarray(x).dtype)


def _rad2deg(x: np.ndarray) -> np.ndarray:
    return x * np.asarray(180.0 / math.pi, np.asarray(x).dtype)


class Deg2rad(UnaryFloat):
    """Degrees to radians: x * (pi / 180), the constant rounded to the dtype (as numpy does)."""

    name = "tx.deg2rad"
    reference = staticmethod(_deg2rad)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [b.op("tx.mul", g, math.pi / 180.0)]


class Rad2deg(UnaryFloat):
    """Radians to degrees."""

    name = "tx.rad2deg"
    reference = staticmethod(_rad2deg)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [b.op("tx.mul", g, 180.0 / math.pi)]


if TYPE_CHECKING:
    from ..builder import Builder


# -- unary, any number ----------------------------------------------------------------------


class Neg(Unary):
    """`-x`; integer negation wraps (neg of the most negative value is itself); an error on bools."""

    name = "tx.neg"
    float_instruction = "fneg"
    int_instruction = "neg"
    reference = staticmethod(np.negative)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [b.op("tx.neg", g)]


class Abs(Unary):
    """Elementwise absolute value (`abs(x)`)."""

    name = "tx.abs"
    frontend_name = "abs_"
    reference = staticmethod(np.abs)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.mul", g, b.op("tx.sign", x))]


class Sign(Unary):
    """-1, 0 or 1 by the sign of x; sign(nan) is nan and sign(-0.0) is +0.0, as numpy."""

    name = "tx.sign"
    frontend_name = "sgn"
    reference = staticmethod(np.sign)
    piecewise_constant = True  # zero derivative almost everywhere


class Sqr(Unary):
    """x * x."""

    name = "tx.sqr"
    reference = staticmethod(np.square)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x = self.operands[0]
        return [b.op("tx.mul", g, b.op("tx.mul", x, 2.0))]


class Floor(Unary):
    """Round towards -inf; the identity on integers (numpy 2 keeps the integer dtype)."""

    name = "tx.floor"
    math_function = "floor"
    reference = staticmethod(np.floor)
    piecewise_constant = True  # zero derivative almost everywhere


class Ceil(Unary):
    """Round towards +inf; the identity on integers."""

    name = "tx.ceil"
    math_function = "ceil"
    reference = staticmethod(np.ceil)
    piecewise_constant = True  # zero derivative almost everywhere


def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.rint(x) if np.asarray(x).dtype.kind == "f" else x  # np.rint turns integers into floats


class RoundHalfEven(Unary):
    """numpy's round: ties to even; identity on integers."""

    name = "tx.round_half_even"
    frontend_name = None
    math_function = "roundeven"
    reference = staticmethod(_round_half_even)
    piecewise_constant = True  # zero derivative almost everywhere


def _round_half_away(x: np.ndarray) -> np.ndarray:
    if np.asarray(x).dtype.kind != "f":
        return x
    # x - trunc(x) is exact, so the tie test is too (floor(|x| + 0.5) is not).
    whole = np.trunc(x)
    return np.where(np.abs(x - whole) >= 0.5, whole + np.sign(x), whole)


class RoundHalfAway(Unary):
    """C's round(): ties away from zero (Theano's `round(x, 'half_away_from_zero')`)."""

    name = "tx.round_half_away"
    frontend_name = None
    math_function = "round"
    reference = staticmethod(_round_half_away)
    piecewise_constant = True  # zero derivative almost everywhere


class Invert(Unary):
    """`~x`: logical not on bools, bitwise not on integers."""

    name = "tx.invert"
    int_instruction = "not"
    accepts = LOGICAL
    reference = staticmethod(np.invert)
