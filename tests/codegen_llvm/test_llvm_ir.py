"""codegen_llvm/llvm_ir builds what llvmlite.ir builds, and prints it byte for byte as
llvmlite does: the same calls through both, every kind of instruction, constant, global,
attribute and metadata node tc's lowering makes. (llvmlite stays installed: tc reaches LLVM
through its shared library.)"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import llvmlite.ir as llvmlite_ir
import pytest

from tc.codegen_llvm import llvm_ir
from tc.codegen_llvm.jit import parse_verified


def _arithmetic(ll: ModuleType, module: Any) -> None:
    i64, f64, f32 = ll.IntType(64), ll.DoubleType(), ll.FloatType()
    fn = ll.Function(module, ll.FunctionType(f64, [i64, f64, f32.as_pointer()]), "arith")
    fn.args[0].name = "n"
    fn.args[2].add_attribute("nocapture")
    fn.attributes.add("noinline")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    n, x, p = fn.args
    k = b.add(n, ll.Constant(i64, 3), name="k", flags=["nsw"])
    for op in ("sub", "mul", "sdiv", "udiv", "srem", "urem", "shl", "lshr", "ashr", "and_", "or_", "xor"):
        k = getattr(b, op)(k, ll.Constant(i64, 7))
    k = b.not_(b.neg(k))
    y = x
    for op in ("fadd", "fsub", "fmul", "fdiv", "frem"):
        y = getattr(b, op)(y, ll.Constant(f64, 0.1))
    y = b.fneg(y)
    for op in ("sitofp", "uitofp"):
        y = b.fadd(y, getattr(b, op)(k, f64))
    z = b.fpext(b.load(p, align=4), f64)
    b.store(b.fptrunc(z, f32), p, align=4)
    w = b.fptosi(z, i64)
    w = b.add(b.trunc(w, ll.IntType(32)), ll.Constant(ll.IntType(32), -1))
    w = b.add(b.zext(w, i64), b.sext(w, i64))
    big = b.ptrtoint(p, i64)
    b.store(ll.Constant(f32, 1.5), b.inttoptr(b.add(big, w), f32.as_pointer()))
    c = b.icmp_signed("<", k, w)
    c = b.and_(c, b.icmp_unsigned(">=", k, w))
    c = b.or_(c, b.icmp_signed("==", k, w))
    c = b.xor(c, b.fcmp_ordered("<=", y, z))
    c = b.xor(c, b.fcmp_unordered("!=", y, z, flags=["fast"]))
    c = b.xor(c, b.fcmp_ordered("uno", y, z))
    b.ret(b.select(c, y, z))


def _control(ll: ModuleType, module: Any) -> None:
    i64, i32 = ll.IntType(64), ll.IntType(32)
    fn = ll.Function(module, ll.FunctionType(i32, [i64]), "control")
    fn.linkage = "internal"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    header, body, done = (fn.append_basic_block(n) for n in ("loop.header", "loop body", "done"))
    b.branch(header)
    b.position_at_end(header)
    i = b.phi(i64, name="i")
    i.add_incoming(ll.Constant(i64, 0), fn.blocks[0])
    b.cbranch(b.icmp_signed("<", i, fn.args[0]), body, done)
    b.position_at_end(body)
    with b.if_then(b.icmp_signed("==", i, ll.Constant(i64, 5)), likely=False):
        b.add(i, i)
    with b.if_else(b.icmp_signed("==", i, ll.Constant(i64, 6)), likely=True) as (then, otherwise):
        with then:
            b.mul(i, i)
        with otherwise:
            b.sub(i, i)
    with b.if_then(b.icmp_signed("==", i, ll.Constant(i64, 7))):
        b.add(i, ll.Constant(i64, 1))
    following = b.add(i, ll.Constant(i64, 1), name="i.next", flags=["nsw"])
    i.add_incoming(following, b.block)
    back = b.branch(header)
    hint = module.add_metadata([ll.MetaDataString(module, "llvm.loop.unroll.count"), ll.Constant(i32, 4)])
    back.set_metadata("llvm.loop", module.add_metadata([hint]))
    b.position_at_end(done)
    exit_block = fn.append_basic_block("exit")
    switch = b.switch(b.trunc(i, i32), exit_block)
    switch.add_case(3, fn.append_basic_block("three"))
    ll.IRBuilder(fn.blocks[-1]).branch(exit_block)
    switch.add_case(ll.Constant(i32, 4), exit_block)
    b.position_at_end(exit_block)
    with b.goto_entry_block():
        b.alloca(i64, name="slot")
    b.ret(ll.Constant(i32, 0))
    dead = ll.IRBuilder(fn.append_basic_block('odd "name"'))
    dead.unreachable()


def _memory(ll: ModuleType, module: Any) -> None:
    i8, i32, i64, f64 = ll.IntType(8), ll.IntType(32), ll.IntType(64), ll.DoubleType()
    vec = ll.VectorType(f64, 4)
    pair = ll.LiteralStructType([i64, f64])
    table = ll.GlobalVariable(module, ll.ArrayType(f64, 3), "table")
    table.linkage = "internal"
    table.global_constant = True
    table.initializer = ll.Constant(ll.ArrayType(f64, 3), [1.0, -2.5, float("inf")])
    counter = ll.GlobalVariable(module, i64, "counter")
    counter.linkage = "internal"
    counter.initializer = ll.Constant(i64, None)
    text = ll.GlobalVariable(module, ll.ArrayType(i8, 6), "text")
    text.initializer = ll.Constant(ll.ArrayType(i8, 6), bytearray(b'a"\\\n\x00z'))
    text.align = 8
    ll.GlobalVariable(module, i64, "external_thing")
    hook = ll.GlobalVariable(module, ll.FunctionType(i32, [i64]).as_pointer(), "hook")
    hook.linkage = "internal"
    hook.initializer = ll.Constant(ll.FunctionType(i32, [i64]).as_pointer(), None)
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [vec.as_pointer(), pair.as_pointer()]), "memory")
    b = ll.IRBuilder(fn.append_basic_block())
    v, s = fn.args
    element = b.gep(table, [ll.Constant(i64, 0), ll.Constant(i64, 2)], inbounds=True, name="element")
    lanes = b.alloca(ll.ArrayType(f64, 4), name="lanes")
    count = b.alloca(i64, size=3)
    count.align = 16
    loaded = b.load(v)
    lane = b.extract_element(loaded, ll.Constant(i32, 1))
    loaded = b.insert_element(loaded, b.load(element), ll.Constant(i32, 2))
    mask = ll.Constant(ll.VectorType(i32, 4), [3, 2, 1, 0])
    b.store(b.shuffle_vector(loaded, ll.Constant(vec, ll.Undefined), mask), v)
    b.store(ll.Constant(vec, None), v)
    b.store(ll.Constant(vec, [0.0, 1.0, 2.0, 3.0]), v)
    b.store(
        b.load(b.gep(lanes, [ll.Constant(i64, 0), ll.Constant(i64, 1)])), b.bitcast(count, f64.as_pointer())
    )
    whole = b.load(s)
    b.store(b.insert_value(whole, lane, 1), s)
    b.store(b.extract_value(whole, 0), count)
    b.atomic_rmw("add", counter, ll.Constant(i64, 1), "monotonic")
    old = b.cmpxchg(counter, ll.Constant(i64, 1), ll.Constant(i64, 2), "acq_rel", "acquire")
    b.store_atomic(b.load_atomic(counter, "acquire", 8), counter, "release", 8)
    flag = b.extract_value(old, [1])
    scope = module.add_metadata([module.add_metadata([])])
    b.load(b.gep(s, [ll.Constant(i32, 0), ll.Constant(i32, 1)])).set_metadata("tc.note", scope)
    b.store(b.select(flag, ll.Constant(i64, 3), ll.Constant(i64, 4)), b.bitcast(lanes, i64.as_pointer()))
    b.ret_void()


def _calls(ll: ModuleType, module: Any) -> None:
    i32, i64, f64, i8p = ll.IntType(32), ll.IntType(64), ll.DoubleType(), ll.IntType(8).as_pointer()
    printf = ll.Function(module, ll.FunctionType(i32, [i8p], var_arg=True), "printf")
    fabs = module.declare_intrinsic("llvm.fabs", [f64])
    memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
    cold = ll.Function(module, ll.FunctionType(ll.VoidType(), []), "cold_path")
    cold.attributes.add("cold")
    cold.attributes.add("noinline")
    fn = ll.Function(module, ll.FunctionType(f64, [i8p, f64]), "calls")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    b.call(printf, [fn.args[0], fn.args[1], ll.Constant(i64, 2)])
    b.call(memcpy, [fn.args[0], fn.args[0], ll.Constant(i64, 8), ll.Constant(ll.IntType(1), 0)])
    b.call(cold, [], tail=True)
    pair = b.smul_with_overflow(ll.Constant(i64, 3), ll.Constant(i64, 5))
    b.call(cold, [], attrs=["noinline"])
    y = b.call(fabs, [fn.args[1]], fastmath=["nnan", "fast"], name="y")
    b.call(printf, [fn.args[0]], arg_attrs={0: ["nocapture"]})
    b.ret(b.fadd(y, b.sitofp(b.extract_value(pair, 0), f64)))
    used = ll.GlobalVariable(module, ll.ArrayType(i8p, 1), "llvm.compiler.used")
    used.linkage = "appending"
    used.section = "llvm.metadata"
    used.initializer = ll.Constant(ll.ArrayType(i8p, 1), [fn.bitcast(i8p)])
    module.add_named_metadata("nvvm.annotations").add(
        module.add_metadata([fn, ll.MetaDataString(module, "kernel"), ll.Constant(i32, 1)])
    )


BUILDERS = [_arithmetic, _control, _memory, _calls]


def _build(ll: ModuleType, builders: list[Any]) -> str:
    module = ll.Module("test")
    module.triple = "x86_64-unknown-linux-gnu"
    for build in builders:
        build(ll, module)
    return str(module)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__.strip("_"))
def test_the_text_is_llvmlites(build: Any) -> None:
    ours, theirs = _build(llvm_ir, [build]), _build(llvmlite_ir, [build])
    for number, (line, want) in enumerate(zip(ours.splitlines(), theirs.splitlines(), strict=True)):
        assert line == want, f"line {number + 1}"
    assert ours == theirs


def test_llvm_reads_the_text() -> None:
    with parse_verified(_build(llvm_ir, BUILDERS)):
        pass


def test_names_are_made_unique_as_llvmlite_makes_them() -> None:
    module = llvm_ir.Module()
    fn = llvm_ir.Function(module, llvm_ir.FunctionType(llvm_ir.VoidType(), []), "f")
    blocks = [fn.append_basic_block("b") for _ in range(3)]
    assert [b.name for b in blocks] == ["b", "b.1", "b.2"]
    assert module.get_unique_name("f") == "f.1" and module.get_unique_name("g") == "g"
    with pytest.raises(NameError):
        llvm_ir.Function(module, llvm_ir.FunctionType(llvm_ir.VoidType(), []), "f")


def test_mismatched_operands_are_refused() -> None:
    module = llvm_ir.Module()
    fn = llvm_ir.Function(module, llvm_ir.FunctionType(llvm_ir.VoidType(), [llvm_ir.DoubleType()]), "f")
    b = llvm_ir.IRBuilder(fn.append_basic_block())
    with pytest.raises(ValueError, match="same type"):
        b.fadd(fn.args[0], llvm_ir.Constant(llvm_ir.FloatType(), 1.0))
    with pytest.raises(TypeError, match="mismatching"):
        b.store(fn.args[0], b.alloca(llvm_ir.IntType(64)))
    with pytest.raises(TypeError, match="arg mismatch"):
        b.call(fn, [llvm_ir.Constant(llvm_ir.IntType(64), 1)])


def test_kernel_parameters_are_read_from_their_types_text() -> None:
    """The GPU runtime reads a kernel's parameter types from their text (runtime/cuda.py)."""
    from tc.runtime.cuda import parameter_format

    f64, f32 = llvm_ir.DoubleType(), llvm_ir.FloatType()
    types = [f64.as_pointer(), f64, f32, llvm_ir.IntType(64), llvm_ir.IntType(32), llvm_ir.IntType(1)]
    assert parameter_format(types) == "Pdfqib"
