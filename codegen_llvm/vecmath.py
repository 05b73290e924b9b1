"""Branch-free math in LLVM IR, so a loop over it vectorises (AVX2: 4 x f64, 8 x f32).

libm calls (`sin`, `expf`, ...) stop the loop vectoriser: at best it splits a vector
call back into one scalar call per lane. The emitters here use only straight-line IR
(fadd/fsub/fmul/fdiv, fcmp + select, float<->int bitcasts, integer add/shift/and and
the `llvm.fabs`/`llvm.copysign`/`llvm.fma` intrinsics). Polynomials and argument
reductions use explicit `llvm.fma`, never the `contract` flag: a fused multiply-add is
one IEEE operation, an FMA instruction where the CPU (or GPU) has one and libm's
correctly rounded `fma()` where it has not, so the results are bit-identical on every
target and at every optimisation level. With FMA hardware it halves the instructions
(alternating runs, 2^22 float64: tanh 9.8-10.9 -> 6.1-8.0 ms, an activation of sigmoid
and tanh 14.6-16.0 -> 10.5-13.2 ms).

Accuracy against a higher-precision reference (tests/codegen_llvm/test_vecmath.py; checked
once on every 97th float32 and 4M random inputs of each dtype), subnormal results, overflow
and special values included: exp, log, log1p, sin, cos < 1 ulp, expm1 < 1.1 ulp, tanh
< 1.34 ulp, sigmoid < 2.3 ulp, both dtypes. sin/cos are accurate for |x| <= TRIG_LIMIT (2^21 for f64,
2^13 for f32) and set `needs_exact` for larger or non-finite arguments, which the
caller recomputes with libm (so sin(inf) is nan). The coefficients are in vecmath_tables.py.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import DType
from . import llvm_ir as ll
from .types import F32, F64, I1
from .vecmath_tables import F64_TRIG, TABLES, WIDE_TRIG


class _Emit:
    """A builder with the dtype's constants at hand: keeps the emitters short."""

    def __init__(self, b: ll.IRBuilder, dtype: DType) -> None:
        self.b = b
        self.t = TABLES[dtype]

    # constants and arithmetic
    def k(self, v: float) -> ll.Constant:
        return ll.Constant(self.t.fty, v)

    def i(self, v: int) -> ll.Constant:
        return ll.Constant(self.t.ity, v)

    def _f(self, v: ll.Value | float) -> ll.Value:
        return self.k(v) if isinstance(v, (int, float)) else v

    def add(self, a: ll.Value | float, c: ll.Value | float) -> ll.Value:
        return self.b.fadd(self._f(a), self._f(c))

    def sub(self, a: ll.Value | float, c: ll.Value | float) -> ll.Value:
        return self.b.fsub(self._f(a), self._f(c))

    def mul(self, a: ll.Value | float, c: ll.Value | float) -> ll.Value:
        return self.b.fmul(self._f(a), self._f(c))

    def div(self, a: ll.Value | float, c: ll.Value | float) -> ll.Value:
        return self.b.fdiv(self._f(a), self._f(c))

    def fma(self, a: ll.Value | float, c: ll.Value | float, d: ll.Value | float) -> ll.Value:
        """a*c + d rounded once (llvm.fma: the same result on every target, a libm call
        where the hardware lacks the instruction)."""
        return self.call("fma", self._f(a), self._f(c), self._f(d))

    def cmp(self, pred: str, a: ll.Value, c: ll.Value | float) -> ll.Value:
        """Ordered comparison: false when a is nan, so selects on it let nan through."""
        return self.b.fcmp_ordered(pred, a, self._f(c))

    def sel(self, cond: ll.Value, a: ll.Value | float, c: ll.Value | float) -> ll.Value:
        return self.b.select(cond, self._f(a), self._f(c))

    def clamp(self, x: ll.Value, lo: float, hi: float) -> ll.Value:
        return self.sel(self.cmp(">", x, hi), hi, self.sel(self.cmp("<", x, lo), lo, x))

    def call(self, name: str, *args: ll.Value) -> ll.Value:
        # Declared by exact name: llvmlite's declare_intrinsic mis-declares copysign.
        suffix = "f64" if self.t.fty is F64 else "f32"
        full = f"llvm.{name}.{suffix}"
        fn = self.b.module.globals.get(full)
        if fn is None:
            fn = ll.Function(self.b.module, ll.FunctionType(self.t.fty, [self.t.fty] * len(args)), full)
        return self.b.call(fn, list(args))

    def poly(self, x: ll.Value, coeffs: tuple[float, ...]) -> ll.Value:
        """Horner, highest degree first."""
        acc: ll.Value = self.k(coeffs[0])
        for c in coeffs[1:]:
            acc = self.fma(acc, x, c)
        return acc

    # integer views
    def bits(self, x: ll.Value) -> ll.Value:
        return self.b.bitcast(x, self.t.ity)

    def float_of_bits(self, i: ll.Value) -> ll.Value:
        return self.b.bitcast(i, self.t.fty)

    def round_int(self, x: ll.Value) -> tuple[ll.Value, ll.Value]:
        """(rint(x) as float, as int) for |x| < 2^(mant_bits-1), without fptosi: adding
        1.5*2^p rounds to an integer held in the low mantissa bits (no poison on nan/inf)."""
        z = self.add(x, self.t.shifter)
        shifter_bits = self.bits(self.k(self.t.shifter))
        return self.sub(z, self.t.shifter), self.b.sub(self.bits(z), shifter_bits)

    def int_to_float(self, n: ll.Value) -> ll.Value:
        """The inverse trick for small integers (no sitofp: AVX2 lacks i64 -> f64)."""
        z = self.float_of_bits(self.b.add(n, self.bits(self.k(self.t.shifter))))
        return self.sub(z, self.t.shifter)

    def pow2(self, n: ll.Value) -> ll.Value:
        """2^n for n in the normal exponent range."""
        t = self.t
        return self.float_of_bits(self.b.shl(self.b.add(n, self.i(t.bias)), self.i(t.mant_bits)))

    def ldexp(self, y: ll.Value, n: ll.Value) -> ll.Value:
        """y * 2^n in two exact steps, so results that overflow or are subnormal round once."""
        half = self.b.ashr(n, self.i(1))
        return self.mul(self.mul(y, self.pow2(half)), self.pow2(self.b.sub(n, half)))

    def two_sum(self, a: ll.Value, c: ll.Value) -> tuple[ll.Value, ll.Value]:
        """Knuth: s + e == a + c exactly, s = fl(a + c), whatever the magnitudes."""
        s = self.add(a, c)
        cc = self.sub(s, a)
        return s, self.add(self.sub(a, self.sub(s, cc)), self.sub(c, cc))


