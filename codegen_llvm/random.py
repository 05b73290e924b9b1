"""Philox4x32-10 in generated code: one loop per random op.

The numbers follow `ir.ops.random` (the reference) exactly: element i draws
from the block at counter (lo32(i), hi32(i), lo32(draws), sub), so a draw is
the same whichever thread computes which element. The loop is a flat,
vectorisable function spread over the cores like an elementwise kernel.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import DType, TcCompilationError
from ..ir.ops import random as rnd
from . import llvm_ir as ll
from .control import counted_loop
from .jobs import job_function
from .nest import ArrayRef
from .scalar import MathLibrary
from .target import host_of, target_of
from .types import F32, F64, I1, I8_PTR, I32, I64, load_element, memory_type, register_type, store_element
from .vecmath import VECTOR_MATH


def philox_block(
    b: ll.IRBuilder, index: ll.Value, key: ll.Value, draws: ll.Value, sub: int
) -> list[ll.Value]:
    """The four 32-bit words (i32) of one element's block.

    Words stay i32 and each product is a zero-extended 32x32->64 multiply, the
    shape LLVM turns into vpmuludq on four lanes at once.
    """
    c = [b.trunc(index, I32), b.trunc(b.lshr(index, I64(32)), I32), b.trunc(draws, I32), I32(sub)]
    k0, k1 = b.trunc(key, I32), b.trunc(b.lshr(key, I64(32)), I32)
    for round_index in range(10):
        p0 = b.mul(b.zext(c[0], I64), I64(rnd.PHILOX_M0))
        p1 = b.mul(b.zext(c[2], I64), I64(rnd.PHILOX_M1))
        c = [
            b.xor(b.xor(b.trunc(b.lshr(p1, I64(32)), I32), c[1]), k0),
            b.trunc(p1, I32),
            b.xor(b.xor(b.trunc(b.lshr(p0, I64(32)), I32), c[3]), k1),
            b.trunc(p0, I32),
        ]
        if round_index < 9:
            k0 = b.add(k0, I32(rnd.PHILOX_W0))
            k1 = b.add(k1, I32(rnd.PHILOX_W1))
    return c


def _unit_f64(b: ll.IRBuilder, w0: ll.Value, w1: ll.Value) -> ll.Value:
    """((w0 >> 5) * 2^26 + (w1 >> 6)) * 2^-53, exactly; both parts fit a signed i32,
    whose conversion to double vectorises (a 64-bit one does not on AVX2)."""
    high = b.sitofp(b.lshr(w0, I32(5)), F64)
    low = b.sitofp(b.lshr(w1, I32(6)), F64)
    return b.fmul(b.fadd(b.fmul(high, F64(2.0**26)), low), F64(2.0**-53))


def _unit_f32(b: ll.IRBuilder, w0: ll.Value) -> ll.Value:
    return b.fmul(b.sitofp(b.lshr(w0, I32(8)), F32), F32(2.0**-24))


def _math(b: ll.IRBuilder, library: MathLibrary, name: str, x: ll.Value) -> ll.Value:
    fast = VECTOR_MATH.get(name)
    if fast is not None:
        value = fast(b, DType.F64, x)
        return value[0] if isinstance(value, tuple) else value  # arguments here are small: exact enough
    return library.call(b, name, DType.F64, [x])


def _sample(
    b: ll.IRBuilder,
    op: rnd.RandomOp,
    index: ll.Value,
    key: ll.Value,
    draws: ll.Value,
    params: list[ll.Value],
    library: MathLibrary,
) -> ll.Value:
    """One element of the op's result, in its register type."""
    sample = _SAMPLERS.get(type(op))
    if sample is None:
        raise TcCompilationError(f"no lowering for {op.name}")
    return sample(b, op, index, key, draws, params)


def _uniform(
    b: ll.IRBuilder, op: rnd.RandomOp, index: ll.Value, key: ll.Value, draws: ll.Value, params: list[ll.Value]
) -> ll.Value:
    w = philox_block(b, index, key, draws, 0)
    u = _unit_f64(b, w[0], w[1]) if op.results[0].type.dtype is DType.F64 else _unit_f32(b, w[0])
    low, high = params
    return b.fadd(low, b.fmul(b.fsub(high, low), u))


def _integers(
    b: ll.IRBuilder, op: rnd.RandomOp, index: ll.Value, key: ll.Value, draws: ll.Value, params: list[ll.Value]
) -> ll.Value:
    dtype = op.results[0].type.dtype
    w = philox_block(b, index, key, draws, 0)
    low, high = params
    value = b.add(low, _multiply_shift(b, w, b.add(b.sub(high, low), I64(1))))
    return b.trunc(value, register_type(dtype)) if dtype.bits < 64 else value


