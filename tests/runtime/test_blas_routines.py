"""The BLAS routines the generated code calls: found in scipy's bundled OpenBLAS without
importing scipy.linalg, and the very routines scipy.linalg.cython_blas exports."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import numpy as np
import pytest

from tc.runtime import blas


def test_bundled_dgemm_computes_a_product() -> None:
    """The routine found is Fortran dgemm with 32-bit integers, as the generated calls pass."""
    bundled = blas._bundled_openblas()
    if not bundled:
        pytest.skip("this scipy does not bundle libscipy_openblas (not a pip wheel)")
    assert set(bundled) == set(blas._ROUTINES)
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    b = np.asfortranarray(np.arange(6.0).reshape(3, 2) - 2)
    c = np.zeros((2, 2), order="F")
    dgemm = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(bundled["tc_blas_dgemm"])
    char, i32, f64 = ctypes.c_char, ctypes.c_int32, ctypes.c_double
    # Fortran: every argument by reference; the matrices as their data pointers.
    scalars = [char(b"N"), char(b"N"), i32(2), i32(2), i32(3), f64(1.0), i32(2), i32(3), f64(0.0), i32(2)]
    ref = [ctypes.addressof(v) for v in scalars]
    dgemm(*ref[:6], a.ctypes.data, ref[6], b.ctypes.data, ref[7], ref[8], c.ctypes.data, ref[9])
    np.testing.assert_allclose(c, a @ b)


def test_finding_blas_does_not_import_scipy_linalg() -> None:
    code = (
        "import sys; from tc.runtime.blas import blas_routines; routines = blas_routines(); "
        "print(len(routines), 'scipy.linalg' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    count, imported = done.stdout.split()
    if int(count) and blas._bundled_openblas():
        assert imported == "False"
