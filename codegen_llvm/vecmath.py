"""Branch-free math in LLVM IR, so a loop over it vectorises (AVX2: 4 x f64, 8 x f32).

libm calls (`sin`, `expf`, ...) stop the loop vectoriser: at best it splits a vector
call back into one scalar call per lane. The emitters here use only straight-line IR
(fadd/fsub/fmul/fdiv, fcmp + select, float<->int bitcasts, integer add/shift/and and
the `llvm.fabs`/`llvm.copysign` intrinsics), never FMA: separate fmul/fadd are not
contracted without the `contract` flag, so results are bit-identical with or without
FMA hardware.

Accuracy against a higher-precision reference (tests/codegen_llvm/test_vecmath.py;
every float32 input checked once, exhaustively), subnormal results, overflow and
special values included: exp, log, log1p, sin, cos < 1 ulp, expm1 < 1.1 ulp, tanh
< 1.34 ulp, both dtypes. sin/cos are accurate for |x| <= TRIG_LIMIT (2^21 for f64,
2^13 for f32) and set `needs_exact` for larger or non-finite arguments, which the
caller recomputes with libm (so sin(inf) is nan).

Sources of the coefficients (all published minimax fits):
- exp, expm1: SLEEF `xexp`/`xexpf` (sleefdp.c / sleefsp.c), reduction constants from
  fdlibm e_exp.c (double) and SLEEF L2Uf/L2Lf (float);
- log, log1p: fdlibm/musl e_log.c and e_logf.c (Lg1..Lg7, Lg1..Lg4, ln2_hi/ln2_lo);
- tanh: Cephes tanh.c (rational P/Q, double) and tanhf.c (polynomial, float);
- sin, cos: fdlibm/musl k_sin.c and k_cos.c (double), Cephes sinf.c/cosf.c (float);
  the pi/2 split of e_rem_pio2.c (double) and our own float split (hex literals).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir as ll

from ..ir import DType
from .types import F32, F64, I1, I32, I64


def _f32(v: float) -> float:
    """v rounded to the nearest float32 (constants must be exact in the lane type)."""
    return struct.unpack("f", struct.pack("f", v))[0]


@dataclass(frozen=True)
class _Consts:
    """Everything that differs between float and double: one table per dtype."""

    fty: ll.Type
    ity: ll.IntType
    mant_bits: int
    bias: int
    shifter: float  # 1.5 * 2^mant_bits: x + shifter - shifter rounds x to an integer
    min_normal: float
    sqrt_half_bits: int  # bits of ~sqrt(2)/2: log reduces the mantissa to [sqrt(2)/2, sqrt(2))
    subnormal_scale: int  # log scales subnormal inputs by 2^this first
    # exp / expm1
    inv_ln2: float
    ln2_hi: float  # trailing zero bits: n * ln2_hi is exact for every n exp can produce
    ln2_lo: float
    exp_hi: float  # clamps: past them exp is inf / 0 and expm1 is inf / -1
    exp_lo: float
    expm1_lo: float
    exp_poly: tuple[float, ...]  # expm1(s) = s + s^2 * P(s) on |s| <= ln2/2, highest first
    # log (musl: log(1+f) = f - hfsq + s*(hfsq + t1 + t2))
    log_ln2_hi: float
    log_ln2_lo: float
    log_odd: tuple[float, ...]  # t2 = z * P(w)  (Lg1, Lg3, ...), highest first
    log_even: tuple[float, ...]  # t1 = w * P(w) (Lg2, Lg4, ...), highest first
    # tanh for |x| < 0.625: x + x * x^2 * P(x^2) / Q(x^2)   (f32: Q = 1)
    tanh_p: tuple[float, ...]
    tanh_q: tuple[float, ...]
    tanh_clamp: float  # tanh(x) rounds to 1 beyond this
    # sin/cos on |r| <= pi/4: sin = r + r^3 (S1 + z S(z)),  cos = 1 - z/2 + z^2 C(z)
    two_over_pi: float
    pio2: tuple[float, ...]  # exact-product parts of pi/2, then the rounded rest
    trig_limit: float  # largest |x| with accurate sin/cos (n < 2^21 / 2^13, see pio2)
    sin_s1: float
    sin_poly: tuple[float, ...]
    cos_poly: tuple[float, ...]


_TABLES: dict[DType, _Consts] = {
    DType.F64: _Consts(
        fty=F64,
        ity=I64,
        mant_bits=52,
        bias=1023,
        shifter=1.5 * 2.0**52,
        min_normal=2.0**-1022,
        sqrt_half_bits=0x3FE6A09E_00000000,
        subnormal_scale=54,
        inv_ln2=1.44269504088896338700e00,
        ln2_hi=6.93147180369123816490e-01,  # 0x3fe62e42 fee00000 (fdlibm)
        ln2_lo=1.90821492927058770002e-10,  # 0x3dea39ef 35793c76
        exp_hi=710.0,
        exp_lo=-746.0,
        expm1_lo=-50.0,
        exp_poly=(
            2.08860621107283687536341e-09,
            2.51112930892876518610661e-08,
            2.75573911234900471893338e-07,
            2.75572362911928827629423e-06,
            2.4801587159235472998791e-05,
            0.000198412698960509205564975,
            0.00138888888889774492207962,
            0.00833333333331652721664984,
            0.0416666666666665047591422,
            0.166666666666666851703837,
            0.5,
        ),
        log_ln2_hi=6.93147180369123816490e-01,
        log_ln2_lo=1.90821492927058770002e-10,
        log_odd=(
            1.479819860511658591e-01,
            1.818357216161805012e-01,
            2.857142874366239149e-01,
            6.666666666666735130e-01,
        ),
        log_even=(1.531383769920937332e-01, 2.222219843214978396e-01, 3.999999999940941908e-01),
        tanh_p=(-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3),
        tanh_q=(1.0, 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3),
        tanh_clamp=22.0,
        two_over_pi=6.36619772367581382433e-01,
        pio2=(
            1.57079632673412561417e00,  # 0x3ff921fb 54400000: 31 bits
            6.07710050630396597660e-11,  # 0x3dd0b461 1a600000: 32 bits
            2.02226624871116645580e-21,  # 0x3ba3198a 2e000000: 28 bits
            8.47842766036889956997e-32,
        ),  # pi/2 - the three above
        trig_limit=2.0**21,
        sin_s1=-1.66666666666666324348e-01,
        sin_poly=(
            1.58969099521155010221e-10,
            -2.50507602534068634195e-08,
            2.75573137070700676789e-06,
            -1.98412698298579493134e-04,
            8.33333333332248946124e-03,
        ),
        cos_poly=(
            -1.13596475577881948265e-11,
            2.08757232129817482790e-09,
            -2.75573143513906633035e-07,
            2.48015872894767294178e-05,
            -1.38888888888741095749e-03,
            4.16666666666666019037e-02,
        ),
    ),
    DType.F32: _Consts(
        fty=F32,
        ity=I32,
        mant_bits=23,
        bias=127,
        shifter=1.5 * 2.0**23,
        min_normal=2.0**-126,
        sqrt_half_bits=0x3F3504F3,
        subnormal_scale=25,
        inv_ln2=_f32(1.44269504088896338700e00),
        ln2_hi=0.693145751953125,  # 0x3f317200: 15 bits (SLEEF L2Uf)
        ln2_lo=_f32(1.428606765330187045e-06),  # 0x35bfbe8e
        exp_hi=89.0,
        exp_lo=-104.0,
        expm1_lo=-20.0,
        exp_poly=tuple(
            _f32(c)
            for c in (
                0.000198527617612853646278381,
                0.00139304355252534151077271,
                0.00833336077630519866943359,
                0.0416664853692054748535156,
                0.166666671633720397949219,
                0.5,
            )
        ),
        log_ln2_hi=_f32(6.9313812256e-01),
        log_ln2_lo=_f32(9.0580006145e-06),  # 0x3f317180
        log_odd=(float.fromhex("0x91e9ee.0p-25"), float.fromhex("0xaaaaaa.0p-24")),
        log_even=(float.fromhex("0xf89e26.0p-26"), float.fromhex("0xccce13.0p-25")),
        tanh_p=tuple(
            _f32(c)
            for c in (
                -5.70498872745e-3,
                2.06390887954e-2,
                -5.37397155531e-2,
                1.33314422036e-1,
                -3.33332819422e-1,
            )
        ),
        tanh_q=(),
        tanh_clamp=10.0,
        two_over_pi=_f32(6.36619772367581382433e-01),
        # 8 + 11 + 11 + 11 significant bits: n * part is exact for n < 2^13
        pio2=(
            float.fromhex("0x1.92p+0"),
            float.fromhex("0x1.fb4p-12"),
            float.fromhex("0x1.444p-24"),
            float.fromhex("0x1.68cp-39"),
            float.fromhex("0x1.1a6264p-54"),
        ),
        trig_limit=2.0**13,
        sin_s1=_f32(-1.6666654611e-1),
        sin_poly=(_f32(-1.9515295891e-4), _f32(8.3321608736e-3)),
        cos_poly=(_f32(2.443315711809948e-5), _f32(-1.388731625493765e-3), _f32(4.166664568298827e-2)),
    ),
}


class _Emit:
    """A builder with the dtype's constants at hand: keeps the emitters short."""

    def __init__(self, b: ll.IRBuilder, dtype: DType) -> None:
        self.b = b
        self.t = _TABLES[dtype]

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
            acc = self.add(self.mul(acc, x), c)
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
    hi = m.sub(x, m.mul(nf, t.ln2_hi))  # exact: n*ln2_hi is exact and close to x
    s = m.sub(hi, m.mul(nf, t.ln2_lo))
    c = m.sub(m.sub(hi, s), m.mul(nf, t.ln2_lo))  # what rounding s lost
    return s, c, nf, ni


