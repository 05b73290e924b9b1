"""The support library: native code every compiled module calls, compiled once per process.

It holds the thread pool (thread_pool.py), the runtime's packed call (packed_call.py) and
the products for float32 and float64: each dtype's tc_dot (linalg.py), which every tx.dot
calls, and tc_gemm (gemm_update.py), which every tx.gemm calls, and tc's own product
kernels they choose among (small_gemm.py, narrow_gemm.py, outer_gemm.py), whose
register tiles the convolutions also call (tc_tiles_<dtype>). They do not depend on the
function being compiled, so compiling them into every module (about
0.15 s of LLVM for the kernels, 0.3 s more for tc_dot) would be waste: the runtime compiles
each part (the packed call; the pool; the products of one dtype) the first time a loaded
module needs it (a function of scalars needs only the packed call, not the pool),
or loads it from the compile cache, never frees it (the pool's workers run its code),
and writes its functions' addresses into each loaded module's globals named in
LIBRARY_GLOBALS, as it does for BLAS. A module reaches a kernel through `library_function`.
"""

from __future__ import annotations

from ..ir import DType
from . import llvm_ir as ll
from .gemm_update import GEMM_TYPE, SMALL_GEMM_UPDATE_TYPE, gemm_function, small_gemm_update_function
from .linalg import DOT_TYPE, dot_function
from .module_text import module_text
from .narrow_gemm import NARROW_GEMM_TYPE, narrow_gemm_function
from .outer_gemm import OUTER_GEMM_TYPE, outer_gemm_function
from .packed_call import add_packed_call
from .parallel import module_global
from .small_gemm import SMALL_GEMM_TYPE, TILES_TYPE, small_gemm_function, tiles_function
from .symbols import LIBRARY_GLOBALS
from .target import HostTarget, host_target
from .thread_pool import RUN_TYPE, add_pool
from .types import I8_PTR

KERNELS = {
    "small_gemm": (SMALL_GEMM_TYPE, small_gemm_function),
    "tiles": (TILES_TYPE, tiles_function),  # the convolutions' (conv_tiles.py)
    "narrow_gemm": (NARROW_GEMM_TYPE, narrow_gemm_function),
    "outer_gemm": (OUTER_GEMM_TYPE, outer_gemm_function),
    "dot": (DOT_TYPE, dot_function),  # after the kernels it calls
    "small_gemm_update": (SMALL_GEMM_UPDATE_TYPE, small_gemm_update_function),
    "gemm": (GEMM_TYPE, gemm_function),  # tx.gemm's (gemm_update.py): after what it calls
}
TYPES = {"tc_pool_run": RUN_TYPE} | {
    f"tc_{kind}_{dtype.value}": kernel_type
    for kind, (kernel_type, _) in KERNELS.items()
    for dtype in (DType.F32, DType.F64)
}


def build_support_module(target: HostTarget, part: str) -> ll.Module:
    """One part of the library (symbols.library_part): "call", "pool", or the kernels of one
    dtype ("f32", "f64"), whose parallel loops reach the pool through their POOL_GLOBAL."""
    module = target.new_module(f"tc_support_{part}")
    # No data layout (LLVM's default until the target machine emits it): the product kernels
    # were tuned so, and with the host's layout the 20x784 @ 784x500 float32 product measured
    # 3x slower (50 -> 150 us, bench/gemm.py). Not yet understood.
    module.data_layout = ""
    if part == "call":
        add_packed_call(module)
        return module
    if part == "pool":
        add_pool(module, target.triple)
        return module
    dtype = {"f32": DType.F32, "f64": DType.F64}[part]
    for _, make in KERNELS.values():
        make(module, dtype)
    return module


def library_function(b: ll.IRBuilder, name: str) -> tuple[ll.Value, ll.Value]:
    """(the library function `name` as a callable pointer, whether it is there (non-null)),
    through the module's global for it, which the runtime fills after loading; directly in
    the library's own module."""
    own = b.module.globals.get(name)
    if isinstance(own, ll.Function):
        return own, ll.Constant(ll.IntType(1), 1)
    glob = module_global(b.module, LIBRARY_GLOBALS[name], I8_PTR, None)
    pointer = b.load(glob)
    present = b.icmp_unsigned("!=", pointer, ll.Constant(I8_PTR, None))
    return b.bitcast(pointer, TYPES[name].as_pointer()), present


def support_text(part: str) -> str:
    """One part of the library for the host, as LLVM IR text (Python only: llvm_ir/)."""
    return module_text(build_support_module(host_target(), part))


def support_object(text: str, quick: bool = False) -> bytes:
    """The object code of one part of the library (its support_text) for the host:
    optimised, or `quick` (unoptimised, by LLVM's fast instruction selection; tiered
    compilation, tc/tiering.py). Quick code's text is optimised later from the same string:
    building it again would cost the process 0.05 s of Python."""
    from .jit import LLVM_LOCK, host_target_machine, parse_verified

    tm = host_target_machine(opt=0 if quick else 3)
    with LLVM_LOCK, parse_verified(text) as parsed:
        if not quick:
            parsed.optimize(tm, 3)
        return tm.emit_object(parsed)
