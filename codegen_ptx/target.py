"""The NVPTX target: LLVM IR kernels -> PTX text, with libdevice for math.

Kernels are built with codegen_llvm/llvm_ir for the triple `nvptx64-nvidia-cuda`,
marked as kernels through `nvvm.annotations`, linked with libdevice (the
`__nv_*` math functions) when they call it, and optimised at O3 with every
non-kernel symbol internalised, so the unused part of libdevice is dropped
(otherwise a small kernel's PTX is 700 KB). PTX is text: it needs no GPU to
be produced or checked (`ptxas -arch=sm_90`, see `assemble`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import llvmlite.binding as llvm

from ..codegen_llvm import llvm_ir as ll
from ..codegen_llvm.module_text import module_text
from ..ir import TcCompilationError

TRIPLE = "nvptx64-nvidia-cuda"
DATA_LAYOUT = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
# The PTX ISA each architecture is emitted for: the oldest that the CUDA 12/13 drivers load.
ARCHITECTURES = {"sm_80": "+ptx75", "sm_86": "+ptx75", "sm_89": "+ptx78", "sm_90": "+ptx80"}
DEFAULT_ARCHITECTURE = "sm_90"


def mark_kernel(module: ll.Module, fn: ll.Function) -> None:
    """List `fn` in `nvvm.annotations` as a kernel (a `.entry` in PTX)."""
    annotations = module.get_named_metadata("nvvm.annotations") if _has_named(module) else None
    if annotations is None:
        annotations = module.add_named_metadata("nvvm.annotations")
    annotations.add(
        module.add_metadata([fn, ll.MetaDataString(module, "kernel"), ll.Constant(ll.IntType(32), 1)])
    )


def _has_named(module: ll.Module) -> bool:
    return "nvvm.annotations" in module.namedmetadata


def architecture_for(compute_capability: tuple[int, int]) -> str:
    """The newest architecture tc emits that a device of this compute capability runs."""
    wanted = compute_capability[0] * 10 + compute_capability[1]
    known = sorted((int(a[3:]), a) for a in ARCHITECTURES)
    fitting = [a for number, a in known if number <= wanted]
    if not fitting:
        raise TcCompilationError(
            f"tc's GPU code needs compute capability 8.0 or newer; this device has "
            f"{compute_capability[0]}.{compute_capability[1]}"
        )
    return fitting[-1]


def toolkit_roots() -> list[Path]:
    """Where a CUDA toolkit may be: $CUDA_HOME, $CUDA_PATH, /usr/local/cuda*."""
    roots = [Path(os.environ[v]) for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    roots += sorted(Path("/usr/local").glob("cuda*"), reverse=True)
    return [r for r in roots if r.is_dir()]


@functools.lru_cache(maxsize=1)
def find_libdevice() -> Path | None:
    """libdevice.10.bc: $TC_LIBDEVICE, a toolkit's nvvm/libdevice, or the nvidia-cuda-nvcc wheel."""
    configured = os.environ.get("TC_LIBDEVICE")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    candidates = [root / "nvvm" / "libdevice" / "libdevice.10.bc" for root in toolkit_roots()]
    try:
        import nvidia.cuda_nvcc as wheel  # type: ignore[import-not-found]

        candidates += [Path(p) / "nvvm" / "libdevice" / "libdevice.10.bc" for p in wheel.__path__]
    except ImportError:
        pass
    return next((c for c in candidates if c.is_file()), None)


@functools.lru_cache(maxsize=1)
def _libdevice_bitcode() -> bytes:
    path = find_libdevice()
    if path is None:
        raise TcCompilationError(
            "the GPU's math functions come from libdevice (libdevice.10.bc), which was not found: "
            "install the CUDA toolkit (or `pip install nvidia-cuda-nvcc`), or set TC_LIBDEVICE to its path"
        )
    return path.read_bytes()


@functools.lru_cache(maxsize=1)
def _initialize() -> None:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()


def target_machine(architecture: str = DEFAULT_ARCHITECTURE) -> llvm.TargetMachine:
    _initialize()
    if architecture not in ARCHITECTURES:
        raise TcCompilationError(
            f"unknown GPU architecture {architecture!r}; tc emits {sorted(ARCHITECTURES)}"
        )
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu=architecture, features=ARCHITECTURES[architecture], opt=3)


def compile_ptx(
    module: ll.Module, kernels: list[str], architecture: str = DEFAULT_ARCHITECTURE
) -> tuple[str, str]:
    """(optimised LLVM IR, PTX) of `module`, whose entry points are `kernels`."""
    from ..codegen_llvm.jit import LLVM_LOCK
    from ..codegen_llvm.llvm_c import optimize

    text = module_text(module)
    with LLVM_LOCK:
        tm = target_machine(architecture)
        context = llvm.create_context()
        try:
            parsed = llvm.parse_assembly(text, context=context)
            parsed.verify()
        except RuntimeError as err:
            raise TcCompilationError(f"LLVM rejected the generated GPU kernel IR: {err}") from err
        if any(f.is_declaration and f.name.startswith("__nv_") for f in parsed.functions):
            library = llvm.parse_bitcode(_libdevice_bitcode(), context=context)
            library.triple = TRIPLE
            library.data_layout = DATA_LAYOUT
            parsed.link_in(library)
        keep = set(kernels)
        for fn in parsed.functions:
            if not fn.is_declaration and fn.name not in keep:
                fn.linkage = "internal"
        for glob in parsed.global_variables:
            if not glob.is_declaration and not glob.name.startswith("llvm."):
                glob.linkage = "internal"
        optimize(parsed, tm, 3)
        optimized = str(parsed)
        ptx = tm.emit_assembly(parsed)
    return optimized, ptx


def find_ptxas() -> str | None:
    found = shutil.which("ptxas")
    if found:
        return found
    for root in toolkit_roots():
        candidate = root / "bin" / "ptxas"
        if candidate.is_file():
            return str(candidate)
    return None


def assemble(ptx: str, architecture: str = DEFAULT_ARCHITECTURE) -> None:
    """Check PTX with ptxas (no GPU needed); TcCompilationError with ptxas's message if it fails."""
    ptxas = find_ptxas()
    if ptxas is None:
        raise FileNotFoundError("ptxas (from the CUDA toolkit) is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "kernels.ptx"
        source.write_text(ptx)
        done = subprocess.run(
            [ptxas, f"-arch={architecture}", str(source), "-o", str(Path(tmp) / "kernels.cubin")],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise TcCompilationError(f"ptxas rejected the PTX: {done.stderr.strip()}")
