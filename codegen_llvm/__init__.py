"""The CPU backend: fused IR -> LLVM IR (llvmlite) -> native code for the host.

Imports only tc.ir (and llvmlite). Every module of the package is imported here
(found with pkgutil), so a module that registers lowering entries (`@lowering`,
context.py) is found without an edit anywhere else: an op's lowering is one new file.
"""

import importlib
import pkgutil

from .jit import NativeModule, host_target_machine
from .lower import EntryPoint, entry_symbol, lower_function

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "EntryPoint",
    "NativeModule",
    "entry_symbol",
    "host_target_machine",
    "lower_function",
]
