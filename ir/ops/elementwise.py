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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..attributes import Attribute
from ..core import COMMUTATIVE, ELEMENTWISE, PURE, Location, Operation, Region, Value
from ..dtypes import DType
from ..errors import TcTypeError, TcVerificationError
from ..types import TensorType, broadcast_shapes

if TYPE_CHECKING:
    from ..builder import Builder

FLOATS = frozenset({DType.F32, DType.F64})
INTEGERS = frozenset({DType.I8, DType.I16, DType.I32, DType.I64, DType.U8})
NUMBERS = FLOATS | INTEGERS
LOGICAL = INTEGERS | {DType.BOOL}
ANY = NUMBERS | {DType.BOOL}


class ElementwiseOp(Operation):
    """Base of the family: operands of one dtype, broadcast shapes, numpy reference."""

    traits = frozenset({PURE, ELEMENTWISE})
    arity: ClassVar[int] = 1
    accepts: ClassVar[frozenset[DType]] = NUMBERS
    reference: ClassVar[Callable[..., np.ndarray]]
    # Floor, sign, rounding: the derivative is zero wherever it exists, so no gradient flows.
    piecewise_constant: ClassVar[bool] = False

    # How one element is computed, as data the code generator interprets: `math_function`
    # names a math-library function by its C name ("sin", "atan2"), called on floats (a
    # rounding function is the identity on integers); the instructions name an LLVM
    # instruction per kind of dtype ("fadd", "add", "or"; bool defaults to the integer one);
    # `predicate` is a comparison's ("<", "=="). An op with none of them has a small emitter
    # function of its own in codegen_llvm/scalar.py.
    math_function: ClassVar[str | None] = None
    float_instruction: ClassVar[str | None] = None
    int_instruction: ClassVar[str | None] = None
    bool_instruction: ClassVar[str | None] = None
    predicate: ClassVar[str | None] = None

    # `T.<frontend_name>` and the .tx builtin of that name are generated from the class: a
    # function of the operands with the standard promotion. It defaults to the IR name without
    # `tx.`; None where the frontend builds the op by hand (variadic add, round's modes, cast).
    frontend_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and "frontend_name" not in cls.__dict__:
            cls.frontend_name = cls.name.removeprefix("tx.")

    @classmethod
    def result_dtype(cls, operand_dtype: DType) -> DType:
        return operand_dtype

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        if len(operand_types) != cls.arity:
            raise TcTypeError(f"{cls.name} takes {cls.arity} operand(s), found {len(operand_types)}")
        dtype = cls.operand_dtype(operand_types)
        shape = broadcast_shapes(*(t.shape for t in operand_types))
        return [TensorType(cls.result_dtype(dtype), shape)]

    @classmethod
    def operand_dtype(cls, operand_types: Sequence[TensorType]) -> DType:
        dtypes = {t.dtype for t in operand_types}
        if len(dtypes) != 1:
            found = ", ".join(str(t) for t in operand_types)
            raise TcTypeError(f"{cls.name} needs operands of one dtype, found {found}")
        dtype = dtypes.pop()
        if dtype not in cls.accepts:
            allowed = ", ".join(sorted(d.value for d in cls.accepts))
            raise TcTypeError(f"{cls.name} is defined for {allowed}, found {dtype}")
        return dtype

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        out_type = self.results[0].type
        with np.errstate(all="ignore"):
            value = type(self).reference(*operands)
        value = np.asarray(value).astype(out_type.dtype.numpy, copy=False)
        shape = np.broadcast_shapes(*(np.shape(a) for a in operands))
        return [np.broadcast_to(value, shape)]

    def gradient(self, builder: Builder, output_grads: list[Value | None]) -> list[Value | None]:
        """`local_gradient` gives each operand's gradient at the result's shape;
        summing over the axes an operand was broadcast along brings it back to its own."""
        (g,) = output_grads
        if g is None or not self.result.type.dtype.is_float or self.piecewise_constant:
            return [None] * len(self.operands)
        local = self.local_gradient(builder, g)
        return [
            None if grad is None or not operand.type.dtype.is_float else builder.sum_to(grad, operand.type)
            for grad, operand in zip(local, self.operands, strict=True)
        ]

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        """d result / d operand times g, for each operand (broadcast to the result's shape)."""
        raise NotImplementedError(f"{self.name} has no gradient")


