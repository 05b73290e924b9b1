"""The BLAS that matrix products call: an OpenBLAS the installed wheels ship, found without a
compiler.

The addresses of its Fortran routines are handed to the generated code (see
codegen_llvm/linalg.py), which passes integers as 64 bits, so an ILP64 or an LP64 library
serves (codegen_llvm/types.py: BLAS_INT). In order of preference:

- numpy's own OpenBLAS (`numpy.libs/libscipy_openblas64_-*.so`, ILP64, routines named
  `scipy_sgemm_64_`; numpy 1.x: `libopenblas64_*.so`, `sgemm_64_`): the library numpy's own
  products already loaded, so tc and numpy share one pool of BLAS threads. Two pools on the
  same cores spin against each other: a 32x128x128 sgemm measured 6 us alone and 12-16 us
  once the other library's threads had run. Its idle threads are made to sleep sooner
  (blas_threads.py);
- scipy's bundled `scipy.libs/libscipy_openblas-*.so` (LP64, `scipy_sgemm_`); loading it
  with ctypes takes milliseconds where importing scipy.linalg takes 0.1-0.2 s;
- `scipy.linalg.cython_blas`, which exports the routines of whatever BLAS scipy was built
  with as PyCapsules.

Without any of them, products run in tc's own loops.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

_ROUTINES = {
    "tc_blas_dgemm": "dgemm",
    "tc_blas_sgemm": "sgemm",
    "tc_blas_dgemv": "dgemv",
    "tc_blas_sgemv": "sgemv",
}
# (package whose wheel bundles the library, its file pattern, the symbols' prefix and suffix)
_BUNDLED = [
    ("numpy", "libscipy_openblas64_-*.so", "scipy_", "_64_"),
    ("numpy", "libopenblas64_*.so", "", "_64_"),
    ("scipy", "libscipy_openblas-*.so", "scipy_", "_"),
]


@lru_cache(maxsize=1)
def blas_routines() -> dict[str, int]:
    """Global name -> address of each BLAS routine the code may call ({} without one)."""
    for package, pattern, prefix, suffix in _BUNDLED:
        found = _bundled_openblas(package, pattern, prefix, suffix)
        if found:
            return found
    return _cython_blas()


def _bundled_openblas(package: str, pattern: str, prefix: str, suffix: str) -> dict[str, int]:
    """The routines of the OpenBLAS a wheel of `package` bundles in `<package>.libs`, without
    importing more of the package than the caller has."""
    path = bundled_library(package, pattern)
    if path is None:
        return {}
    try:
        library = ctypes.CDLL(str(path))
        routines = {
            symbol: ctypes.cast(getattr(library, f"{prefix}{name}{suffix}"), ctypes.c_void_p).value or 0
            for symbol, name in _ROUTINES.items()
        }
    except (OSError, AttributeError):
        return {}
    from .blas_threads import shorten_idle_spin  # (loaded with BLAS itself)

    shorten_idle_spin(path, library)
    return routines


def bundled_library(package: str, pattern: str) -> Path | None:
    """The one file matching `pattern` in the `<package>.libs` folder of an installed wheel."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    libs = Path(next(iter(spec.submodule_search_locations))).parent / f"{package}.libs"
    # The pattern's one "*" matched by hand: Path.glob compiles a regular expression (0.5 ms of
    # every warm start with a product).
    head, tail = pattern.split("*")
    try:
        found = [name for name in os.listdir(libs) if name.startswith(head) and name.endswith(tail)]
    except OSError:
        return None
    return libs / found[0] if len(found) == 1 else None


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
