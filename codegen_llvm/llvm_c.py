"""LLVM through the C functions of llvmlite's shared library, bound here with ctypes.

llvmlite.binding is a Python layer over libllvmlite's `LLVMPY_*` functions, and importing it
declares the argument types of all of them (hundreds) before anything runs: 16-19 ms of
every compile in a new process, more than a scalar function's whole compile (the seed f's:
about 13 ms of passes, lowering and LLVM). tc's compile path asks LLVM for a dozen things
(parse, verify, optimise, print, emit code, describe the host), so it declares those
functions itself, against the library llvmlite ships, and loads nothing else of llvmlite's
binding. MCJIT (the loader's fallback, the GPU emulator) and the GPU target's module edits
still use llvmlite.binding; its objects pass to the functions here as they are (ctypes
takes their `_as_parameter_`).

The `LLVMPY_*` functions are llvmlite's own interface, which changes between its versions:
the declarations below are those of llvmlite 0.45-0.47 (SUPPORTED), the range pyproject.toml
asks for. Output strings are `char **` that the library allocates and LLVMPY_DisposeString
frees; every object made here is disposed of by its owner.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from ctypes import c_bool, c_char_p, c_int, c_size_t, c_uint, c_void_p
from typing import Any

from ..ir import TcCompilationError

# llvmlite versions (major, minor) whose LLVMPY_* functions have the signatures below.
SUPPORTED = ((0, 45), (0, 46), (0, 47))

_OUT = c_void_p  # a `char **` or other out-parameter, passed as byref(c_void_p())

# name: (result type, argument types)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "LLVMPY_GetVersionInfo": (c_uint, []),
    "LLVMPY_DisposeString": (None, [c_void_p]),
    "LLVMPY_InitializeNativeTarget": (c_int, []),
    "LLVMPY_InitializeNativeAsmPrinter": (c_int, []),
    "LLVMPY_GetHostCPUName": (None, [_OUT]),
    "LLVMPY_GetHostCPUFeatures": (c_int, [_OUT]),
    "LLVMPY_GetDefaultTargetTriple": (None, [_OUT]),
    "LLVMPY_GetTargetFromTriple": (c_void_p, [c_char_p, _OUT]),
    "LLVMPY_CreateTargetMachine": (
        c_void_p,
        [c_void_p, c_char_p, c_char_p, c_char_p, c_int, c_char_p, c_char_p, c_int, c_int, c_char_p],
    ),
    "LLVMPY_DisposeTargetMachine": (None, [c_void_p]),
    "LLVMPY_GetTargetMachineTriple": (None, [c_void_p, _OUT]),
    "LLVMPY_CreateTargetMachineData": (c_void_p, [c_void_p]),
    "LLVMPY_CopyStringRepOfTargetData": (None, [c_void_p, _OUT]),
    "LLVMPY_DisposeTargetData": (None, [c_void_p]),
    "LLVMPY_TargetMachineEmitToMemory": (c_void_p, [c_void_p, c_void_p, c_int, _OUT]),
    "LLVMPY_GetBufferStart": (c_void_p, [c_void_p]),
    "LLVMPY_GetBufferSize": (c_size_t, [c_void_p]),
    "LLVMPY_DisposeMemoryBuffer": (None, [c_void_p]),
    "LLVMPY_ContextCreate": (c_void_p, []),
    "LLVMPY_ContextDispose": (None, [c_void_p]),
    "LLVMPY_ParseAssembly": (c_void_p, [c_void_p, c_char_p, _OUT]),
    "LLVMPY_DisposeModule": (None, [c_void_p]),
    "LLVMPY_VerifyModule": (c_bool, [c_void_p, _OUT]),
    "LLVMPY_PrintModuleToString": (None, [c_void_p, _OUT]),
    "LLVMPY_CreatePipelineTuningOptions": (c_void_p, []),
    "LLVMPY_DisposePipelineTuningOptions": (None, [c_void_p]),
    "LLVMPY_CreatePassBuilder": (c_void_p, [c_void_p, c_void_p]),
    "LLVMPY_DisposePassBuilder": (None, [c_void_p]),
    "LLVMPY_buildPerModuleDefaultPipeline": (c_void_p, [c_void_p, c_int, c_int]),
    "LLVMPY_RunNewModulePassManager": (None, [c_void_p, c_void_p, c_void_p]),
    "LLVMPY_DisposeNewModulePassManger": (None, [c_void_p]),  # (llvmlite's spelling)
}


class LlvmError(TcCompilationError, RuntimeError):
    """LLVM refused something: IR that does not parse or verify, a target it lacks."""


class _Library:
    """libllvmlite's functions, each declared when first asked for. The library is loaded once,
    by whichever thread first asks, with the host's target and assembly printer registered
    (LLVM's registry is no place for two threads)."""

    def __init__(self) -> None:
        self._dll: ctypes.CDLL | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._dll is None:
            with self._lock:
                if self._dll is None:
                    dll = ctypes.CDLL(library_path())
                    dll.LLVMPY_InitializeNativeTarget()
                    dll.LLVMPY_InitializeNativeAsmPrinter()
                    self._dll = dll
        function = getattr(self._dll, name)
        function.restype, function.argtypes = _SIGNATURES[name]
        setattr(self, name, function)
        return function


def library_path() -> str:
    """The path of llvmlite's shared library: TcCompilationError for an llvmlite whose C
    functions are not the ones declared here."""
    import llvmlite

    found = tuple(int(part) for part in llvmlite.__version__.split(".")[:2] if part.isdigit())
    if found not in SUPPORTED:
        raise TcCompilationError(
            f"tc calls LLVM through llvmlite {SUPPORTED[0][1]}-{SUPPORTED[-1][1]} (0.x), whose "
            f"C functions it declares; found llvmlite {llvmlite.__version__}: "
            "pip install 'llvmlite>=0.45,<0.48'"
        )
    name = {"win32": "llvmlite.dll", "darwin": "libllvmlite.dylib"}.get(sys.platform, "libllvmlite.so")
    return os.path.join(os.path.dirname(llvmlite.__file__), "binding", name)


lib = _Library()


def _taken_string(out: c_void_p) -> str:
    """The string LLVM wrote into `out` (empty if none), freed."""
    if not out.value:
        return ""
    try:
        return ctypes.string_at(out.value).decode("utf-8", "replace")
    finally:
        lib.LLVMPY_DisposeString(out)


def _asked(function: Any, *args: Any) -> str:
    out = c_void_p()
    function(*args, ctypes.byref(out))
    return _taken_string(out)


def version() -> tuple[int, int, int]:
    """The version of the LLVM libllvmlite was built with."""
    packed = lib.LLVMPY_GetVersionInfo()
    return packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF


def load() -> None:
    """Load LLVM, with the host's target and assembly printer (needed before code is made)."""
    lib.LLVMPY_GetVersionInfo  # noqa: B018


def host_cpu_name() -> str:
    return _asked(lib.LLVMPY_GetHostCPUName)


def host_cpu_features() -> str:
    """The host CPU's features as LLVM names them, sorted: "+avx2,-avx512f,..."."""
    out = c_void_p()
    if not lib.LLVMPY_GetHostCPUFeatures(ctypes.byref(out)):
        _taken_string(out)
        return ""
    features = [f for f in _taken_string(out).split(",") if f]
    return ",".join(sorted(features, key=lambda feature: feature[1:]))


def default_triple() -> str:
    return _asked(lib.LLVMPY_GetDefaultTargetTriple)


class TargetMachine:
    """LLVM's code generator for one target (triple, CPU, features, optimisation level)."""

    def __init__(
        self, triple: str, cpu: str, features: str, opt: int, reloc: str = "pic", codemodel: str = "small"
    ) -> None:
        error = c_void_p()
        target = lib.LLVMPY_GetTargetFromTriple(triple.encode(), ctypes.byref(error))
        message = _taken_string(error)
        if not target:
            raise LlvmError(f"LLVM has no target for {triple!r}: {message}")
        self._as_parameter_ = lib.LLVMPY_CreateTargetMachine(
            target, triple.encode(), cpu.encode(), features.encode(), opt, reloc.encode(),
            codemodel.encode(), 0, 0, b"",
        )  # fmt: skip
        if not self._as_parameter_:
            raise LlvmError(f"LLVM made no target machine for {triple!r}, CPU {cpu!r}")

    def __del__(self) -> None:
        if getattr(self, "_as_parameter_", None):
            lib.LLVMPY_DisposeTargetMachine(self._as_parameter_)

    @property
    def triple(self) -> str:
        return _asked(lib.LLVMPY_GetTargetMachineTriple, self)

    @property
    def data_layout(self) -> str:
        data = lib.LLVMPY_CreateTargetMachineData(self)
        try:
            return _asked(lib.LLVMPY_CopyStringRepOfTargetData, data)
        finally:
            lib.LLVMPY_DisposeTargetData(data)

    def emit_object(self, module: Any) -> bytes:
        """`module`'s code as a relocatable object file."""
        return self._emit(module, True)

    def emit_assembly(self, module: Any) -> str:
        return self._emit(module, False).decode()

    def _emit(self, module: Any, use_object: bool) -> bytes:
        error = c_void_p()
        buffer = lib.LLVMPY_TargetMachineEmitToMemory(self, module, int(use_object), ctypes.byref(error))
        message = _taken_string(error)
        if not buffer:
            raise LlvmError(f"LLVM emitted no code: {message}")
        try:
            return ctypes.string_at(lib.LLVMPY_GetBufferStart(buffer), lib.LLVMPY_GetBufferSize(buffer))
        finally:
            lib.LLVMPY_DisposeMemoryBuffer(buffer)


class ParsedModule:
    """LLVM IR text parsed into a context of its own: constants, types and metadata that LLVM
    interns in a context live as long as it, so in a shared one every compile left a few KiB.
    Close it (or use it as a context manager) to free both."""

    def __init__(self, text: str) -> None:
        self._module: int | None = None
        self._context: int | None = lib.LLVMPY_ContextCreate()
        try:
            self._module = self._parse(text)
        except LlvmError:
            self.close()
            raise

    def _parse(self, text: str) -> int:
        error = c_void_p()
        module = lib.LLVMPY_ParseAssembly(self._context, text.encode(), ctypes.byref(error))
        message = _taken_string(error)
        if not module:
            raise LlvmError(f"LLVM IR parsing error\n{message}")
        return int(module)

    def verify(self) -> None:
        error = c_void_p()
        failed = lib.LLVMPY_VerifyModule(self, ctypes.byref(error))
        message = _taken_string(error)
        if failed:
            raise LlvmError(message)

    def optimize(self, tm: TargetMachine | Any, speed_level: int) -> None:
        """Run LLVM's default O`speed_level` pipeline for `tm` over this module."""
        optimize(self, tm, speed_level)

    def __str__(self) -> str:
        return _asked(lib.LLVMPY_PrintModuleToString, self)

    @property
    def _as_parameter_(self) -> int:
        """The module, as ctypes passes it (a closed one is refused: LLVM would crash on it)."""
        if not self._module:
            raise LlvmError("the LLVM module was closed")
        return self._module

    def close(self) -> None:
        if getattr(self, "_module", None):
            lib.LLVMPY_DisposeModule(self._module)
            self._module = None
        if getattr(self, "_context", None):
            lib.LLVMPY_ContextDispose(self._context)
            self._context = None

    def __enter__(self) -> ParsedModule:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def optimize(module: Any, tm: Any, speed_level: int) -> None:
    """Run LLVM's default O`speed_level` pipeline for `tm` over `module` (a ParsedModule, or an
    llvmlite ModuleRef with an llvmlite TargetMachine: the GPU target's). The pass builder is
    made afresh for each run: every run registers callbacks into it that point at the run's
    own stack, and reusing one would make each later run slower."""
    options = lib.LLVMPY_CreatePipelineTuningOptions()
    builder = lib.LLVMPY_CreatePassBuilder(tm, options)
    manager = lib.LLVMPY_buildPerModuleDefaultPipeline(builder, speed_level, 0)
    try:
        lib.LLVMPY_RunNewModulePassManager(manager, module, builder)
    finally:
        lib.LLVMPY_DisposeNewModulePassManger(manager)
        lib.LLVMPY_DisposePassBuilder(builder)
        lib.LLVMPY_DisposePipelineTuningOptions(options)
