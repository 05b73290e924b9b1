"""Compiled .tx modules: `tc.compile_file` (JIT), `tc compile` artifacts, and `tc.load`.

A module object has the file's functions as attributes (also `module["name"]`
and `module.functions`) and its shared variables in `module.shared`; all of a
module's functions share those variables, as Theano functions built on the
same `tc.shared` do.

An artifact is a directory:

    manifest.json     format and tc version, target (triple, CPU, features),
                      functions and signatures, globals, the IR as built
                      ("tir") and as compiled ("tir-opt"), the object's hash
    code.o            the native code: a relocatable ELF object that MCJIT
                      loads and links in process (our "shared object")
    shared/NAME.npy   each shared variable's initial value

`tc.load` rebuilds the calling conventions and shape plans from the compiled
IR text and maps the object; it runs no LLVM compilation. Every file the
manifest names must lie inside the artifact directory, and the object's ELF
structure is checked before it is linked in (codegen_llvm/elfcheck.py); its
code still runs in the process, so an artifact is trusted like a module.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifact_manifest import (
    FORMAT,
    FORMAT_VERSION,
    ArtifactError,
    check_target,
    read_global,
    read_manifest,
    read_object,
    tc_version,
)
from .callables import StageTexts, make_functions
from .codegen_llvm import entry_symbol
from .codegen_llvm.elfcheck import ObjectCodeError
from .codegen_llvm.loader import load_object
from .codegen_llvm.symbols import EntryPoint
from .compile import default_updates, optimize, optimize_module, shape_plan, shared
from .frontend.lower import build_function
from .frontend.shared import SharedVariable
from .frontend.tx.errors import SourceFile, SourceFileError
from .frontend.tx.lowering import Hooks, Program, TxFunction, lower_source
from .ir import Global, Module, TcError, TcParseError, TcValueError, parse_module, verify_module
from .ir.attributes import SymbolRef
from .ir.calling import calling_convention
from .object_cache import native_code
from .optimized import OptimizedModule

OBJECT_FILE = "code.o"
PTX_FILE = "kernels.ptx"
CUDA_ARCHITECTURE = "sm_80"  # PTX is forward compatible: sm_80 code runs on sm_90 GPUs


class TxModule:
    """A compiled .tx file. Functions are attributes; `shared` maps names to shared variables."""

    def __init__(
        self,
        name: str,
        origin: str,
        functions: dict[str, Callable[..., Any]],
        shared_variables: dict[str, SharedVariable],
        stages: dict[str, str],
    ) -> None:
        self.name = name
        self.origin = origin  # the .tx file or the artifact directory
        self.functions = functions
        self.shared = shared_variables
        self._stages = stages

    def __getattr__(self, name: str) -> Callable[..., Any]:
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(f"tc module '{self.__dict__.get('name')}' has no function '{name}'")

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in self.functions:
            known = ", ".join(self.functions) or "none"
            raise KeyError(f"tc module '{self.name}' has no function '{name}' (functions: {known})")
        return self.functions[name]

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self.functions]

    def dump(self, stage: str = "tir-opt") -> str:
        """The whole module's text at one stage (tir, tir-opt, and for JIT modules llvm, llvm-opt, asm)."""
        if stage not in self._stages:
            raise TcValueError(f"unknown stage '{stage}'; stages: {', '.join(self._stages)}")
        return self._stages[stage]

    def __repr__(self) -> str:
        return f"<tc module '{self.name}' from '{self.origin}': {', '.join(self.functions)}>"


@dataclass
class BuiltFile:
    """A .tx file lowered to one IR module whose functions share its globals."""

    program: Program
    module: Module
    buffers: dict[str, Any]  # global symbol -> SharedBuffer
    variables: dict[str, SharedVariable]  # global symbol -> shared variable
    single_output: dict[str, bool] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.program.source.name).stem


def read_source(path: str | os.PathLike[str]) -> SourceFile:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SourceFileError(f"cannot read '{path}': {err.strerror or err}") from err
    return SourceFile.from_bytes(str(path), data, Path(path).resolve().parent)  # non-UTF-8: located


