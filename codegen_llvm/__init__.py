"""The CPU backend: fused IR -> LLVM IR (llvm_ir/, tc's builder) -> native code for the host.

Imports only tc.ir (and llvmlite's LLVM library, through llvm_c.py). An op's lowering is one
new file in this package: the common lowerings are imported before the first function is
lowered, and every other module of it (found with pkgutil: `lower.register_lowerings`) once
an op is met that they do not lower, so its `@lowering` entries (context.py) are found
without an edit anywhere else.
Importing the package loads none of them, nor LLVM: loading code from the compile cache
needs only loader.py, elfload.py, elfcheck.py, native_module.py and symbols.py.
"""

from .native_module import NativeModule
from .symbols import EntryPoint, entry_symbol

__all__ = [
    "EntryPoint",
    "NativeModule",
    "entry_symbol",
]
