"""cuBLAS binding: the parts that need no GPU (where the library is looked for, the
row-major -> column-major argument mapping checked by simulating cuBLAS's column-major
gemm on numpy buffers, status checking); one test calls the real library when a GPU
is there (marked cuda)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
import pytest

from tc import TcDeviceError, TcError, TcTypeError, TcValueError
from tc.runtime import cublas
from tc.runtime.cublas import (
    CUBLAS_OP_N,
    CUBLAS_OP_T,
    CublasError,
    CublasUnavailable,
    check_status,
    library_candidates,
    row_major_gemm_args,
    row_major_strided_batched_args,
)

# --- a column-major BLAS on numpy buffers --------------------------------------------------------------


def column_major(buffer: np.ndarray, offset: int, rows: int, cols: int, ld: int) -> np.ndarray:
    """The Fortran-order rows x cols matrix at buffer[offset:], columns ld elements apart."""
    assert ld >= max(1, rows)
    if rows and cols:
        assert offset + (cols - 1) * ld + rows <= buffer.size
    size = buffer.itemsize
    return np.lib.stride_tricks.as_strided(buffer[offset:], shape=(rows, cols), strides=(size, ld * size))


def simulated_gemm(buffers, transa, transb, m, n, k, a, lda, b, ldb, c, ldc, strides=None, batch=1):  # type: ignore[no-untyped-def]
    """What cublas?gemm (or ?gemmStridedBatched) does, alpha 1 and beta 0, on `buffers`
    addressed as (name, element offset) pairs."""
    sa, sb, sc = strides or (0, 0, 0)
    for i in range(batch):
        (a_name, a_off), (b_name, b_off), (c_name, c_off) = a, b, c
        a_view = column_major(
            buffers[a_name], a_off + i * sa, *((m, k) if transa == CUBLAS_OP_N else (k, m)), lda
        )
        b_view = column_major(
            buffers[b_name], b_off + i * sb, *((k, n) if transb == CUBLAS_OP_N else (n, k)), ldb
        )
        op_a = a_view if transa == CUBLAS_OP_N else a_view.T
        op_b = b_view if transb == CUBLAS_OP_N else b_view.T
        column_major(buffers[c_name], c_off + i * sc, m, n, ldc)[...] = op_a @ op_b


def row_major(buffer: np.ndarray, offset: int, rows: int, cols: int, ld: int) -> np.ndarray:
    size = buffer.itemsize
    return np.lib.stride_tricks.as_strided(buffer[offset:], shape=(rows, cols), strides=(ld * size, size))


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize(("m", "n", "k"), [(3, 5, 4), (1, 7, 2), (6, 1, 1), (4, 4, 9)])
def test_row_major_mapping_matches_numpy(m, n, k, transpose_a, transpose_b, padded) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a_shape = (k, m) if transpose_a else (m, k)
    b_shape = (n, k) if transpose_b else (k, n)
    pad = 3 if padded else 0
    lda, ldb, ldc = a_shape[1] + pad, b_shape[1] + pad, n + pad
    offsets = {"A": 2 if padded else 0, "B": 1 if padded else 0, "C": 5 if padded else 0}
    buffers = {
        "A": rng.standard_normal(offsets["A"] + a_shape[0] * lda),
        "B": rng.standard_normal(offsets["B"] + b_shape[0] * ldb),
        "C": np.full(offsets["C"] + m * ldc, np.nan),
    }
    a = row_major(buffers["A"], offsets["A"], *a_shape, lda).copy()
    b = row_major(buffers["B"], offsets["B"], *b_shape, ldb).copy()
    args = row_major_gemm_args(
        m,
        n,
        k,
        ("A", offsets["A"]),
        ("B", offsets["B"]),
        ("C", offsets["C"]),
        transpose_a,
        transpose_b,
        lda if padded else None,
        ldb if padded else None,
        ldc if padded else None,
    )
    simulated_gemm(buffers, *args)
    expected = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    np.testing.assert_allclose(row_major(buffers["C"], offsets["C"], m, n, ldc), expected, rtol=1e-12)
    if padded:  # the padding between rows is left alone
        c_rows = buffers["C"][offsets["C"] :].reshape(m, ldc)
        assert np.isnan(c_rows[:, n:]).all() and np.isnan(buffers["C"][: offsets["C"]]).all()


def test_mapping_swaps_operands_and_keeps_flags() -> None:
    assert row_major_gemm_args(2, 3, 4, "a", "b", "c") == (
        CUBLAS_OP_N,
        CUBLAS_OP_N,
        3,
        2,
        4,
        "b",
        3,
        "a",
        4,
        "c",
        3,
    )
    assert row_major_gemm_args(2, 3, 4, "a", "b", "c", True, False) == (
        CUBLAS_OP_N,
        CUBLAS_OP_T,
        3,
        2,
        4,
        "b",
        3,
        "a",
        2,
        "c",
        3,
    )
    assert row_major_gemm_args(2, 3, 4, "a", "b", "c", False, True)[:2] == (CUBLAS_OP_T, CUBLAS_OP_N)
    assert row_major_gemm_args(2, 3, 4, "a", "b", "c", False, True)[6] == 4  # ldb = k


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("broadcast_b", [False, True])
def test_strided_batched_mapping_matches_numpy(transpose_a, transpose_b, broadcast_b) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    batch, m, n, k = 3, 4, 2, 5
    a = rng.standard_normal((batch, *((k, m) if transpose_a else (m, k))))
    b = rng.standard_normal((1 if broadcast_b else batch, *((n, k) if transpose_b else (k, n))))
    buffers = {"A": a.ravel().copy(), "B": b.ravel().copy(), "C": np.full(batch * m * n, np.nan)}
    args = row_major_strided_batched_args(
        m,
        n,
        k,
        ("A", 0),
        ("B", 0),
        ("C", 0),
        batch,
        stride_b=0 if broadcast_b else None,
        transpose_a=transpose_a,
        transpose_b=transpose_b,
    )
    transa, transb, big_m, big_n, big_k, first, ld1, s1, second, ld2, s2, c, ldc, sc, count = args
    simulated_gemm(
        buffers, transa, transb, big_m, big_n, big_k, first, ld1, second, ld2, c, ldc, (s1, s2, sc), count
    )
    op_a = np.swapaxes(a, 1, 2) if transpose_a else a
    op_b = np.swapaxes(b, 1, 2) if transpose_b else b
    np.testing.assert_allclose(buffers["C"].reshape(batch, m, n), op_a @ op_b, rtol=1e-12)


def test_mapping_rejects_bad_sizes() -> None:
    with pytest.raises(TcValueError, match="lda"):
        row_major_gemm_args(2, 3, 4, 0, 0, 0, lda=3)
    with pytest.raises(TcValueError, match="ldc"):
        row_major_gemm_args(2, 3, 4, 0, 0, 0, ldc=2)
    with pytest.raises(TcValueError, match="m = -1"):
        row_major_gemm_args(-1, 3, 4, 0, 0, 0)
    with pytest.raises(TcValueError, match="outside"):
        row_major_gemm_args(2**31, 1, 1, 0, 0, 0)
    with pytest.raises(TcTypeError):
        row_major_gemm_args(2.0, 3, 4, 0, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(TcValueError, match="stride_a"):
        row_major_strided_batched_args(2, 3, 4, 0, 0, 0, 2, stride_a=-1)
    # zero-sized products are legal: leading dimensions are at least 1
    assert row_major_gemm_args(0, 0, 0, 0, 0, 0)[6::2] == (1, 1, 1)


def test_status_names() -> None:
    check_status("cublasSgemm_v2", 0)
    with pytest.raises(CublasError, match=r"cublasSgemm_v2 failed: CUBLAS_STATUS_INVALID_VALUE \(7\)"):
        check_status("cublasSgemm_v2", 7)
    with pytest.raises(CublasError, match="unknown cublasStatus_t 99"):
        check_status("cublasCreate_v2", 99)
    assert issubclass(CublasError, TcDeviceError) and issubclass(CublasUnavailable, TcError)


def test_gemm_rejects_other_dtypes() -> None:
    blas = cublas.Cublas(lib=None, handle=ctypes.c_void_p(1))  # type: ignore[arg-type]
    for dtype in ("float16", "int32", "complex64", "no such dtype"):
        with pytest.raises(TcTypeError, match="float32 or float64"):
            blas.gemm(dtype, 2, 2, 2, 0, 0, 0)


# --- where the library is looked for ---------------------------------------------------------------------


def touch(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return str(path)


def test_search_order(tmp_path: Path) -> None:
    explicit = touch(tmp_path / "mine" / "libcublas.so")
    site = tmp_path / "site" / "nvidia"
    wheel_12 = touch(site / "cublas" / "lib" / "libcublas.so.12")
    lt = touch(site / "cublas" / "lib" / "libcublasLt.so.12")
    cu13 = touch(site / "cu13" / "lib" / "libcublas.so.13")
    deep = touch(site / "odd" / "layout" / "lib64" / "libcublas.so.13.1.0.3")
    other_site = tmp_path / "user" / "nvidia"
    user = touch(other_site / "cublas" / "lib" / "libcublas.so.12")
    toolkit = tmp_path / "cuda-13.0" / "lib64"
    tk_new, tk_link = touch(toolkit / "libcublas.so.13.0.2"), touch(toolkit / "libcublas.so")
    missing = str(tmp_path / "nothing-here")
    found = library_candidates(
        environ={"TC_CUBLAS": explicit},
        nvidia_dirs=[str(site), str(other_site)],
        toolkit_dirs=[missing, str(toolkit)],
        find_library=lambda name: f"lib{name}.so.13",
    )
    assert found == [explicit, wheel_12, cu13, deep, user, tk_new, tk_link, "libcublas.so.13"]
    assert lt not in found


def test_search_without_anything(tmp_path: Path) -> None:
    assert (
        library_candidates(environ={}, nvidia_dirs=[], toolkit_dirs=[], find_library=lambda name: None) == []
    )
    with pytest.raises(CublasUnavailable, match="no libcublas.so"):
        cublas.load_cublas([])


def test_newest_version_first(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    paths = [touch(lib / name) for name in ("libcublas.so.9", "libcublas.so.12.4.1", "libcublas.so.12.10")]
    found = library_candidates(
        environ={}, nvidia_dirs=[], toolkit_dirs=[str(lib)], find_library=lambda n: None
    )
    assert found == [paths[2], paths[1], paths[0]]


def test_toolkit_folders_from_the_environment() -> None:
    folders = cublas.toolkit_lib_dirs({"CUDA_HOME": "/opt/cuda-a", "CUDA_PATH": "/opt/cuda-b"})
    assert folders[:2] == ["/opt/cuda-a/lib64", "/opt/cuda-a/lib"]
    assert "/opt/cuda-a/targets/x86_64-linux/lib" in folders
    assert folders.index("/opt/cuda-a/lib64") < folders.index("/opt/cuda-b/lib64")
    assert folders.index("/opt/cuda-b/lib64") < folders.index("/usr/local/cuda/lib64")


def test_nvidia_namespace_package_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    wheel = touch(site / "nvidia" / "cu13" / "lib" / "libcublas.so.13")
    monkeypatch.syspath_prepend(str(site))
    assert str(site / "nvidia") in cublas.nvidia_package_dirs()
    found = library_candidates(environ={}, toolkit_dirs=[], find_library=lambda name: None)
    assert found[0] == wheel or wheel in found


def test_unloadable_candidates_are_listed(tmp_path: Path) -> None:
    fake = touch(tmp_path / "libcublas.so.13")  # an empty file: dlopen fails
    with pytest.raises(CublasUnavailable) as caught:
        cublas.load_cublas([fake, "libcublas-does-not-exist.so"])
    message = str(caught.value)
    assert fake in message and "libcublas-does-not-exist.so" in message and "TC_CUBLAS" in message


def test_load_is_lazy(tmp_path: Path) -> None:
    """Importing the module opens nothing; only load_cublas() does."""
    import subprocess
    import sys

    code = "import tc.runtime.cublas as c; print(c._library is None)"
    # run away from the repository root, whose tc/ folder would shadow an installed tc
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "True"


# --- on a GPU ------------------------------------------------------------------------------------------


@pytest.mark.cuda
def test_real_gemm_against_numpy() -> None:
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as err:  # noqa: BLE001 - no driver
        pytest.skip(f"no CUDA device: {err}")
    cupy.cuda.Device(0).use()
    blas = cublas.Cublas.create()
    try:
        assert blas.version() >= 11000
        blas.set_stream(cupy.cuda.get_current_stream().ptr)
        rng = np.random.default_rng(0)
        for dtype, rtol in (("float32", 1e-4), ("float64", 1e-12)):
            for transpose_a in (False, True):
                for transpose_b in (False, True):
                    m, n, k = 37, 19, 53
                    a = rng.standard_normal((k, m) if transpose_a else (m, k)).astype(dtype)
                    b = rng.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype)
                    da, db = cupy.asarray(a), cupy.asarray(b)
                    dc = cupy.full((m, n), np.nan, dtype=dtype)
                    blas.gemm(dtype, m, n, k, da.data.ptr, db.data.ptr, dc.data.ptr, transpose_a, transpose_b)
                    expected = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
                    np.testing.assert_allclose(cupy.asnumpy(dc), expected, rtol=rtol, atol=rtol * 10)
            batch = 3
            a = rng.standard_normal((batch, 8, 5)).astype(dtype)
            b = rng.standard_normal((batch, 5, 6)).astype(dtype)
            da, db = cupy.asarray(a), cupy.asarray(b)
            dc = cupy.empty((batch, 8, 6), dtype=dtype)
            blas.gemm_strided_batched(dtype, 8, 6, 5, da.data.ptr, db.data.ptr, dc.data.ptr, batch)
            np.testing.assert_allclose(cupy.asnumpy(dc), a @ b, rtol=rtol, atol=rtol * 10)
        with pytest.raises(CublasError, match="CUBLAS_STATUS_INVALID_VALUE"):
            # a leading dimension the mapping allows but cuBLAS refuses cannot be built from the
            # row-major API, so call the raw column-major entry with lda < M
            lib = cublas.load_cublas()
            one = ctypes.c_float(1.0)
            status = lib.cublasSgemm_v2(
                blas.handle, 0, 0, 4, 4, 4, ctypes.byref(one), 0, 1, 0, 4, ctypes.byref(one), 0, 4
            )
            check_status("cublasSgemm_v2", status)
    finally:
        blas.close()
    blas.close()  # a second close does nothing
    assert os.environ.get("NVIDIA_TF32_OVERRIDE") != "1"
