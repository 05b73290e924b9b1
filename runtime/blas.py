"""The BLAS that matrix products call: the OpenBLAS scipy ships, found without a compiler.

The addresses of its Fortran routines are handed to the generated code (see
codegen_llvm/linalg.py). Two ways to find them, the fast one first:

- scipy's wheels bundle `scipy.libs/libscipy_openblas-*.so`, whose LP64 routines are
  exported as `scipy_sgemm_` and so on: loading it with ctypes takes milliseconds, where
  importing scipy.linalg takes 0.1-0.2 s (most of a warm compile's time);
- otherwise `scipy.linalg.cython_blas`, which exports the routines of whatever BLAS scipy
  was built with as PyCapsules.

Without scipy, products run in tc's own loops.
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import lru_cache
from pathlib import Path

_ROUTINES = {
    "tc_blas_dgemm": "dgemm",
    "tc_blas_sgemm": "sgemm",
    "tc_blas_dgemv": "dgemv",
    "tc_blas_sgemv": "sgemv",
}


@lru_cache(maxsize=1)
def blas_routines() -> dict[str, int]:
    """Global name -> address of each BLAS routine the code may call ({} without scipy)."""
    return _bundled_openblas() or _cython_blas()


def _bundled_openblas() -> dict[str, int]:
    """The routines of the OpenBLAS a scipy wheel bundles, without importing scipy."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return {}
    libs = Path(next(iter(spec.submodule_search_locations))).parent / "scipy.libs"
    # The LP64 build only (32-bit integers, as the generated calls pass them); an ILP64
    # build is named libscipy_openblas64_ and its symbols end in 64_.
    found = sorted(libs.glob("libscipy_openblas-*.so"))
    if len(found) != 1:
        return {}
    try:
        library = ctypes.CDLL(str(found[0]))
        return {
            symbol: ctypes.cast(getattr(library, f"scipy_{name}_"), ctypes.c_void_p).value or 0
            for symbol, name in _ROUTINES.items()
        }
    except (OSError, AttributeError):
        return {}


def _cython_blas() -> dict[str, int]:
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
