"""Targets (codegen_llvm/target.py): modules remember the target that made them, and what only
the host can do is refused, with a clear error, for a module of another target."""

from __future__ import annotations

import re

import pytest

from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.parallel import JOB_TYPE
from tc.codegen_llvm.scalar import MathLibrary
from tc.codegen_llvm.target import HostTarget, host_of, host_target, target_of
from tc.codegen_llvm.types import I8_PTR, I64
from tc.codegen_ptx import target as nvptx
from tc.codegen_ptx.grid import EMULATED, NVPTX, DeviceMath
from tc.ir import TcCompilationError


def test_the_host_makes_modules_for_itself() -> None:
    host = host_target()
    module = host.new_module("m")
    assert target_of(module) is host_of(module) is host
    assert module.triple == host.triple and module.data_layout == host.data_layout != ""
    assert "e-m:e" in module.data_layout  # an ELF little-endian layout, as LLVM gives it
    assert type(host.math(module)) is MathLibrary


def test_kernel_targets_make_modules_for_the_gpu_or_the_emulating_host() -> None:
    gpu = NVPTX.new_module("kernels")
    assert target_of(gpu) is NVPTX
    assert (gpu.triple, gpu.data_layout) == (nvptx.TRIPLE, nvptx.DATA_LAYOUT)
    assert isinstance(NVPTX.math(gpu), DeviceMath)
    emulated = EMULATED.new_module()
    assert target_of(emulated) is EMULATED and emulated.triple == host_target().triple
    assert not isinstance(EMULATED.math(emulated), DeviceMath)


def test_host_work_in_a_gpu_module_or_a_plain_module_is_refused() -> None:
    with pytest.raises(TcCompilationError, match="is for nvptx, not the host CPU"):
        host_of(NVPTX.new_module("kernels"))
    with pytest.raises(TcCompilationError, match="was not made by a target"):
        target_of(ll.Module(name="plain"))


def test_host_allocation_and_parallel_for_emit_their_calls() -> None:
    host = host_target()
    assert isinstance(host, HostTarget)
    module = host.new_module("m")
    fn = ll.Function(module, ll.FunctionType(ll.VoidType(), [I64]), "f")
    job = ll.Function(module, JOB_TYPE, "job")
    b = ll.IRBuilder(fn.append_basic_block())
    pointer = host.allocate(b, fn.args[0])
    args = b.alloca(I8_PTR, size=1)
    host.parallel_for(b, job, args, fn.args[0])
    host.parallel_for(b, job, args, fn.args[0], threads=I64(2))
    host.release(b, pointer)
    b.ret_void()
    text = str(module)
    for callee in ("malloc", "free", "tc_parallel_for", "tc_parallel_units"):
        assert re.search(rf'= call [^\n]*@"{callee}"\(|call void @"{callee}"\(', text), callee
    assert re.search(r"select\s+i1 %\S+, i64 1,", text)  # malloc(0) asks for one byte instead


def test_while_llvm_runs_the_gil_changes_hands_often_and_the_interval_comes_back() -> None:
    """codegen_llvm/jit.py's LLVM_LOCK: an LLVM job's many short llvmlite calls each wait for
    the GIL, so while one runs the switch interval is short; the user's comes back after,
    also when the lock is taken again by the thread that holds it."""
    import sys

    from tc.codegen_llvm.jit import LLVM_LOCK, LLVM_SWITCH_INTERVAL

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        with LLVM_LOCK:
            assert sys.getswitchinterval() == pytest.approx(LLVM_SWITCH_INTERVAL)
            with LLVM_LOCK:
                pass
            assert sys.getswitchinterval() == pytest.approx(LLVM_SWITCH_INTERVAL)
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(before)
