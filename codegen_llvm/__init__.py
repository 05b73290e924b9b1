"""The CPU backend: fused IR -> LLVM IR (llvmlite) -> native code for the host.

Imports only tc.ir (and llvmlite).
"""

from .jit import NativeModule, host_target_machine
from .lower import EntryPoint, entry_symbol, lower_function

__all__ = [
    "EntryPoint",
    "NativeModule",
    "entry_symbol",
    "host_target_machine",
    "lower_function",
]