def build_file(
    path: str | os.PathLike[str], source: SourceFile | None = None, functions: Collection[str] | None = None
) -> BuiltFile:
    """Parse, check and lower a .tx file to one IR module (no passes, no code); with
    `functions`, only the functions so named."""
    source = source or read_source(path)
    program = lower_source(source, Hooks(_make_shared, _random_hook()), functions)
    module = Module()
    symbols: dict[SharedVariable, str] = {}
    built = BuiltFile(program, module, {}, {})

    def add_global(variable: SharedVariable, wanted: str) -> str:
        symbol = _unique(wanted, {g.name for g in module.globals})
        symbols[variable] = symbol
        module.globals.append(Global(symbol, variable.type))
        built.buffers[symbol] = variable.container
        built.variables[symbol] = variable
        return symbol

    for name, variable in program.shared.items():
        add_global(variable, name)
    for fn in program.functions:
        lowered = _build_function(fn)
        renames = {}
        for symbol, variable in lowered.shared.items():
            mine = symbols.get(variable) or add_global(variable, symbol)
            if mine != symbol:
                renames[symbol] = mine
        function = lowered.module.functions[0]
        _rename_globals(function.walk(), renames)
        function.location = fn.location
        module.functions.append(function)
        built.single_output[fn.name] = fn.single_output
    verify_module(module)
    return built


def compile_file(
    path: str | os.PathLike[str],
    opt_level: int = 3,
    allow_input_downcast: bool = False,
    functions: Collection[str] | None = None,
    profile: bool = False,
) -> TxModule:
    """Compile a .tx file to native code in this process; a module of its functions (or of
    those named in `functions`: the others are neither checked nor compiled). `profile`:
    each function's `profile` records where its calls' time goes (runtime/profile.py)."""
    built = build_file(path, functions=functions)
    optimized = optimize(built.module)
    stages = StageTexts(optimized.texts)
    functions: dict[str, Callable[..., Any]] = {}
    if built.module.functions:
        native = native_code(optimized.module, stages["tir-opt"], opt_level, profile)
        stages.include(native.stages)  # read when asked for (quick code's optimised text comes later)
        functions.update(
            make_functions(
                optimized.module,
                native,
                optimized.plans,
                stages,
                built.single_output,
                allow_input_downcast,
                built.buffers,
                compiled_by="tc.compile_file",
                profile=profile,
            )
        )
    return _module(built.name, str(path), built.program, functions, built.program.shared, stages)


def _module(
    name: str,
    origin: str,
    program: Program | None,
    compiled: dict[str, Callable[..., Any]],
    variables: dict[str, SharedVariable],
    stages: dict[str, str],
) -> TxModule:
    """The module object, its functions in source order."""
    order = [fn.name for fn in program.functions] if program else list(compiled)
    functions: dict[str, Callable[..., Any]] = {n: compiled[n] for n in order if n in compiled}
    return TxModule(name, origin, functions, variables, stages)


# -- artifacts -------------------------------------------------------------------------------


def compile_artifact(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    opt_level: int = 3,
    target: str = "cpu",
    architecture: str = CUDA_ARCHITECTURE,
) -> Path:
    """Compile a .tx file ahead of time into the artifact directory `output`: native code for
    this CPU (`target="cpu"`), or PTX for GPUs of `architecture` and newer (`target="cuda"`)."""
    source = read_source(path)
    built = build_file(path, source)
    stages, _ = optimize_module(built.module)
    if target == "cuda":
        from .compile_cuda import module_ptx

        data = module_ptx(built.module, architecture).encode()
        target_entry: dict[str, Any] = {"kind": "cuda", "architecture": architecture}
        code_file = PTX_FILE
    else:
        from .codegen_llvm.objectcode import emit_object  # loads LLVM: only to build

        code = emit_object(built.module, opt_level)
        data = code.data
        target_entry = {
            "kind": "cpu",
            "triple": code.target.triple,
            "cpu": code.target.cpu,
            "features": code.target.features,
            "opt_level": opt_level,
        }
        code_file = OBJECT_FILE
    functions = []
    for function in built.module.functions:
        convention = calling_convention(built.module, function)
        functions.append(
            {
                "name": function.name,
                "symbol": entry_symbol(function.name),
                "inputs": [{"name": a.name, "type": str(a.type)} for a in function.args],
                "outputs": [str(t) for t in function.result_types],
                "single_output": built.single_output[function.name],
                "globals": list(convention.globals),
            }
        )
    files = _value_files(built.module.globals)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tc_version": tc_version(),
        "name": built.name,
        "source": {"path": str(path), "sha256": hashlib.sha256(source.text.encode()).hexdigest()},
        "target": target_entry,
        "object": {"file": code_file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
        "functions": functions,
        "globals": [
            {
                "name": g.name,
                "type": str(g.type),
                "dtype": g.type.dtype.theano_name,
                "shape": list(built.buffers[g.name].get(borrow=True).shape),
                "file": files[g.name],
            }
            for g in built.module.globals
        ],
        "ir": {"tir": stages["tir"], "tir-planned": stages["tir-planned"], "tir-opt": stages["tir-opt"]},
    }
    return _write_directory(Path(output), manifest, code_file, data, built.buffers, files)