# --- exp, expm1 -------------------------------------------------------------------------


def _exp_reduce(m: _Emit, x: ll.Value) -> tuple[ll.Value, ll.Value, ll.Value, ll.Value]:
    """x = n*ln2 + s + c (Cody-Waite, |s| <= ln2/2): returns (s, c, n as float, n as int)."""
    t = m.t
    nf, ni = m.round_int(m.mul(x, t.inv_ln2))
    hi = m.fma(nf, -t.ln2_hi, x)  # exact: n*ln2_hi is exact and close to x
    s = m.fma(nf, -t.ln2_lo, hi)
    c = m.fma(nf, -t.ln2_lo, m.sub(hi, s))  # what rounding s lost
    return s, c, nf, ni


def emit_exp(b: ll.IRBuilder, dtype: DType, x: ll.Value, moderate: bool = False) -> ll.Value:
    """exp(x); `moderate`: the caller guarantees 0 <= x <= 64 or nan (tanh's argument), so
    neither the clamps nor the two-step scaling that overflow and subnormal results need
    are emitted (2^22 float64 tanh 4.95-5.10 -> 4.25-4.55 ms, 2^24 float32 8.8-9.0 ->
    6.7-8.4 ms, best of 20)."""
    m = _Emit(b, dtype)
    if not moderate:
        x = m.clamp(x, m.t.exp_lo, m.t.exp_hi)  # +-inf land on the clamps, nan passes
    s, _, _, ni = _exp_reduce(m, x)
    y = _exp_poly(m, s)
    return m.mul(y, m.pow2(ni)) if moderate else m.ldexp(y, ni)