class Unary(ElementwiseOp):
    arity = 1


class UnaryFloat(Unary):
    accepts = FLOATS


class Binary(ElementwiseOp):
    arity = 2


class Comparison(Binary):
    accepts = ANY

    @classmethod
    def result_dtype(cls, operand_dtype: DType) -> DType:
        return DType.BOOL


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


# -- select and cast -----------------------------------------------------------------------


class Select(ElementwiseOp):
    """`select %cond, %a, %b`: a where cond else b (Theano's switch, numpy's where)."""

    name = "tx.select"
    frontend_name = None
    arity = 3
    accepts = ANY

    @staticmethod
    def reference(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return np.where(cond, a, b)

    @classmethod
    def operand_dtype(cls, operand_types: Sequence[TensorType]) -> DType:
        if operand_types[0].dtype is not DType.BOOL:
            raise TcTypeError(f"{cls.name} needs a bool condition, found {operand_types[0]}")
        return super().operand_dtype(operand_types[1:])

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [None, *_split(b, self.operands[0], g)]


class Fill(ElementwiseOp):
    """`tx.fill %model, %value`: value broadcast to the shape both broadcast to (Theano's fill).

    The model's elements are never read, only its shape, so `fill(x, 0.0)` is
    `zeros_like(x)` and gradients use it to spread a value over an operand's shape.
    """

    name = "tx.fill"
    frontend_name = None
    arity = 2
    accepts = ANY

    @staticmethod
    def reference(model: np.ndarray, value: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return np.broadcast_to(value, np.broadcast_shapes(np.shape(model), np.shape(value)))

    @classmethod
    def operand_dtype(cls, operand_types: Sequence[TensorType]) -> DType:
        return operand_types[1].dtype

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [None, g]


def cast_reference(x: np.ndarray, dtype: DType) -> np.ndarray:
    """Float to integer saturates and maps nan to 0 (as JAX and LLVM's fptosi.sat)."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and dtype.is_integer:
        info = np.iinfo(dtype.numpy)
        with np.errstate(invalid="ignore"):
            clipped = np.clip(np.nan_to_num(x, nan=0.0), info.min, info.max)
        # Values near the top of int64 round up in float; clamp after the cast too.
        big = clipped >= float(info.max)
        out = np.where(big, 0, clipped).astype(dtype.numpy)
        return np.where(big, info.max, out).astype(dtype.numpy)
    return x.astype(dtype.numpy)


class Cast(ElementwiseOp):
    """`tx.cast %x : tensor<i32> -> tensor<i64>`; the result type names the target dtype."""

    name = "tx.cast"
    frontend_name = None
    accepts = ANY

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        target = attributes.get("dtype")
        if not isinstance(target, DType):
            raise NotImplementedError("tx.cast takes its dtype from the result type")
        return [operand_types[0].with_dtype(target)]

    @classmethod
    def to(cls, value: Value, dtype: DType, location: Location | None = None) -> Cast:
        return cls([value], [value.type.with_dtype(dtype)], location=location)

    def verify_op(self) -> None:
        # Besides the dtype, a cast may forget or learn static sizes (`3x4` <-> `?x4`, as
        # MLIR's tensor.cast): a value can stand where another static type is expected. A
        # size it learns is checked by the shape plan before the call.
        source, result = self.operands[0].type.shape, self.results[0].type.shape
        if len(source) != len(result) or any(
            d is not None and r is not None and r != d for d, r in zip(source, result, strict=True)
        ):
            raise TcVerificationError(
                f"{self.name} may change the dtype and static sizes it does not contradict, "
                f"not turn {self.operands[0].type} into {self.results[0].type}"
            )

    def evaluate(self, operands: list[np.ndarray]) -> list[np.ndarray]:
        return [cast_reference(operands[0], self.results[0].type.dtype)]

    def local_gradient(self, b: Builder, g: Value) -> list[Value | None]:
        return [b.cast(g, self.operands[0].type.dtype)]