def _write_directory(
    output: Path,
    manifest: dict[str, Any],
    code_file: str,
    code: bytes,
    buffers: dict[str, Any],
    files: dict[str, str],
) -> Path:
    """Write into a fresh sibling directory, then swap it in: a reader never sees half an artifact."""
    if output.exists() and not (output / "manifest.json").exists() and any(output.iterdir()):
        raise ArtifactError(f"'{output}' exists and is not a tc artifact; refusing to overwrite it")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "shared").mkdir(parents=True)
    (staging / code_file).write_bytes(code)
    for symbol, file in files.items():
        np.save(staging / file, buffers[symbol].get(borrow=True), allow_pickle=False)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    old = output.parent / f".{output.name}.old-{os.getpid()}"
    if output.exists():
        output.rename(old)
    staging.rename(output)
    shutil.rmtree(old, ignore_errors=True)
    return output


def load(path: str | os.PathLike[str], allow_input_downcast: bool = False) -> TxModule:
    """Load an artifact written by `tc compile`; runs no LLVM compilation. Its functions
    convert arguments as `tc.function`'s do (`allow_input_downcast` as there).

    Loading an artifact links its native code into this process and runs it
    when its functions are called, as importing a Python module runs that
    module's code: load only artifacts from a source you trust. What is
    checked protects against damage, not against a crafted artifact: the
    manifest's format and target, every file it names staying inside the
    artifact directory (ArtifactError naming the entry otherwise), the
    object's hash and ELF structure, and the shared values' types.
    """
    directory = Path(path)
    if directory.name == "manifest.json":
        directory = directory.parent
    manifest = read_manifest(directory)
    try:
        return _load(directory, manifest, allow_input_downcast)
    except TcError:
        raise
    # A manifest missing a field, or holding one of the wrong type.
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise ArtifactError(f"'{directory}' is a corrupt tc artifact: {type(err).__name__}: {err}") from err


def _load(directory: Path, manifest: dict[str, Any], allow_input_downcast: bool) -> TxModule:
    cuda = manifest["target"].get("kind") == "cuda"
    if not cuda:
        check_target(directory, manifest["target"])
    code = read_object(directory, manifest["object"])
    try:
        module = parse_module(manifest["ir"]["tir-opt"], f"{directory}/manifest.json")
        # Shape plans come from the IR before fusion, where each size's computation is visible.
        planned = parse_module(manifest["ir"]["tir-planned"], f"{directory}/manifest.json")
    except TcParseError as err:
        raise ArtifactError(f"'{directory}': the compiled IR in manifest.json does not parse: {err}") from err
    variables: dict[str, SharedVariable] = {}
    for entry in manifest["globals"]:
        variables[entry["name"]] = read_global(directory, entry, module)
    stages = {key: manifest["ir"][key] for key in ("tir", "tir-planned", "tir-opt")}
    plans = {f.name: shape_plan(planned, f) for f in planned.functions}
    single = {f["name"]: bool(f["single_output"]) for f in manifest["functions"]}
    buffers = {name: variable.container for name, variable in variables.items()}
    if cuda:
        compiled_for_gpu = _load_cuda(
            directory, manifest, module, code, (stages, plans, single, buffers), allow_input_downcast
        )
        name = manifest.get("name", directory.name)
        return _module(name, str(directory), None, compiled_for_gpu, variables, stages)
    entries = {
        f.name: EntryPoint(entry_symbol(f.name), calling_convention(module, f).slot_ranks)
        for f in module.functions
    }
    try:
        native = load_object(code, entries, stages)
    except ObjectCodeError as err:
        raise ArtifactError(f"'{directory}': {manifest['object']['file']} is not loadable: {err}") from err
    compiled = make_functions(
        OptimizedModule.of(module),
        native,
        plans,
        stages,
        single,
        allow_input_downcast,
        buffers,
        native_entries=False,
        compiled_by="tc.load",
    )
    name = manifest.get("name", directory.name)
    return _module(name, str(directory), None, compiled, variables, stages)