def _binomial(
    b: ll.IRBuilder, op: rnd.RandomOp, index: ll.Value, key: ll.Value, draws: ll.Value, params: list[ll.Value]
) -> ll.Value:
    dtype = op.results[0].type.dtype
    target = register_type(dtype)
    (p,) = params
    p64 = _to_f64(b, p)
    total: ll.Value = I64(0)
    for trial in range(int(op.attributes["trials"])):  # type: ignore[call-overload]
        w = philox_block(b, index, key, draws, trial)
        total = b.add(total, b.zext(b.fcmp_ordered("<", _unit_f64(b, w[0], w[1]), p64), I64))
    if dtype.is_float:
        return b.sitofp(total, target)
    if dtype is DType.BOOL:
        return b.icmp_unsigned("!=", total, I64(0))
    return b.trunc(total, target) if dtype.bits < 64 else total


_SAMPLERS: dict[type[rnd.RandomOp], Callable[..., ll.Value]] = {
    rnd.RandomUniform: _uniform,
    rnd.RandomIntegers: _integers,
    rnd.RandomBinomial: _binomial,
}
# Draws whose elements come in pairs from one Philox block (Box-Muller).
_PAIRED: frozenset[type[rnd.RandomOp]] = frozenset({rnd.RandomNormal})


def _normal_pair(
    b: ll.IRBuilder,
    op: rnd.RandomOp,
    pair: ll.Value,
    key: ll.Value,
    draws: ll.Value,
    params: list[ll.Value],
    library: MathLibrary,
) -> tuple[ll.Value, ll.Value]:
    """Elements 2 * pair and 2 * pair + 1 of a normal draw (Box-Muller on one block)."""
    w = philox_block(b, pair, key, draws, 0)
    u1 = b.fadd(_unit_f64(b, w[0], w[1]), F64(2.0**-53))
    radius = library.call(b, "sqrt", DType.F64, [b.fmul(F64(-2.0), _math(b, library, "log", u1))])
    angle = b.fmul(F64(rnd.TWO_PI), _unit_f64(b, w[2], w[3]))
    avg, std = (_to_f64(b, p) for p in params)
    narrow = op.results[0].type.dtype is DType.F32
    pair_values = []
    for trig in ("cos", "sin"):
        value = b.fadd(avg, b.fmul(std, b.fmul(radius, _math(b, library, trig, angle))))
        pair_values.append(b.fptrunc(value, F32) if narrow else value)
    return pair_values[0], pair_values[1]


def _to_f64(b: ll.IRBuilder, value: ll.Value) -> ll.Value:
    return value if value.type == F64 else b.fpext(value, F64)


def emit_random(
    builder: ll.IRBuilder,
    name: str,
    op: rnd.RandomOp,
    state: ArrayRef,
    params: list[ArrayRef],
    output: ll.Value,
    count: ll.Value,
) -> None:
    """Fill `output` (contiguous, `count` elements) with the op's draw."""
    module = builder.module
    dtype = op.results[0].type.dtype
    pointer_types = [I64.as_pointer(), I64.as_pointer()]
    pointer_types += [memory_type(p.dtype).as_pointer() for p in params] + [memory_type(dtype).as_pointer()]
    fn = ll.Function(module, ll.FunctionType(I1, [I64, I64, *pointer_types]), module.get_unique_name(name))
    fn.linkage = "internal"
    begin, end, key_ptr, draws_ptr, *rest = fn.args
    *param_ptrs, out_ptr = rest
    for p in rest:
        p.add_attribute("noalias")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    key, draws = b.load(key_ptr), b.load(draws_ptr)
    values = [load_element(b, p.dtype, ptr) for p, ptr in zip(params, param_ptrs, strict=True)]
    library = target_of(module).math(module)
    if type(op) in _PAIRED:
        # Pairs of elements share a block; chunks start at even indices (multiples of 64).
        with counted_loop(b, b.lshr(end, I64(1)), "pair", start=b.lshr(begin, I64(1))) as j:
            first, second = _normal_pair(b, op, j, key, draws, values, library)
            store_element(b, dtype, first, b.gep(out_ptr, [b.shl(j, I64(1))]))
            store_element(b, dtype, second, b.gep(out_ptr, [b.add(b.shl(j, I64(1)), I64(1))]))
        with b.if_then(b.trunc(end, I1)):  # an odd end: its last element is a pair's first half
            last = b.sub(end, I64(1))
            first, _ = _normal_pair(b, op, b.lshr(last, I64(1)), key, draws, values, library)
            store_element(b, dtype, first, b.gep(out_ptr, [last]))
    else:
        with counted_loop(b, end, "draw", start=begin) as i:
            store_element(b, dtype, _sample(b, op, i, key, draws, values, library), b.gep(out_ptr, [i]))
    b.ret(I1(0))

    # The state's two words may be strided (a view); pass pointers to each.
    second = builder.gep(builder.bitcast(state.pointer, I8_PTR), [state.strides[0]])
    pointers = [state.pointer, second, *[p.pointer for p in params], output]
    job = job_function(module, f"{name}.job", fn, len(pointers))
    args = builder.alloca(I8_PTR, size=I32(len(pointers)))
    for index, pointer in enumerate(pointers):
        builder.store(builder.bitcast(pointer, I8_PTR), builder.gep(args, [I32(index)]))
    host_of(module).parallel_for(builder, job, args, count)


