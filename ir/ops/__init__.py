"""Every op of the `tx` and `kernel` dialects; importing this registers them.

Each module of this package defines one family of ops; every one is imported here,
found with pkgutil, so a new op file needs no edit anywhere else to be registered.
"""

import importlib
import pkgutil

__all__ = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
for _module in __all__:
    importlib.import_module(f"{__name__}.{_module}")
