"""Turn the address of a METH_FASTCALL function into a Python callable (no C compiler)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

METH_FASTCALL = 0x0080
METH_KEYWORDS = 0x0002


class _MethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
_new_function.restype = ctypes.py_object


def builtin_from_address(name: str, address: int, context: tuple) -> tuple[Callable[..., object], object]:
    """A builtin function calling `address` as `f(context, args, nargs, kwnames)`, and the method
    definition it points to, which the caller must keep alive as long as the function."""
    definition = _MethodDef(name.encode(), address, METH_FASTCALL | METH_KEYWORDS, None)
    function = _new_function(ctypes.addressof(definition), context, None)
    return function, definition
