"""The BLAS that matrix products call: the OpenBLAS scipy ships, found without a compiler.

`scipy.linalg.cython_blas` exports its Fortran routines as PyCapsules; their
addresses are handed to the generated code (see codegen_llvm/linalg.py). Without
scipy, products run in tc's own loops.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

_ROUTINES = {
    "tc_blas_dgemm": "dgemm",
    "tc_blas_sgemm": "sgemm",
    "tc_blas_dgemv": "dgemv",
    "tc_blas_sgemv": "sgemv",
}


@lru_cache(maxsize=1)
def blas_routines() -> dict[str, int]:
    """Global name -> address of each BLAS routine the code may call ({} without scipy)."""
    try:
        from scipy.linalg import cython_blas
    except ImportError:
        return {}
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    capsules = cython_blas.__pyx_capi__
    return {
        symbol: int(get_pointer(capsules[name], get_name(capsules[name])))
        for symbol, name in _ROUTINES.items()
    }
