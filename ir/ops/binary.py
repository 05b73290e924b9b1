"""Binary elementwise ops: arithmetic, logic and comparisons (see ir/ops/elementwise.py).

Each class is the op's one definition, as for the unary ops in elementwise.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core import COMMUTATIVE, Value
from .elementwise_base import (
    ANY,
    FLOATS,
    LOGICAL,
    Binary,
    Comparison,
)

if TYPE_CHECKING:
    from ..builder import Builder


# -- binary ---------------------------------------------------------------------------------


class Add(Binary):
    """On bool: logical or (numpy)."""

    name = "tx.add"
    frontend_name = None
    float_instruction = "fadd"
    int_instruction = "add"
    bool_instruction = "or"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = ANY
    reference = staticmethod(np.add)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [g, g]


class Sub(Binary):
    """`x - y`; an error on bools, as in numpy."""

    name = "tx.sub"
    float_instruction = "fsub"
    int_instruction = "sub"
    reference = staticmethod(np.subtract)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [g, b.op("tx.neg", g)]


class Mul(Binary):
    """On bool: logical and (numpy)."""

    name = "tx.mul"
    frontend_name = None
    float_instruction = "fmul"
    int_instruction = "mul"
    bool_instruction = "and"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = ANY
    reference = staticmethod(np.multiply)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, x2 = self.operands
        return [b.op("tx.mul", g, x2), b.op("tx.mul", g, x)]


class TrueDiv(Binary):
    """True division `x / y`; integers divide as floats."""

    name = "tx.div"
    frontend_name = "true_div"
    float_instruction = "fdiv"
    accepts = FLOATS
    reference = staticmethod(np.true_divide)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        _, x2 = self.operands
        y = self.result
        return [b.op("tx.div", g, x2), b.op("tx.neg", b.op("tx.div", b.op("tx.mul", g, y), x2))]


class FloorDiv(Binary):
    """Python's `x // y` (rounds towards -inf); an integer divided by zero gives 0 (numpy)."""

    name = "tx.floordiv"
    frontend_name = "floor_div"
    reference = staticmethod(np.floor_divide)
    piecewise_constant = True  # zero derivative almost everywhere


class Mod(Binary):
    """Python's `x % y`: the result has the sign of the divisor; x % 0 is 0 on integers."""

    name = "tx.mod"
    reference = staticmethod(np.remainder)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, x2 = self.operands
        return [g, b.op("tx.neg", b.op("tx.mul", g, b.op("tx.floordiv", x, x2)))]


def _power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "f":
        # C99 pow, as the native code computes it: numpy takes a shortcut for a 0-d exponent
        # of 0.5 (sqrt, so (-inf) ** 0.5 would be nan, not inf), which an array exponent avoids.
        shape = np.broadcast_shapes(x.shape, y.shape)
        flat = [np.array(np.broadcast_to(v, shape)).reshape(-1) for v in (x, y)]  # no stride-0 shortcut
        return np.power(*flat).reshape(shape)
    # numpy raises on a negative integer exponent; tc gives the truncated exact
    # result (0, or +-1 for a base of +-1), since a compiled loop cannot raise.
    safe = np.power(x, np.where(y < 0, 0, y))
    truncated = np.where(x == 1, 1, np.where(x == -1, np.where(y % 2 == 0, 1, -1), 0))
    return np.where(y < 0, truncated.astype(x.dtype), safe)


class Pow(Binary):
    """`x ** y`; integer powers wrap on overflow, a negative integer exponent truncates (see _power)."""

    name = "tx.pow"
    costly = True  # a float power calls libm's pow
    reference = staticmethod(_power)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, x2 = self.operands
        y = self.result
        return [
            b.op("tx.mul", g, b.op("tx.mul", x2, b.op("tx.pow", x, b.op("tx.sub", x2, 1.0)))),
            b.op("tx.mul", g, b.op("tx.mul", y, b.op("tx.log", x))),
        ]


