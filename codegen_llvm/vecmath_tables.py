"""The constants of vecmath.py's emitters, one table per float dtype.

Sources of the coefficients (all published minimax fits):
- exp, expm1: SLEEF `xexp`/`xexpf` (sleefdp.c / sleefsp.c), reduction constants from
  fdlibm e_exp.c (double) and SLEEF L2Uf/L2Lf (float);
- log, log1p: fdlibm/musl e_log.c and e_logf.c (Lg1..Lg7, Lg1..Lg4, ln2_hi/ln2_lo);
- tanh: Cephes tanh.c (rational P/Q, double) and tanhf.c (polynomial, float);
- sin, cos: fdlibm/musl k_sin.c and k_cos.c and the pi/2 split of e_rem_pio2.c (double);
  float32's are computed in double with Taylor polynomials (WIDE_TRIG).
"""

# (No `from __future__ import annotations`: typing.NamedTuple compiles each field's annotation
# when it is a string, 0.3 ms of every empty cache's compile for these 39 fields.)
import struct
from typing import NamedTuple

from ..ir import DType
from . import llvm_ir as ll
from .types import F32, F64, I32, I64


def f32(v: float) -> float:
    """v rounded to the nearest float32 (constants must be exact in the lane type)."""
    return struct.unpack("f", struct.pack("f", v))[0]


class Consts(NamedTuple):
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
    # sigmoid: beyond sigmoid_far exp(-|x|) is subnormal and 2^n (n = round(-|x|/ln2)) may not
    # be normal: 2^(n + shift), normal down to exp_lo, is scaled back by 2^-shift
    sigmoid_far: float
    sigmoid_shift: int
    trig_limit: float  # largest |x| with accurate sin/cos (n < 2^21 / 2^13, see F64_TRIG, WIDE_TRIG)


TABLES: dict[DType, Consts] = {
    DType.F64: Consts(
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
        sigmoid_far=708.3964185,  # 1022 * ln(2): e^-x from here on is below 2^-1022, the smallest normal
        sigmoid_shift=64,
        trig_limit=2.0**21,
    ),
    DType.F32: Consts(
        fty=F32,
        ity=I32,
        mant_bits=23,
        bias=127,
        shifter=1.5 * 2.0**23,
        min_normal=2.0**-126,
        sqrt_half_bits=0x3F3504F3,
        subnormal_scale=25,
        inv_ln2=f32(1.44269504088896338700e00),
        ln2_hi=0.693145751953125,  # 0x3f317200: 15 bits (SLEEF L2Uf)
        ln2_lo=f32(1.428606765330187045e-06),  # 0x35bfbe8e
        exp_hi=89.0,
        exp_lo=-104.0,
        expm1_lo=-20.0,
        exp_poly=tuple(
            f32(c)
            for c in (
                0.000198527617612853646278381,
                0.00139304355252534151077271,
                0.00833336077630519866943359,
                0.0416664853692054748535156,
                0.166666671633720397949219,
                0.5,
            )
        ),
        log_ln2_hi=f32(6.9313812256e-01),
        log_ln2_lo=f32(9.0580006145e-06),  # 0x3f317180
        log_odd=(float.fromhex("0x91e9ee.0p-25"), float.fromhex("0xaaaaaa.0p-24")),
        log_even=(float.fromhex("0xf89e26.0p-26"), float.fromhex("0xccce13.0p-25")),
        tanh_p=tuple(
            f32(c)
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
        sigmoid_far=87.33654,  # 126 * ln(2), rounded down to a float32
        sigmoid_shift=32,
        trig_limit=2.0**13,
    ),
}


class Trig(NamedTuple):
    """float64 sin/cos on |r| <= pi/4: sin = r + r^3 (S1 + z S(z)), cos = 1 - z/2 + z^2 C(z)."""

    two_over_pi: float
    pio2: tuple[float, ...]  # exact-product parts of pi/2, then the rounded rest
    sin_s1: float
    sin_poly: tuple[float, ...]
    cos_poly: tuple[float, ...]


F64_TRIG = Trig(
    two_over_pi=6.36619772367581382433e-01,
    pio2=(
        1.57079632673412561417e00,  # 0x3ff921fb 54400000: 31 bits
        6.07710050630396597660e-11,  # 0x3dd0b461 1a600000: 32 bits
        2.02226624871116645580e-21,  # 0x3ba3198a 2e000000: 28 bits
        8.47842766036889956997e-32,
    ),  # pi/2 - the three above
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
)


class WideTrig(NamedTuple):
    """float32 sin/cos reduced and summed in float64 (vecmath._trig_in_f64): pi/2 in two
    doubles, whose FMAs with n < 2^13 leave r within 2^-52 of its value relative to itself,
    and Taylor polynomials whose truncation (r^11/11!, z^6/12! on |r| <= pi/4) is below
    2^-28 relative: far under a float32 ulp, so the one rounding to float32 decides."""

    two_over_pi: float
    pio2_hi: float
    pio2_lo: float
    sin_poly: tuple[float, ...]  # sin(r) = r + r^3 P(r^2), highest degree first
    cos_poly: tuple[float, ...]  # cos(r) = 1 + r^2 Q(r^2)


WIDE_TRIG = WideTrig(
    two_over_pi=6.36619772367581382433e-01,
    pio2_hi=float.fromhex("0x1.921fb54442d18p+0"),
    pio2_lo=float.fromhex("0x1.1a62633145c07p-54"),
    sin_poly=(1 / 362880, -1 / 5040, 1 / 120, -1 / 6),
    cos_poly=(-1 / 3628800, 1 / 40320, -1 / 720, 1 / 24, -1 / 2),
)