def emit_exp(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> ll.Value:
    m = _Emit(b, dtype)
    x = m.clamp(x, m.t.exp_lo, m.t.exp_hi)  # +-inf land on the clamps, nan passes
    s, _, _, ni = _exp_reduce(m, x)
    y = m.add(m.add(m.mul(m.mul(s, s), m.poly(s, m.t.exp_poly)), s), 1.0)  # SLEEF's order
    return m.ldexp(y, ni)


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
    lo = m.add(err, m.add(p, m.mul(c, m.add(s, 1.0))))  # exp(s + c) - exp(s) ~ c * (1 + s)
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
    r = m.add(m.mul(z, m.poly(w, t.log_odd)), m.mul(w, m.poly(w, t.log_even)))
    hfsq = m.mul(m.mul(f, 0.5), f)
    dk = m.int_to_float(k)
    lo = m.mul(dk, t.log_ln2_lo)
    if correction is not None:
        lo = m.sub(lo, correction)
    res = m.add(m.add(m.sub(m.add(m.mul(s, m.add(hfsq, r)), lo), hfsq), f), m.mul(dk, t.log_ln2_hi))
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
    ratio = m.mul(zz, m.poly(zz, t.tanh_p))
    if t.tanh_q:
        ratio = m.div(ratio, m.poly(zz, t.tanh_q))
    small = m.add(m.mul(z, ratio), z)
    e = emit_exp(b, dtype, m.mul(m.sel(m.cmp(">", z, t.tanh_clamp), t.tanh_clamp, z), 2.0))
    large = m.sub(1.0, m.div(2.0, m.add(e, 1.0)))
    return m.call("copysign", m.sel(m.cmp("<", z, 0.625), small, large), x)


# --- sin, cos ---------------------------------------------------------------------------


def _trig(m: _Emit, x: ll.Value) -> tuple[ll.Value, ll.Value, ll.Value, ll.Value]:
    """(sin(r), cos(r), n & 3, needs_exact) with x = n*pi/2 + r, |r| <= ~pi/4.

    Cody-Waite with pi/2 in parts whose products with n are exact; the subtractions are
    kept exact with two-sums, so r is known to about twice the working precision even
    when x is close to a multiple of pi/2.
    """
    t = m.t
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
    quadrant = m.b.and_(ni, m.i(3))
    needs_exact = m.b.fcmp_unordered(">", m.call("fabs", x), m.k(t.trig_limit))
    return sin_r, cos_r, quadrant, needs_exact


def _by_quadrant(m: _Emit, q: ll.Value, even: ll.Value, odd: ll.Value, negate_mask: int) -> ll.Value:
    """`even` or `odd` by the parity of q, negated where bit q of negate_mask is set."""
    v = m.b.select(m.b.trunc(m.b.and_(q, m.i(1)), I1), odd, even)
    negate = m.b.trunc(m.b.lshr(m.i(negate_mask), q), I1)  # q is 0..3: a shift, not a branch
    return m.b.select(negate, m.b.fneg(v), v)


def emit_sin(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> tuple[ll.Value, ll.Value]:
    m = _Emit(b, dtype)
    s, c, q, needs_exact = _trig(m, x)
    res = _by_quadrant(m, q, s, c, 0b1100)  # q = 0..3: s, c, -s, -c
    return m.sel(m.cmp("==", x, 0.0), x, res), needs_exact  # sin(-0.0) = -0.0


def emit_cos(b: ll.IRBuilder, dtype: DType, x: ll.Value) -> tuple[ll.Value, ll.Value]:
    m = _Emit(b, dtype)
    s, c, q, needs_exact = _trig(m, x)
    return _by_quadrant(m, q, c, s, 0b0110), needs_exact  # q = 0..3: c, -s, -c, s


# Largest |x| for which sin/cos are accurate (beyond it, needs_exact is set).
TRIG_LIMIT: dict[DType, float] = {d: t.trig_limit for d, t in _TABLES.items()}

# op name -> emitter; sin/cos return (value, needs_exact), the others a value.
# libm name -> emitter; the scalar emitter uses these wherever a loop should vectorise.
VECTOR_MATH: dict[str, Callable[..., ll.Value | tuple[ll.Value, ll.Value]]] = {
    "exp": emit_exp,
    "expm1": emit_expm1,
    "log": emit_log,
    "log1p": emit_log1p,
    "tanh": emit_tanh,
    "sin": emit_sin,
    "cos": emit_cos,
}