class Maximum(Binary):
    """Elementwise maximum; nan propagates, as numpy."""

    name = "tx.maximum"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = ANY
    reference = staticmethod(np.maximum)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, x2 = self.operands
        return _split(b, b.op("tx.ge", x, x2), g)


class Minimum(Binary):
    """Elementwise minimum; nan propagates."""

    name = "tx.minimum"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = ANY
    reference = staticmethod(np.minimum)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, x2 = self.operands
        return _split(b, b.op("tx.le", x, x2), g)


class Arctan2(Binary):
    """Elementwise arctan(y / x) in the right quadrant."""

    name = "tx.arctan2"
    math_function = "atan2"
    accepts = FLOATS
    reference = staticmethod(np.arctan2)

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, x2 = self.operands
        norm = b.op("tx.add", b.op("tx.mul", x, x), b.op("tx.mul", x2, x2))
        return [
            b.op("tx.div", b.op("tx.mul", g, x2), norm),
            b.op("tx.neg", b.op("tx.div", b.op("tx.mul", g, x), norm)),
        ]


class Hypot(Binary):
    """sqrt(x**2 + y**2) without undue overflow or underflow (C's hypot, numpy's)."""

    name = "tx.hypot"
    accepts = FLOATS
    reference = staticmethod(np.hypot)
    math_function = "hypot"

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        x, y = self.operands
        return [
            b.op("tx.div", b.op("tx.mul", g, x), self.result),
            b.op("tx.div", b.op("tx.mul", g, y), self.result),
        ]


class And(Binary):
    """`x & y`: logical on bools, bitwise on integers."""

    name = "tx.and"
    frontend_name = "and_"
    int_instruction = "and"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = LOGICAL
    reference = staticmethod(np.bitwise_and)


class Or(Binary):
    """`x | y`: logical on bools, bitwise on integers."""

    name = "tx.or"
    frontend_name = "or_"
    int_instruction = "or"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = LOGICAL
    reference = staticmethod(np.bitwise_or)


class Xor(Binary):
    """`x ^ y`: logical on bools, bitwise on integers."""

    name = "tx.xor"
    int_instruction = "xor"
    traits = Binary.traits | {COMMUTATIVE}
    accepts = LOGICAL
    reference = staticmethod(np.bitwise_xor)


# -- comparisons: bool results; ordered, so any comparison with nan is false except ne -----


class Eq(Comparison):
    """Elementwise `x == y` (the `==` operator keeps identity semantics)."""

    name = "tx.eq"
    predicate = "=="
    traits = Comparison.traits | {COMMUTATIVE}
    reference = staticmethod(np.equal)


class Ne(Comparison):
    """Elementwise `x != y` (the `!=` operator keeps identity semantics)."""

    name = "tx.ne"
    frontend_name = "neq"
    predicate = "!="
    traits = Comparison.traits | {COMMUTATIVE}
    reference = staticmethod(np.not_equal)


class Lt(Comparison):
    """Elementwise `x < y`."""

    name = "tx.lt"
    predicate = "<"
    reference = staticmethod(np.less)


class Le(Comparison):
    """Elementwise `x <= y`."""

    name = "tx.le"
    predicate = "<="
    reference = staticmethod(np.less_equal)


class Gt(Comparison):
    """Elementwise `x > y`."""

    name = "tx.gt"
    predicate = ">"
    reference = staticmethod(np.greater)


class Ge(Comparison):
    """Elementwise `x >= y`."""

    name = "tx.ge"
    predicate = ">="
    reference = staticmethod(np.greater_equal)


def _split(b: Builder, take_first: Value, g: Value) -> list[Value | None]:
    """The gradient of a choice between two operands goes to the one chosen."""
    zero = b.constant(0.0, g.type.dtype)
    return [b.op("tx.select", take_first, g, zero), b.op("tx.select", take_first, zero, g)]
