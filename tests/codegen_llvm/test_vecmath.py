"""The branch-free math of codegen_llvm.vecmath, compiled in a loop at O3 like a kernel:
within 2 ulp of a higher-precision reference (long double for f64, float64 for f32)
over the whole input range and on edge values, special values exactly as numpy, and
the loop vectorised (no libm calls left)."""

from __future__ import annotations

import ctypes
import re
from functools import cache

import llvmlite.binding as llvm
import numpy as np
import pytest

from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.vecmath import TRIG_LIMIT, VECTOR_MATH
from tc.ir import DType

TRIG = ("tx.sin", "tx.cos")
NUMPY = {
    "tx.exp": np.exp,
    "tx.expm1": np.expm1,
    "tx.log": np.log,
    "tx.log1p": np.log1p,
    "tx.tanh": np.tanh,
    "tx.sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tx.sin": np.sin,
    "tx.cos": np.cos,
}
CASES = [(f"tx.{op}", dtype) for op in VECTOR_MATH for dtype in (DType.F32, DType.F64)]
MAX_ULP = 2.0
# sigmoid: exp's error and two roundings (1 + t, then the quotient) add up to 2.3 ulp
MAX_ULP_OF = {"tx.sigmoid": 2.5}
# The reference is computed one precision up: long double (x87, 64-bit mantissa) for f64
# where numpy has it, else float64 itself (then within MAX_ULP of numpy's own result).
_HI = {DType.F32: np.float64, DType.F64: np.longdouble if np.finfo(np.longdouble).nmant > 60 else np.float64}


# A CPU without FMA (nor AVX): llvm.fma becomes a call to libm's fma().
GENERIC_CPU = ("x86-64", "")