def _multiply_shift(b: ll.IRBuilder, w: list[ll.Value], span: ll.Value) -> ll.Value:
    """floor(((w1 << 32) + w0) * span / 2^64) for span < 2^32 (as in ir.ops.random)."""
    w0, w1 = b.zext(w[0], I64), b.zext(w[1], I64)
    low_part = b.lshr(b.mul(w0, span), I64(32))
    return b.lshr(b.add(b.mul(w1, span), low_part), I64(32))


def _stream(b: ll.IRBuilder, state: ArrayRef) -> tuple[ll.Value, ll.Value]:
    key = b.load(b.bitcast(state.pointer, I64.as_pointer()))
    draws = b.load(b.bitcast(b.gep(b.bitcast(state.pointer, I8_PTR), [state.strides[0]]), I64.as_pointer()))
    return key, draws


def _shuffle(
    b: ll.IRBuilder, key: ll.Value, draws: ll.Value, scratch: ll.Value, population: ll.Value, count: ll.Value
) -> ll.Value:
    """Partial Fisher-Yates of 0..population-1 in `scratch`; the first `count` are the draw."""
    items = b.bitcast(scratch, I64.as_pointer())
    with counted_loop(b, population, "fill") as i:
        b.store(i, b.gep(items, [i]))
    with counted_loop(b, count, "shuffle") as i:
        j = b.add(i, _multiply_shift(b, philox_block(b, i, key, draws, 0), b.sub(population, i)))
        a, c = b.gep(items, [i]), b.gep(items, [j])
        va, vc = b.load(a), b.load(c)
        b.store(vc, a)
        b.store(va, c)
    return items


def emit_permutation(
    builder: ll.IRBuilder, op: rnd.RandomPermutation, state: ArrayRef, output: ll.Value, scratch: ll.Value
) -> None:
    """The first k entries of a shuffle of 0..population-1 into `output`."""
    b = builder
    key, draws = _stream(b, state)
    population = I64(int(op.attributes["population"]))  # type: ignore[call-overload]
    items = _shuffle(b, key, draws, scratch, population, I64(op.count))
    out = b.bitcast(output, I64.as_pointer())
    with counted_loop(b, I64(op.count), "take") as i:
        b.store(b.load(b.gep(items, [i])), b.gep(out, [i]))


def emit_choice(
    builder: ll.IRBuilder,
    op: rnd.RandomChoice,
    state: ArrayRef,
    values: ArrayRef,
    weights: ArrayRef | None,
    output: ll.Value,
    scratch: ll.Value,
) -> None:
    """Draws of `values`' entries into `output`: uniform or weighted, with or without replacement."""
    b = builder
    dtype = values.dtype
    key, draws = _stream(b, state)
    population = values.shape[0]
    count = I64(op.count)

    def entry(index: ll.Value) -> ll.Value:
        return load_element(
            b, dtype, b.gep(b.bitcast(values.pointer, I8_PTR), [b.mul(index, values.strides[0])])
        )

    if not op.attributes["replace"]:
        items = _shuffle(b, key, draws, scratch, population, count)
        with counted_loop(b, count, "take") as i:
            store_element(
                b,
                dtype,
                entry(b.load(b.gep(items, [i]))),
                b.gep(b.bitcast(output, memory_type(dtype).as_pointer()), [i]),
            )
        return
    out = b.bitcast(output, memory_type(dtype).as_pointer())
    if weights is None:
        with counted_loop(b, count, "choose") as i:
            j = _multiply_shift(b, philox_block(b, i, key, draws, 0), population)
            store_element(b, dtype, entry(j), b.gep(out, [i]))
        return
    # Running sums of the weights, in order, so every backend gets the same cdf.
    cdf = b.bitcast(scratch, F64.as_pointer())
    running = b.alloca(F64)
    b.store(F64(0.0), running)
    with counted_loop(b, population, "cdf") as k:
        weight = b.load(
            b.bitcast(
                b.gep(b.bitcast(weights.pointer, I8_PTR), [b.mul(k, weights.strides[0])]), F64.as_pointer()
            )
        )
        total = b.fadd(b.load(running), weight)
        b.store(total, running)
        b.store(total, b.gep(cdf, [k]))
    total = b.load(running)
    with counted_loop(b, count, "choose") as i:
        w = philox_block(b, i, key, draws, 0)
        u = b.fmul(_unit_f64(b, w[0], w[1]), total)
        # Branch-free binary search for the first cdf entry above u (33 halvings cover 2^32).
        low, high = I64(0), population
        for _ in range(33):
            middle = b.lshr(b.add(low, high), I64(1))
            open_range = b.icmp_signed("<", low, high)
            safe = b.select(open_range, middle, I64(0))
            below = b.fcmp_unordered("<=", b.load(b.gep(cdf, [safe])), u)
            go_right = b.and_(open_range, below)
            go_left = b.and_(open_range, b.not_(below))
            low = b.select(go_right, b.add(middle, I64(1)), low)
            high = b.select(go_left, middle, high)
        last = b.sub(population, I64(1))
        j = b.select(b.icmp_signed("<", low, last), low, last)
        store_element(b, dtype, entry(j), b.gep(out, [i]))
