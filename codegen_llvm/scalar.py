"""The scalar-body emitter: one element of one op, as LLVM instructions.

Table-driven: SCALAR_EMITTERS maps an op class to a function of
(emitter, dtype, args), built from the registry. Most entries follow from
what the op class declares (ir/ops/elementwise.py): a math-library function
(`math_function`), an LLVM instruction per kind of dtype (`float_instruction`,
`int_instruction`, `bool_instruction`) or a comparison `predicate`; the
irregular ops (division, pow, sign, casts, ...) have small emitter functions
here, in IRREGULAR. Shared by the CPU backend and (later) the PTX one; only
`MathLibrary` knows where transcendental functions come from. Every entry
reproduces the op's numpy reference, edge cases included (integer division
by zero gives 0 instead of trapping, float-to-int casts saturate).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..ir import OP_REGISTRY, DType, Operation, TcCompilationError
from ..ir.ops import elementwise as ew
from . import llvm_ir as ll
from .types import I1, register_type


class MathLibrary:
    """Resolves math functions to LLVM intrinsics or libm symbols for the host."""

    INTRINSICS = {
        "sin",
        "cos",
        "exp",
        "exp2",
        "log",
        "log2",
        "log10",
        "sqrt",
        "pow",
        "fabs",
        "floor",
        "ceil",
        "round",
        "roundeven",
        "trunc",
        "copysign",
        "fma",
    }

    def __init__(self, module: ll.Module) -> None:
        self.module = module

    def call(self, builder: ll.IRBuilder, name: str, dtype: DType, args: list[ll.Value]) -> ll.Value:
        fty = register_type(dtype)
        if name in self.INTRINSICS:
            symbol = f"llvm.{name}.{'f64' if dtype is DType.F64 else 'f32'}"
        else:
            symbol = name + ("f" if dtype is DType.F32 else "")
        fn = self.module.globals.get(symbol)
        if fn is None:
            fn = ll.Function(self.module, ll.FunctionType(fty, [fty] * len(args)), symbol)
        return builder.call(fn, args)


class ScalarEmitter:
    """Emits the body of a kernel element by element.

    With `outline_math`, the vectorisable math is a call to one shared function
    per (function, dtype) instead of forty inline instructions per use (see
    `vector_math_function`): a kernel of hundreds of transcendental ops then
    costs LLVM a call each, not a long body it optimises in superlinear time.
    """

    def __init__(
        self, builder: ll.IRBuilder, math: MathLibrary, vector_math: bool = False, outline_math: bool = False
    ) -> None:
        self.b = builder
        self.math = math
        self.vector_math = vector_math  # polynomial math that vectorises, or libm
        self.outline_math = outline_math
        self.inexact: ll.Value | None = None  # OR of the fast math's "recompute exactly" flags

    def emit(self, op: Operation, args: list[ll.Value]) -> ll.Value:
        emit = scalar_emitter(type(op))
        if emit is None:
            raise TcCompilationError(f"no scalar lowering for '{op.name}' at {op.location}")
        dtype = op.operands[0].type.dtype if op.operands else op.results[0].type.dtype
        if isinstance(op, ew.Cast):  # the one op whose body needs two dtypes
            return emit_cast(self, dtype, op.results[0].type.dtype, args[0])
        return emit(self, dtype, args)

    def const(self, dtype: DType, value: float | int | bool) -> ll.Constant:
        ty = register_type(dtype)
        if dtype.is_float:
            return ll.Constant(ty, float(value))
        return ll.Constant(ty, int(value))

    def call(self, name: str, dtype: DType, *args: ll.Value) -> ll.Value:
        if not self.vector_math:
            return self.math.call(self.b, name, dtype, list(args))
        # (the vectorisable math, 0.8 ms of imports: when a kernel's loop asks for it)
        from .vecmath import VECTOR_MATH
        from .vector_calls import OUTLINABLE_MATH, vector_math_function

        fast = VECTOR_MATH.get(name)
        if fast is None:
            return self.math.call(self.b, name, dtype, list(args))
        if self.outline_math and name in OUTLINABLE_MATH:
            return self.b.call(vector_math_function(self.b.module, name, dtype), list(args))
        value = fast(self.b, dtype, *args)
        if isinstance(value, tuple):
            value, inexact = value
            self.inexact = inexact if self.inexact is None else self.b.or_(self.inexact, inexact)
        return value

    # comparisons, signed or not as the dtype says
    def lt(self, dtype: DType, a: ll.Value, b: ll.Value) -> ll.Value:
        return self.cmp(dtype, "<", a, b)

    def cmp(self, dtype: DType, pred: str, a: ll.Value, b: ll.Value) -> ll.Value:
        if dtype.is_float:
            # ordered, except != which is true when either side is nan (numpy)
            return self.b.fcmp_unordered(pred, a, b) if pred == "!=" else self.b.fcmp_ordered(pred, a, b)
        if dtype.is_signed:
            return self.b.icmp_signed(pred, a, b)
        return self.b.icmp_unsigned(pred, a, b)

    def isnan(self, a: ll.Value) -> ll.Value:
        return self.b.fcmp_unordered("uno", a, a)


Emitter = Callable[[ScalarEmitter, DType, list[ll.Value]], ll.Value]

# The math functions whose fast (vectorised) version may ask for an exact recomputation.
EXACT_FALLBACK_MATH = frozenset({"sin", "cos"})
# The rounding functions: the identity on an integer (numpy 2 keeps the integer dtype).
IDENTITY_ON_INTEGERS = frozenset({"floor", "ceil", "round", "roundeven", "trunc"})
# LLVM instructions the IR builder spells differently (Python keywords).
_BUILDER_METHODS = {"and": "and_", "or": "or_", "not": "not_"}


def _instruction(float_op: str | None, int_op: str | None, bool_op: str | None = None) -> Emitter:
    def emit(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
        name = float_op if dtype.is_float else (bool_op if dtype.is_bool and bool_op else int_op)
        if name is None:
            raise TcCompilationError(f"no instruction for {dtype} (from {float_op}, {int_op}, {bool_op})")
        return getattr(e.b, _BUILDER_METHODS.get(name, name))(*args)

    return emit


def _math(name: str) -> Emitter:
    def emit(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
        if dtype.is_float:
            return e.call(name, dtype, *args)
        if name in IDENTITY_ON_INTEGERS:
            return args[0]
        raise TcCompilationError(f"the math function {name} is not defined on {dtype}")

    return emit


def _compare(pred: str) -> Emitter:
    return lambda e, dtype, args: e.cmp(dtype, pred, *args)


def _scale(factor: float) -> Emitter:
    return lambda e, dtype, args: e.b.fmul(args[0], e.const(dtype, factor))


def emit_abs(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    (x,) = args
    if dtype.is_float:
        return e.call("fabs", dtype, x)
    if not dtype.is_signed:
        return x
    return e.b.select(e.lt(dtype, x, e.const(dtype, 0)), e.b.neg(x), x)


def emit_sign(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    (x,) = args
    zero, one = e.const(dtype, 0), e.const(dtype, 1)
    positive = e.cmp(dtype, ">", x, zero)
    if dtype.is_float:
        # numpy: x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x (so nan stays nan, -0.0 gives +0.0)
        is_zero = e.b.fcmp_ordered("==", x, zero)
        rest = e.b.select(is_zero, zero, x)
        rest = e.b.select(e.lt(dtype, x, zero), e.const(dtype, -1), rest)
        return e.b.select(positive, one, rest)
    if not dtype.is_signed:
        return e.b.zext(positive, register_type(dtype))
    return e.b.sub(
        e.b.zext(positive, register_type(dtype)), e.b.zext(e.lt(dtype, x, zero), register_type(dtype))
    )


def emit_sqr(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    return _instruction("fmul", "mul", "and")(e, dtype, [args[0], args[0]])


def emit_sigmoid(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    if e.vector_math:  # one exp that cannot overflow (vecmath.emit_sigmoid)
        return e.call("sigmoid", dtype, args[0])
    one = e.const(dtype, 1.0)
    return e.b.fdiv(one, e.b.fadd(one, e.call("exp", dtype, e.b.fneg(args[0]))))


def emit_softplus(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    (x,) = args
    tail = e.call("log1p", dtype, e.call("exp", dtype, e.b.fneg(e.call("fabs", dtype, x))))
    return e.b.fadd(emit_maximum(e, dtype, [x, e.const(dtype, 0.0)]), tail)


def emit_maximum(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    a, b = args
    if dtype.is_bool:
        return e.b.or_(a, b)
    take_a = e.cmp(dtype, ">", a, b)
    if dtype.is_float:  # numpy: (a > b || isnan(a)) ? a : b, so nan propagates from either side
        take_a = e.b.or_(take_a, e.isnan(a))
    return e.b.select(take_a, a, b)


def emit_minimum(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    a, b = args
    if dtype.is_bool:
        return e.b.and_(a, b)
    take_a = e.cmp(dtype, "<", a, b)
    if dtype.is_float:
        take_a = e.b.or_(take_a, e.isnan(a))
    return e.b.select(take_a, a, b)


def _float_divmod(e: ScalarEmitter, dtype: DType, a: ll.Value, b: ll.Value) -> tuple[ll.Value, ll.Value]:
    """numpy's npy_divmod: floor quotient and modulo that agree with Python's."""
    zero, one = e.const(dtype, 0.0), e.const(dtype, 1.0)
    mod = e.b.frem(a, b)  # fmod semantics
    div = e.b.fdiv(e.b.fsub(a, mod), b)
    mod_nonzero = e.b.fcmp_unordered("!=", mod, zero)
    signs_differ = e.b.icmp_unsigned("!=", e.lt(dtype, b, zero), e.lt(dtype, mod, zero))
    adjust = e.b.and_(mod_nonzero, signs_differ)
    mod = e.b.select(adjust, e.b.fadd(mod, b), mod)
    div = e.b.select(adjust, e.b.fsub(div, one), div)
    mod = e.b.select(mod_nonzero, mod, e.call("copysign", dtype, zero, b))
    floordiv = e.call("floor", dtype, div)
    half = e.const(dtype, 0.5)
    floordiv = e.b.select(
        e.b.fcmp_ordered(">", e.b.fsub(div, floordiv), half), e.b.fadd(floordiv, one), floordiv
    )
    div_nonzero = e.b.fcmp_unordered("!=", div, zero)
    floordiv = e.b.select(div_nonzero, floordiv, e.call("copysign", dtype, zero, e.b.fdiv(a, b)))
    b_zero = e.b.fcmp_ordered("==", b, zero)
    floordiv = e.b.select(b_zero, e.b.fdiv(a, b), floordiv)
    return floordiv, mod


def _int_divmod(e: ScalarEmitter, dtype: DType, a: ll.Value, b: ll.Value) -> tuple[ll.Value, ll.Value]:
    """Floor division and modulo without traps: x // 0 == x % 0 == 0, MIN // -1 wraps."""
    zero, one = e.const(dtype, 0), e.const(dtype, 1)
    b_zero = e.b.icmp_unsigned("==", b, zero)
    if not dtype.is_signed:
        safe = e.b.select(b_zero, one, b)
        return (e.b.select(b_zero, zero, e.b.udiv(a, safe)), e.b.select(b_zero, zero, e.b.urem(a, safe)))
    minus_one = e.b.icmp_signed("==", b, e.const(dtype, -1))
    bad = e.b.or_(b_zero, minus_one)
    safe = e.b.select(bad, one, b)
    quot, rem = e.b.sdiv(a, safe), e.b.srem(a, safe)
    adjust = e.b.and_(
        e.b.icmp_signed("!=", rem, zero),
        e.b.icmp_unsigned("!=", e.lt(dtype, rem, zero), e.lt(dtype, safe, zero)),
    )
    quot = e.b.select(adjust, e.b.sub(quot, one), quot)
    rem = e.b.select(adjust, e.b.add(rem, safe), rem)
    quot = e.b.select(minus_one, e.b.neg(a), e.b.select(b_zero, zero, quot))
    return quot, e.b.select(bad, zero, rem)


