"""The BLAS routines the generated code calls: numpy's own OpenBLAS (or scipy's bundled one),
found without importing scipy.linalg, and called with 64-bit integers."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import numpy as np
import pytest

from tc.runtime import blas


@pytest.mark.parametrize("bundle", blas._BUNDLED, ids=[pattern for _, pattern, _, _ in blas._BUNDLED])
def test_each_bundled_dgemm_computes_a_product_from_64_bit_integers(bundle: tuple[str, ...]) -> None:
    """Fortran dgemm, its integers passed as 64 bits as the generated calls pass them: an
    ILP64 library reads them whole, an LP64 one their low half (little-endian)."""
    routines = blas._bundled_openblas(*bundle)
    if not routines:
        pytest.skip(f"no {bundle[1]} in {bundle[0]}.libs (not this version's wheel)")
    assert set(routines) == set(blas._ROUTINES)
    a = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    b = np.asfortranarray(np.arange(6.0).reshape(3, 2) - 2)
    c = np.zeros((2, 2), order="F")
    dgemm = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(routines["tc_blas_dgemm"])
    char, i64, f64 = ctypes.c_char, ctypes.c_int64, ctypes.c_double
    # Fortran: every argument by reference; the matrices as their data pointers.
    scalars = [char(b"N"), char(b"N"), i64(2), i64(2), i64(3), f64(1.0), i64(2), i64(3), f64(0.0), i64(2)]
    ref = [ctypes.addressof(v) for v in scalars]
    dgemm(*ref[:6], a.ctypes.data, ref[6], b.ctypes.data, ref[7], ref[8], c.ctypes.data, ref[9])
    np.testing.assert_allclose(c, a @ b)


def test_products_use_numpys_own_blas_when_its_wheel_bundles_one() -> None:
    numpys = blas._bundled_openblas(*blas._BUNDLED[0])
    if not numpys:
        pytest.skip("this numpy does not bundle libscipy_openblas64_")
    assert blas.blas_routines() == numpys  # one pool of BLAS threads for numpy and tc


def test_finding_blas_does_not_import_scipy_linalg() -> None:
    code = (
        "import sys; from tc.runtime.blas import blas_routines; routines = blas_routines(); "
        "print(len(routines), 'scipy.linalg' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    count, imported = done.stdout.split()
    if int(count) and any(blas._bundled_openblas(*bundle) for bundle in blas._BUNDLED):
        assert imported == "False"
