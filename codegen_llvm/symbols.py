"""The names that generated code and the runtime agree on: entry points and the globals the
runtime fills after loading (BLAS routines, the thread count). A module of its own so that
loading cached object code imports none of the lowering."""

from __future__ import annotations

from ..ir import DType

BLAS_GLOBALS = {DType.F64: "tc_blas_dgemm", DType.F32: "tc_blas_sgemm"}
# Matrix-vector products (a step of a recurrent network at batch 1) go to gemv: gemm's
# packing costs several microseconds on a 128 x 128 product that gemv does in one.
GEMV_GLOBALS = {DType.F64: "tc_blas_dgemv", DType.F32: "tc_blas_sgemv"}
THREADS_GLOBAL = "tc_num_threads"  # how many threads large flat loops may use
POOL_GLOBAL = "tc_pool"  # the process's thread pool: tc_pool_run's address (thread_pool.py)
# The support library's functions (support.py), by name, and the global holding each one's
# address in a module that calls it.
LIBRARY_GLOBALS = {"tc_pool_run": POOL_GLOBAL} | {
    f"tc_{kind}_{dtype}": f"tc_lib.{kind}_{dtype}"
    for kind in ("small_gemm", "tiles", "narrow_gemm", "outer_gemm", "dot", "small_gemm_update", "gemm")
    for dtype in ("f32", "f64")
}


# Every function of the support library: those generated code calls, and the runtime's
# tc_call_packed (packed_call.py).
LIBRARY_FUNCTIONS = [*LIBRARY_GLOBALS, "tc_call_packed"]


def library_part(name: str) -> str:
    """The part of the support library that defines `name`: "call" (the runtime's packed
    call), "pool" (the thread pool), "f32" or "f64" (that dtype's products)."""
    if name == "tc_call_packed":
        return "call"
    return "pool" if name == "tc_pool_run" else name.rsplit("_", 1)[1]


class EntryPoint:
    """What the runtime needs to call the lowered function. (A plain class: defining a frozen
    dataclass cost every warm start half a millisecond, a NamedTuple 0.1 ms.)"""

    __slots__ = ("symbol", "slot_ranks")

    def __init__(self, symbol: str, slot_ranks: tuple[int, ...]) -> None:
        self.symbol = symbol
        self.slot_ranks = slot_ranks  # arguments then results

    def __repr__(self) -> str:
        return f"EntryPoint({self.symbol!r}, {self.slot_ranks!r})"


def profile_global(function: str) -> str:
    """The global where profiled code of `function` records its ops' runs (profile.py)."""
    return f"tc_profile.{function}"


def entry_symbol(function: str) -> str:
    """The symbol of the entry point of the function named `function`."""
    return f"tc_{function}"


def dispatch_symbol(entry: str) -> str:
    """The stub the runtime calls in place of quick code's entry point `entry` (dispatch.py)."""
    return f"{entry}.dispatch"


def next_slot(entry: str) -> str:
    """The global holding the address of the code that replaces `entry` (null until then)."""
    return f"{entry}.next"