def _target_machine(cpu: tuple[str, str] | None = None) -> llvm.TargetMachine:
    """A fresh one each time: MCJIT takes ownership of the machine it is given."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    name, features = cpu or (llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())
    return llvm.Target.from_default_triple().create_target_machine(cpu=name, features=features, opt=3)


def _loop_ir(op: str, dtype: DType) -> str:
    """void f(T* noalias in, T* noalias out, [i8* noalias needs_exact,] i64 n)."""
    tm = _target_machine()
    mod = ll.Module(name=f"vecmath_{op}_{dtype.value}")
    mod.triple, mod.data_layout = tm.triple, str(tm.target_data)
    fty = ll.DoubleType() if dtype is DType.F64 else ll.FloatType()
    i8, i64 = ll.IntType(8), ll.IntType(64)
    pointers = [fty.as_pointer(), fty.as_pointer()] + ([i8.as_pointer()] if op in TRIG else [])
    fn = ll.Function(mod, ll.FunctionType(ll.VoidType(), [*pointers, i64]), "f")
    for arg in fn.args[:-1]:
        arg.add_attribute("noalias")
    n = fn.args[-1]
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ll.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, i64(0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(i64(0), entry)
    result = VECTOR_MATH[op.removeprefix("tx.")](b, dtype, b.load(b.gep(fn.args[0], [i], inbounds=True)))
    if op in TRIG:
        result, needs_exact = result
        b.store(b.zext(needs_exact, i8), b.gep(fn.args[2], [i], inbounds=True))
    b.store(result, b.gep(fn.args[1], [i], inbounds=True))
    nxt = b.add(i, i64(1))
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(mod)


class Kernel:
    def __init__(self, op: str, dtype: DType, cpu: tuple[str, str] | None = None) -> None:
        self.op, self.dtype = op, dtype
        parsed = llvm.parse_assembly(_loop_ir(op, dtype))
        parsed.verify()
        tm = _target_machine(cpu)
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
        pb.getModulePassManager().run(parsed, pb)
        self.optimized = str(parsed)
        self.asm = tm.emit_assembly(parsed)
        self.engine = llvm.create_mcjit_compiler(parsed, _target_machine(cpu))
        self.engine.finalize_object()
        nargs = 4 if op in TRIG else 3
        proto = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (nargs - 1), ctypes.c_int64)
        self.fn = proto(self.engine.get_function_address("f"))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=self.dtype.numpy)
        out = np.empty_like(x)
        flags = np.zeros(x.shape, dtype=np.uint8)
        extra = [flags.ctypes.data] if self.op in TRIG else []
        self.fn(x.ctypes.data, out.ctypes.data, *extra, x.size)
        return out, flags.astype(bool)


@cache
def kernel(op: str, dtype: DType, cpu: tuple[str, str] | None = None) -> Kernel:
    return Kernel(op, dtype, cpu)


def reference(op: str, dtype: DType, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return NUMPY[op](x.astype(_HI[dtype]))


def ulp_error(got: np.ndarray, ref_hi: np.ndarray, dtype: DType) -> np.ndarray:
    """|got - exact| in units of the spacing of the correctly rounded result; 0 where they
    are equal (infinities and nan included), inf where only one is nan. An infinite result
    counts as 2^emax, the first value past the largest float, as IEEE rounding does."""
    fi = np.finfo(dtype.numpy)
    hi = ref_hi.dtype.type
    with np.errstate(all="ignore"):
        ref = ref_hi.astype(dtype.numpy)
        top = hi(2.0) ** fi.maxexp
        got_hi = np.where(np.isinf(got), np.sign(got) * top, got.astype(hi))
        ref_fin = np.where(np.isinf(ref_hi), np.sign(ref_hi) * top, ref_hi)
        spacing = np.spacing(np.minimum(np.abs(ref), fi.max)).astype(hi)
        err = np.abs(got_hi - ref_fin) / spacing
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(got) != np.isnan(ref), np.inf, err).astype(np.float64)


def check(op: str, dtype: DType, x: np.ndarray) -> float:
    x = x.astype(dtype.numpy)
    got, needs_exact = kernel(op, dtype)(x)
    ref = reference(op, dtype, x)
    if op in TRIG:
        expected = ~(np.abs(x) <= TRIG_LIMIT[dtype])
        assert np.array_equal(needs_exact, expected), x[needs_exact != expected][:10]
    keep = ~needs_exact
    err = ulp_error(got[keep], ref[keep], dtype)
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err[worst] <= MAX_ULP_OF.get(op, MAX_ULP), (
        f"{op} {dtype.value}: {err[worst]:.2f} ulp at x={x[keep][worst]!r}: "
        f"got {got[keep][worst]!r}, reference {ref[keep][worst]!r}"
    )
    with np.errstate(over="ignore"):
        zeros = keep & (got == 0) & (ref.astype(dtype.numpy) == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(ref[zeros])), "sign of zero"
    return float(err.max(initial=0.0))


# --- inputs ----------------------------------------------------------------------------

# A uniform range where each function does something non-trivial (besides the log scale).
DOMAIN = {
    "tx.exp": {DType.F64: (-750, 712), DType.F32: (-106, 90)},
    "tx.expm1": {DType.F64: (-60, 712), DType.F32: (-25, 90)},
    "tx.log": {DType.F64: (0, 3), DType.F32: (0, 3)},
    "tx.log1p": {DType.F64: (-1, 2), DType.F32: (-1, 2)},
    "tx.tanh": {DType.F64: (-25, 25), DType.F32: (-12, 12)},
    "tx.sigmoid": {DType.F64: (-750, 50), DType.F32: (-110, 25)},
    "tx.sin": {d: (-TRIG_LIMIT[d], TRIG_LIMIT[d]) for d in DType if d in TRIG_LIMIT},
    "tx.cos": {d: (-TRIG_LIMIT[d], TRIG_LIMIT[d]) for d in DType if d in TRIG_LIMIT},
}


def random_inputs(op: str, dtype: DType, n: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(1234)
    fi = np.finfo(dtype.numpy)
    lo, hi = np.log2(float(fi.smallest_subnormal)), np.log2(float(fi.max))
    m = n // 3
    log_scale = rng.choice([-1.0, 1.0], m) * 2.0 ** rng.uniform(lo, hi, m)
    domain = rng.uniform(*DOMAIN[op][dtype], m)
    near = rng.choice([-1.0, 1.0], m) * 2.0 ** rng.uniform(-30, 5, m)
    with np.errstate(over="ignore"):
        return np.concatenate([log_scale, domain, near]).astype(dtype.numpy)


def edge_inputs(op: str, dtype: DType) -> np.ndarray:
    t = dtype.numpy
    fi = np.finfo(t)
    base = [
        0.0,
        fi.smallest_subnormal,
        fi.smallest_subnormal * 7,
        fi.smallest_normal * 0.999,
        fi.smallest_normal,
        fi.eps,
        fi.eps / 2,
        1e-20,
        1e-8,
        0.1,
        0.5,
        1.0,
        2.0,
        10.0,
        fi.max,
        np.inf,
        np.nan,
    ]
    f64 = dtype is DType.F64
    extra = {
        "tx.exp": [
            709.782712893384,
            709.7827128933841,
            709.79,
            745.1332191019411,
            745.14,
            708.3964185322641,
            708.4,
            710.0,
            746.0,
        ]
        if f64
        else [88.72283, 88.72284, 88.7229, 103.97207, 103.97208, 103.98, 87.33655, 87.34],
        "tx.log": [1.0 - fi.eps, 1.0 + fi.eps, 0.7071067811865476, 1.4142135623730951],
        "tx.log1p": [
            -1.0 + fi.eps / 2,
            -1.0 + fi.eps,
            -0.5,
            -0.2928932188134524,
            0.41421356237309515,
            1e300 if f64 else 1e30,
        ],
        "tx.tanh": [0.625, 0.6249999, 0.6250001, 0.55, 9.0, 9.1, 10.0, 19.0, 20.0, 22.0, 23.0],
        # where exp(-|x|) leaves the normal numbers (vecmath_tables.sigmoid_far) and where
        # 1 / (1 + t) rounds to 1
        "tx.sigmoid": [708.3964185, 708.3964186, 709.8, 745.2, 36.04, 37.0]
        if f64
        else [87.33654, 87.33655, 88.8, 104.0, 16.6, 17.4],
    }
    extra["tx.expm1"] = extra["tx.exp"] + ([36.7, 37.5, 700.0] if f64 else [17.3, 17.4, 80.0])
    values = np.array(base + extra.get(op, []), dtype=np.float64)
    if op in TRIG:
        limit = TRIG_LIMIT[dtype]
        k = np.concatenate([np.arange(1, 2000), np.geomspace(2000, limit * 0.63, 500).round()])
        with np.errstate(over="ignore"):
            near_multiples = (k.astype(np.longdouble) * (np.pi / 2)).astype(t)
            values = np.concatenate(
                [values, near_multiples.astype(np.float64), [limit, 1e22, 1e300 if f64 else 1e30]]
            )
    up, down = np.array(np.inf, dtype=t), np.array(-np.inf, dtype=t)
    with np.errstate(over="ignore"):
        values = values.astype(t)
        values = np.concatenate([values, np.nextafter(values, up), np.nextafter(values, down)])
    return np.concatenate([values, -values])


@pytest.mark.parametrize("op,dtype", CASES, ids=[f"{o[3:]}-{d.value}" for o, d in CASES])
def test_random_inputs_within_2_ulp(op: str, dtype: DType) -> None:
    check(op, dtype, random_inputs(op, dtype))


@pytest.mark.parametrize("op,dtype", CASES, ids=[f"{o[3:]}-{d.value}" for o, d in CASES])
def test_edge_values(op: str, dtype: DType) -> None:
    check(op, dtype, edge_inputs(op, dtype))


@pytest.mark.parametrize("op,dtype", CASES, ids=[f"{o[3:]}-{d.value}" for o, d in CASES])
def test_special_values_as_numpy(op: str, dtype: DType) -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.0], dtype=dtype.numpy)
    if op not in ("tx.log", "tx.log1p"):
        x = x[:5]  # -1 and -2 are special only to the logarithms
    got, needs_exact = kernel(op, dtype)(x)
    with np.errstate(all="ignore"):
        want = NUMPY[op](x)
    if op in TRIG:  # inf and nan go to libm, which gives nan
        assert needs_exact.tolist() == [False, False, True, True, True]
        got, want = got[~needs_exact], want[~needs_exact]
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]))


@pytest.mark.parametrize("dtype,vector", [(DType.F32, r"<(\d+) x float>"), (DType.F64, r"<(\d+) x double>")])
def test_exp_loop_vectorises(dtype: DType, vector: str) -> None:
    k = kernel("tx.exp", dtype)
    lanes = {int(n) for n in re.findall(vector, k.optimized)}
    assert lanes and max(lanes) >= (8 if dtype is DType.F32 else 4), lanes  # AVX2 or wider
    if "+fma" in llvm.get_host_cpu_features().flatten().split(","):
        assert "vfmadd" in k.asm  # the polynomials' llvm.fma calls became instructions


@pytest.mark.parametrize("op,dtype", CASES, ids=[f"{o[3:]}-{d.value}" for o, d in CASES])
def test_same_bits_on_a_cpu_without_fma(op: str, dtype: DType) -> None:
    """llvm.fma rounds once wherever it runs: libm's fma() on a CPU without the
    instruction gives the host's bits (and tc's results do not depend on the CPU)."""
    generic = kernel(op, dtype, GENERIC_CPU)
    assert "vfmadd" not in generic.asm and re.search(r"\$fmaf?\b", generic.asm)  # libm's, by address
    x = np.concatenate([random_inputs(op, dtype, 30_000), edge_inputs(op, dtype)])
    got, flags = generic(x)
    want, want_flags = kernel(op, dtype)(x)
    assert np.array_equal(flags, want_flags)
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("op,dtype", CASES, ids=[f"{o[3:]}-{d.value}" for o, d in CASES])
def test_no_library_calls(op: str, dtype: DType) -> None:
    calls = set(re.findall(r"call [^@]*@([\w.]+)", kernel(op, dtype).optimized))
    assert all(c.startswith("llvm.") for c in calls), calls
