"""codegen_llvm/llvm_c.py: tc's own declarations of libllvmlite's C functions, checked against
what llvmlite.binding says of the same LLVM."""

from __future__ import annotations

import ctypes

import llvmlite
import llvmlite.binding as llvm
import pytest

from tc.codegen_llvm import llvm_c
from tc.codegen_llvm.jit import host_cpu, host_features, host_target_machine, host_triple
from tc.ir import TcCompilationError

ADD = """
define i32 @add(i32 %a, i32 %b) {
  %sum = add i32 %a, %b
  ret i32 %sum
}

define i32 @five() {
  %x = call i32 @add(i32 2, i32 3)
  ret i32 %x
}
"""


def test_the_host_is_described_as_llvmlite_describes_it() -> None:
    llvm.initialize_native_target()
    assert llvm_c.version() == llvm.llvm_version_info
    assert llvm_c.default_triple() == llvm.get_default_triple()
    assert llvm_c.host_cpu_name() == llvm.get_host_cpu_name()
    assert llvm_c.host_cpu_features() == llvm.get_host_cpu_features().flatten()
    ours = host_target_machine()
    theirs = llvm.Target.from_triple(host_triple()).create_target_machine(
        cpu=host_cpu()[0], features=host_features(), opt=3, codemodel="small", reloc="pic"
    )
    assert ours.triple == theirs.triple
    assert ours.data_layout == str(theirs.target_data)


def test_a_module_parses_optimises_prints_and_emits() -> None:
    tm = host_target_machine()
    with llvm_c.ParsedModule(ADD) as module:
        module.verify()
        module.optimize(tm, 2)
        text = str(module)
        assert "ret i32 5" in text  # the call inlined and folded
        data = tm.emit_object(module)
        assembly = tm.emit_assembly(module)
    assert data.startswith(b"\x7fELF")
    assert "five:" in assembly


def test_bad_ir_raises_a_compilation_error_with_llvms_words() -> None:
    with pytest.raises(TcCompilationError, match="parsing error"):
        llvm_c.ParsedModule("define i32 @f( {")
    unverifiable = "define i32 @f() {\n  ret i64 1\n}"
    with pytest.raises(TcCompilationError):
        llvm_c.ParsedModule(unverifiable)  # (LLVM's parser checks types)
    dominance = "define i32 @f() {\nentry:\n  %a = add i32 %b, 1\n  %b = add i32 %a, 1\n  ret i32 %a\n}"
    with llvm_c.ParsedModule(dominance) as module, pytest.raises(llvm_c.LlvmError, match="dominate"):
        module.verify()


def test_a_closed_module_is_refused_not_crashed_on() -> None:
    module = llvm_c.ParsedModule(ADD)
    module.close()
    module.close()
    refused = (llvm_c.LlvmError, ctypes.ArgumentError)  # (ctypes wraps what its argument raised)
    with pytest.raises(refused, match="closed"):
        str(module)
    with pytest.raises(refused, match="closed"):
        host_target_machine().emit_object(module)


def test_llvmlites_own_objects_optimise_through_it() -> None:
    """The GPU target optimises llvmlite.binding modules with its own target machines."""
    llvm.initialize_native_target()
    module = llvm.parse_assembly(ADD)
    tm = llvm.Target.from_triple(host_triple()).create_target_machine(opt=2)
    llvm_c.optimize(module, tm, 2)
    assert "ret i32 5" in str(module)


def test_an_llvmlite_of_other_c_functions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llvmlite, "__version__", "0.44.0")
    with pytest.raises(TcCompilationError, match="found llvmlite 0.44.0"):
        llvm_c.library_path()