def _exp_poly(m: _Emit, s: ll.Value) -> ll.Value:
    """exp(s) for |s| <= ln2/2: 1 + s + s^2 P(s), summed in SLEEF's order."""
    return m.add(m.add(m.mul(m.mul(s, s), m.poly(s, m.t.exp_poly)), s), 1.0)


def emit_expm1(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> ll.Value:
    """expm1(x) = 2^n * ((1 - 2^-n) + expm1(s)), the sum kept exact as far as it can be."""
    m = _Emit(b, dtype)
    xc = m.clamp(x, m.t.expm1_lo, m.t.exp_hi)
    s, c, _, ni = _exp_reduce(m, xc)
    p = m.mul(m.mul(s, s), m.poly(s, m.t.exp_poly))  # expm1(s) = s + p
    # 1 - 2^-n: exact for |n| <= mantissa bits, else rounding it is harmless; n clamped so
    # that 2^-n stays a normal number.
    neg = m.b.sub(m.i(0), ni)
    neg = m.b.select(m.b.icmp_signed("<", neg, m.i(-100)), m.i(-100), neg)
    one_minus = m.sub(1.0, m.pow2(neg))
    hi = m.add(one_minus, s)  # Fast2Sum: |1 - 2^-n| >= |s| or 1 - 2^-n == 0
    err = m.add(m.sub(one_minus, hi), s)
    lo = m.add(err, m.fma(c, m.add(s, 1.0), p))  # exp(s + c) - exp(s) ~ c * (1 + s)
    res = m.ldexp(m.add(hi, lo), ni)
    return m.sel(m.cmp("==", x, 0.0), x, res)  # -0.0 stays -0.0


# --- log, log1p -------------------------------------------------------------------------


def _log(m: _Emit, x: ll.Value, correction: ll.Value | None = None) -> ll.Value:
    """musl's log: x = 2^k (1+f), 1+f in [sqrt(2)/2, sqrt(2)); returns log(x) - correction."""
    t = m.t
    subnormal = m.cmp("<", x, t.min_normal)
    xs = m.sel(subnormal, m.mul(x, 2.0**t.subnormal_scale), x)
    one_bits = t.bias << t.mant_bits
    ix = m.b.add(m.bits(xs), m.i(one_bits - t.sqrt_half_bits))
    k = m.b.sub(m.b.lshr(ix, m.i(t.mant_bits)), m.i(t.bias))
    k = m.b.sub(k, m.b.select(subnormal, m.i(t.subnormal_scale), m.i(0)))
    mant = m.b.add(m.b.and_(ix, m.i((1 << t.mant_bits) - 1)), m.i(t.sqrt_half_bits))
    f = m.sub(m.float_of_bits(mant), 1.0)
    s = m.div(f, m.add(f, 2.0))
    z = m.mul(s, s)
    w = m.mul(z, z)
    r = m.fma(z, m.poly(w, t.log_odd), m.mul(w, m.poly(w, t.log_even)))
    hfsq = m.mul(m.mul(f, 0.5), f)
    dk = m.int_to_float(k)
    lo = m.mul(dk, t.log_ln2_lo)
    if correction is not None:
        lo = m.sub(lo, correction)
    res = m.fma(dk, t.log_ln2_hi, m.add(m.sub(m.fma(s, m.add(hfsq, r), lo), hfsq), f))
    inf = float("inf")
    res = m.sel(m.cmp("==", x, inf), inf, res)
    res = m.sel(m.cmp("==", x, 0.0), -inf, res)
    return m.sel(m.b.fcmp_unordered("<", x, m.k(0.0)), float("nan"), res)  # x < 0 or nan


def emit_log(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> ll.Value:
    return _log(_Emit(b, dtype), x)


def emit_log1p(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> ll.Value:
    """log1p(x) = log(u) - ((u - 1) - x)/u with u = fl(1 + x): the quotient is what
    rounding 1 + x lost, to first order (u - 1 is exact wherever it matters)."""
    m = _Emit(b, dtype)
    u = m.add(x, 1.0)
    res = _log(m, u, m.div(m.sub(m.sub(u, 1.0), x), u))
    return m.sel(m.cmp("==", x, 0.0), x, res)  # -0.0 stays -0.0


# --- tanh -------------------------------------------------------------------------------


def emit_tanh(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> ll.Value:
    """Cephes: an odd polynomial/rational below 0.625 (no cancellation near 0), else
    1 - 2/(exp(2|x|) + 1); computed on |x|, the sign put back with copysign."""
    m = _Emit(b, dtype)
    t = m.t
    z = m.call("fabs", x)
    zz = m.mul(z, z)
    is_small = m.cmp("<", z, 0.625)
    e = emit_exp(b, dtype, m.mul(m.sel(m.cmp(">", z, t.tanh_clamp), t.tanh_clamp, z), 2.0), moderate=True)
    # The small branch's P/Q and the large branch's 2/(e + 1) share one division.
    num, den = m.mul(zz, m.poly(zz, t.tanh_p)), m.add(e, 1.0)
    if t.tanh_q:
        q = m.div(m.sel(is_small, num, 2.0), m.sel(is_small, m.poly(zz, t.tanh_q), den))
        ratio, two_over = q, q
    else:
        ratio, two_over = num, m.div(2.0, den)
    return m.call("copysign", m.sel(is_small, m.fma(z, ratio, z), m.sub(1.0, two_over)), x)


# --- sigmoid ----------------------------------------------------------------------------


def emit_sigmoid(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> ll.Value:
    """1 / (1 + exp(-x)) from t = exp(-|x|) <= 1: 1/(1 + t) for x >= 0, t/(1 + t) below, so
    exp never overflows. Where t is subnormal (|x| > sigmoid_far) it is scaled by 2^-K after
    2^(n + K), one select-guarded step instead of exp's two: < 2.3 ulp, subnormals included."""
    m = _Emit(b, dtype)
    t_ = m.t
    z = m.call("fabs", x)
    z = m.sel(m.cmp(">", z, -t_.exp_lo), -t_.exp_lo, z)  # past it t rounds to 0; nan passes
    far = m.cmp(">", z, t_.sigmoid_far)
    s, _, _, ni = _exp_reduce(m, m.b.fneg(z))
    scale = m.pow2(m.b.add(ni, m.b.select(far, m.i(t_.sigmoid_shift), m.i(0))))
    t = m.mul(m.mul(_exp_poly(m, s), scale), m.sel(far, 2.0**-t_.sigmoid_shift, 1.0))
    return m.div(m.sel(m.cmp("<", x, 0.0), t, 1.0), m.add(t, 1.0))


# --- sin, cos ---------------------------------------------------------------------------


def _trig(m: _Emit, x: ll.Value) -> tuple[_Emit, ll.Value, ll.Value, ll.Value, ll.Value]:
    """(w, sin(r), cos(r), n & 3, needs_exact) with x = n*pi/2 + r, |r| <= ~pi/4, the three
    values in w's precision: float64 for both dtypes (float32's in _trig_in_f64)."""
    needs_exact = m.b.fcmp_unordered(">", m.call("fabs", x), m.k(m.t.trig_limit))
    if m.t.fty is F32:
        return (*_trig_in_f64(m, x), needs_exact)
    return (m, *_trig_f64(m, x), needs_exact)


def _trig_f64(m: _Emit, x: ll.Value) -> tuple[ll.Value, ll.Value, ll.Value]:
    """Cody-Waite with pi/2 in parts whose products with n are exact; the subtractions are
    kept exact with two-sums, so r is known to about twice the working precision even
    when x is close to a multiple of pi/2.
    """
    t = F64_TRIG
    nf, ni = m.round_int(m.mul(x, t.two_over_pi))
    hi = m.sub(x, m.mul(nf, t.pio2[0]))  # exact (Sterbenz)
    hi, lo = m.two_sum(hi, m.mul(nf, -t.pio2[1]))
    for part in t.pio2[2:-1]:
        hi, e = m.two_sum(hi, m.mul(nf, -part))
        lo = m.add(lo, e)
    lo = m.sub(lo, m.mul(nf, t.pio2[-1]))
    r, rr = m.two_sum(hi, lo)  # r + rr: the reduced argument, |rr| <= ulp(r)/2
    z = m.mul(r, r)
    # fdlibm __kernel_sin: r + r^3 S1 + r^5 S(z), with rr's first-order terms
    v = m.mul(z, r)
    sin_tail = m.sub(m.mul(z, m.sub(m.mul(rr, 0.5), m.mul(v, m.poly(z, t.sin_poly)))), rr)
    sin_r = m.sub(r, m.sub(sin_tail, m.mul(v, t.sin_s1)))
    # fdlibm __kernel_cos: 1 - z/2 recovered exactly, plus z^2 C(z) - r*rr
    hz = m.mul(z, 0.5)
    w = m.sub(1.0, hz)
    corr = m.sub(m.mul(m.mul(z, z), m.poly(z, t.cos_poly)), m.mul(r, rr))
    cos_r = m.add(w, m.add(m.sub(m.sub(1.0, w), hz), corr))
    return sin_r, cos_r, m.b.and_(ni, m.i(3))


def _trig_in_f64(m: _Emit, x: ll.Value) -> tuple[_Emit, ll.Value, ll.Value, ll.Value]:
    """float32 sin/cos through float64: two FMAs reduce the widened argument as exactly as
    the float32 split's two-sums did, and short polynomials are far below a float32 ulp
    (vecmath_tables.WIDE_TRIG). Half the lanes per vector for half the operations (about 12
    instructions an element either way, AVX2), but shorter chains: 2^24 float32 sines 11.7
    -> 10.8 ms, cosines 11.5 -> 9.7 ms (the old and this code in one process), the largest
    error 0.79 -> 0.53 ulp."""
    w, t = _Emit(m.b, DType.F64), WIDE_TRIG
    xd = m.b.fpext(x, F64)
    nf, ni = w.round_int(w.mul(xd, t.two_over_pi))
    r = w.fma(nf, -t.pio2_lo, w.fma(nf, -t.pio2_hi, xd))
    z = w.mul(r, r)
    sin_r = w.fma(w.mul(r, z), w.poly(z, t.sin_poly), r)
    cos_r = w.fma(z, w.poly(z, t.cos_poly), 1.0)
    return w, sin_r, cos_r, w.b.and_(ni, w.i(3))


def _by_quadrant(m: _Emit, q: ll.Value, even: ll.Value, odd: ll.Value, negate_mask: int) -> ll.Value:
    """`even` or `odd` by the parity of q, negated where bit q of negate_mask is set."""
    v = m.b.select(m.b.trunc(m.b.and_(q, m.i(1)), I1), odd, even)
    negate = m.b.trunc(m.b.lshr(m.i(negate_mask), q), I1)  # q is 0..3: a shift, not a branch
    return m.b.select(negate, m.b.fneg(v), v)


def emit_sin(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> tuple[ll.Value, ll.Value]:
    m = _Emit(b, dtype)
    w, s, c, q, needs_exact = _trig(m, x)
    res = _narrow(m, w, _by_quadrant(w, q, s, c, 0b1100))  # q = 0..3: s, c, -s, -c
    return m.sel(m.cmp("==", x, 0.0), x, res), needs_exact  # sin(-0.0) = -0.0


def emit_cos(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> tuple[ll.Value, ll.Value]:
    m = _Emit(b, dtype)
    w, s, c, q, needs_exact = _trig(m, x)
    return _narrow(m, w, _by_quadrant(w, q, c, s, 0b0110)), needs_exact  # q = 0..3: c, -s, -c, s


def _narrow(m: _Emit, w: _Emit, value: ll.Value) -> ll.Value:
    """`value`, computed in w's precision, rounded once to m's."""
    return value if w.t.fty is m.t.fty else m.b.fptrunc(value, m.t.fty)


# Largest |x| for which sin/cos are accurate (beyond it, needs_exact is set).
TRIG_LIMIT: dict[DType, float] = {d: t.trig_limit for d, t in TABLES.items()}

# op name -> emitter; sin/cos return (value, needs_exact), the others a value.
# libm name -> emitter; the scalar emitter uses these wherever a loop should vectorise.
VECTOR_MATH: dict[str, Callable[..., ll.Value | tuple[ll.Value, ll.Value]]] = {
    "exp": emit_exp,
    "expm1": emit_expm1,
    "log": emit_log,
    "log1p": emit_log1p,
    "tanh": emit_tanh,
    "sigmoid": emit_sigmoid,
    "sin": emit_sin,
    "cos": emit_cos,
}