def _load_cuda(
    directory: Path,
    manifest: dict[str, Any],
    module: Module,
    ptx: bytes,
    parts: tuple[dict[str, str], dict[str, Any], dict[str, bool], dict[str, Any]],
    allow_input_downcast: bool,
) -> dict[str, Any]:
    """A cuda artifact's functions: its PTX loaded on this machine's GPU (nothing compiled).
    `parts`: the stages, shape plans, single-output flags and shared buffers."""
    stages, plans, single, buffers = parts
    from tc.codegen_ptx.target import ARCHITECTURES, architecture_for
    from tc.runtime.cuda import cuda_context

    from .compile_cuda import cuda_functions

    built_for = manifest["target"].get("architecture")
    if built_for not in ARCHITECTURES:
        raise ArtifactError(
            f"'{directory}' was compiled for cuda {built_for!r}, an architecture tc does not know"
        )
    try:
        runs = architecture_for(cuda_context().compute_capability)
    except TcError as err:
        raise ArtifactError(f"'{directory}' was compiled for cuda ({built_for}); {err}") from err
    if int(built_for[3:]) > int(runs[3:]):
        raise ArtifactError(f"'{directory}' was compiled for {built_for}; this GPU runs code up to {runs}")
    return cuda_functions(  # type: ignore[return-value]
        module, stages, plans, single, allow_input_downcast, buffers, ptx=ptx.decode(), compiled_by="tc.load"
    )


# -- helpers ---------------------------------------------------------------------------------


def _make_shared(value: np.ndarray, name: str) -> SharedVariable:
    return shared(value, name)


def _random_hook() -> Callable[[int | None], Any]:
    """The factory of random streams that `random rng(seed = N)` declarations use."""
    from .random import RandomStreams

    def make_random(seed: int | None) -> Any:
        return RandomStreams() if seed is None else RandomStreams(seed)

    return make_random


def _build_function(fn: TxFunction) -> Any:
    """`tc.function`'s front half for one .tx function: default updates, then lowering."""
    roots = [*fn.outputs, *(e for _, e in fn.updates), *(e for _, e in fn.givens)]
    updates = list(fn.updates) + default_updates(roots, fn.updates, fn.no_default_updates)
    return build_function(fn.name, fn.inputs, fn.outputs, updates, fn.givens)


def _rename_globals(ops: Iterable[Any], renames: dict[str, str]) -> None:
    if not renames:
        return
    for op in ops:
        for key, attribute in op.attributes.items():
            if isinstance(attribute, SymbolRef) and attribute.name in renames:
                op.attributes[key] = SymbolRef(renames[attribute.name])


def _unique(name: str, taken: set[str]) -> str:
    symbol, suffix = name, 0
    while symbol in taken:
        suffix += 1
        symbol = f"{name}_{suffix}"
    return symbol


def _value_files(globals_: list[Global]) -> dict[str, str]:
    files: dict[str, str] = {}
    used: set[str] = set()
    for g in globals_:
        stem = _unique(re.sub(r"[^A-Za-z0-9_.-]", "_", g.name), used)
        used.add(stem)
        files[g.name] = f"shared/{stem}.npy"
    return files