def emit_floordiv(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    return (_float_divmod if dtype.is_float else _int_divmod)(e, dtype, *args)[0]


def emit_mod(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    return (_float_divmod if dtype.is_float else _int_divmod)(e, dtype, *args)[1]


def emit_pow(e: ScalarEmitter, dtype: DType, args: list[ll.Value]) -> ll.Value:
    base, exponent = args
    if dtype.is_float:
        return e.call("pow", dtype, base, exponent)
    # Square-and-multiply over every exponent bit, with selects so the loop vectorises. The
    # squares stop once no bit is left: a select on the exponent, so that for a base that is
    # the same for every element LLVM does not fold the chain into base**(2**63), a product
    # its scalar evolution expands term by term (compiling hung).
    result, square, bits = e.const(dtype, 1), base, exponent
    one, zero = e.const(dtype, 1), e.const(dtype, 0)
    for _ in range(dtype.bits):
        odd = e.b.trunc(e.b.and_(bits, one), I1)
        result = e.b.select(odd, e.b.mul(result, square), result)
        bits = e.b.lshr(bits, one)
        square = e.b.select(e.b.icmp_unsigned("!=", bits, zero), e.b.mul(square, square), square)
    if not dtype.is_signed:
        return result
    # A negative exponent truncates 1/base**-e: 1 for base 1, +-1 for base -1, else 0.
    negative = e.lt(dtype, exponent, e.const(dtype, 0))
    is_one = e.b.icmp_signed("==", base, one)
    is_minus_one = e.b.icmp_signed("==", base, e.const(dtype, -1))
    even = e.b.icmp_unsigned("==", e.b.and_(exponent, one), e.const(dtype, 0))
    minus_one_power = e.b.select(even, one, e.const(dtype, -1))
    truncated = e.b.select(is_one, one, e.b.select(is_minus_one, minus_one_power, e.const(dtype, 0)))
    return e.b.select(negative, truncated, result)


def emit_cast(e: ScalarEmitter, source: DType, target: DType, x: ll.Value) -> ll.Value:
    b = e.b
    ty = register_type(target)
    if source is target:
        return x
    if target is DType.BOOL:
        if source.is_float:
            return b.fcmp_unordered("!=", x, e.const(source, 0.0))
        return b.icmp_unsigned("!=", x, e.const(source, 0))
    if source.is_float and target.is_float:
        return b.fpext(x, ty) if target.bits > source.bits else b.fptrunc(x, ty)
    if source.is_float:
        # Saturating conversions: nan -> 0, out of range -> the nearest bound, never poison.
        kind = "fptosi" if target.is_signed else "fptoui"
        name = f"llvm.{kind}.sat.i{target.bits}.{'f64' if source is DType.F64 else 'f32'}"
        fn = b.module.globals.get(name) or ll.Function(
            b.module, ll.FunctionType(ty, [register_type(source)]), name
        )
        return b.call(fn, [x])
    if target.is_float:
        signed = source.is_signed and not source.is_bool
        return b.sitofp(x, ty) if signed else b.uitofp(x, ty)
    if target.bits > source.bits:
        return b.sext(x, ty) if source.is_signed and not source.is_bool else b.zext(x, ty)
    if target.bits < source.bits:
        return b.trunc(x, ty)
    return x  # i8 <-> u8: same bits


# The ops whose element does not follow from the data on their class.
IRREGULAR: dict[type[Operation], Emitter] = {
    ew.FloorDiv: emit_floordiv,
    ew.Mod: emit_mod,
    ew.Pow: emit_pow,
    ew.Maximum: emit_maximum,
    ew.Minimum: emit_minimum,
    ew.Select: lambda e, dtype, args: e.b.select(*args),
    ew.Fill: lambda e, dtype, args: args[1],
    ew.Cast: lambda e, dtype, args: args[0],  # handled in ScalarEmitter.emit (needs both dtypes)
    ew.Abs: emit_abs,
    ew.Sign: emit_sign,
    ew.Sqr: emit_sqr,
    ew.Sigmoid: emit_sigmoid,
    ew.Softplus: emit_softplus,
    ew.Deg2rad: _scale(math.pi / 180.0),
    ew.Rad2deg: _scale(180.0 / math.pi),
}


def declared_emitter(op_class: type[Operation]) -> Emitter | None:
    """The scalar body an op class declares as data (see ElementwiseOp), if it declares one."""
    math_function: str | None = getattr(op_class, "math_function", None)
    if math_function is not None:
        return _math(math_function)
    predicate: str | None = getattr(op_class, "predicate", None)
    if predicate is not None:
        return _compare(predicate)
    instructions = [getattr(op_class, f"{kind}_instruction", None) for kind in ("float", "int", "bool")]
    if any(instructions):
        return _instruction(*instructions)
    return None


def scalar_emitter(op_class: type[Operation]) -> Emitter | None:
    """How `op_class` computes one element; None for an op that is not elementwise."""
    emit = SCALAR_EMITTERS.get(op_class)
    if emit is None and (emit := declared_emitter(op_class)) is not None:
        SCALAR_EMITTERS[op_class] = emit  # an op registered after this module was imported
    return emit


def _table() -> dict[type[Operation], Emitter]:
    table: dict[type[Operation], Emitter] = {}
    for op_class in OP_REGISTRY.values():
        emit = IRREGULAR.get(op_class) or declared_emitter(op_class)
        if emit is not None:
            table[op_class] = emit
    return table


SCALAR_EMITTERS: dict[type[Operation], Emitter] = _table()


def needs_fallback(op: Operation) -> bool:
    """Whether the fast body of a kernel containing `op` may need the exact one."""
    return getattr(type(op), "math_function", None) in EXACT_FALLBACK_MATH
