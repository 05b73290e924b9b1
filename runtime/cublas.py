"""cuBLAS through ctypes, loaded on first use: the matrix products of the CUDA backend.

    from tc.runtime.cublas import Cublas
    blas = Cublas.create()            # in the current CUDA context (e.g. the primary one)
    blas.set_stream(stream_handle)    # optional: 0 is the legacy default stream
    blas.set_tf32(False)              # float32 stays IEEE fp32 (the default)
    blas.gemm("float32", m, n, k, a_ptr, b_ptr, c_ptr)   # C[m, n] = A[m, k] @ B[k, n]

Where the library comes from, first found wins (see `library_candidates`):
$TC_CUBLAS (a file), the `nvidia-*` pip wheels (`nvidia/cublas/lib`, `nvidia/cu13/lib`, ...,
the ones PyTorch and CuPy bring), the CUDA toolkit ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda*),
then the linker's search (`ctypes.util.find_library("cublas")`).

Row-major operands
------------------
tc's arrays are row-major (C order); cuBLAS is column-major (Fortran order). A
row-major r x c matrix with leading dimension ld (the distance between rows, in
elements) is, byte for byte, the column-major c x r matrix - its transpose - with
the same leading dimension. So the row-major product

    C[m, n] = op(A) @ op(B)        (op(X) = X, or X.T when transpose_x)

is computed as the column-major product of the transposes,

    C^T[n, m] = op(B)^T @ op(A)^T,

that is, cuBLAS gemm with the operands swapped (B first, then A), m and n swapped,
each operand's transpose flag kept as it is, and every leading dimension passed
unchanged: `row_major_gemm_args` returns exactly those arguments. Leading
dimensions default to the C-contiguous ones: lda = k (m with transpose_a),
ldb = n (k with transpose_b), ldc = n. Batched products take per-matrix strides
in elements, swapped likewise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..ir.errors import TcDeviceError, TcTypeError, TcValueError

CUBLAS_OP_N = 0
CUBLAS_OP_T = 1

CUBLAS_DEFAULT_MATH = 0
CUBLAS_PEDANTIC_MATH = 2
CUBLAS_TF32_TENSOR_OP_MATH = 3

STATUS_NAMES = {
    0: "CUBLAS_STATUS_SUCCESS",
    1: "CUBLAS_STATUS_NOT_INITIALIZED",
    3: "CUBLAS_STATUS_ALLOC_FAILED",
    7: "CUBLAS_STATUS_INVALID_VALUE",
    8: "CUBLAS_STATUS_ARCH_MISMATCH",
    11: "CUBLAS_STATUS_MAPPING_ERROR",
    13: "CUBLAS_STATUS_EXECUTION_FAILED",
    14: "CUBLAS_STATUS_INTERNAL_ERROR",
    15: "CUBLAS_STATUS_NOT_SUPPORTED",
    16: "CUBLAS_STATUS_LICENSE_ERROR",
}

_INT_MAX = 2**31 - 1  # the non-_64 API takes C ints


class CublasUnavailable(TcDeviceError):
    """No cuBLAS library could be found or loaded (the message lists what was tried)."""


class CublasError(TcDeviceError):
    """A cuBLAS call returned a status other than CUBLAS_STATUS_SUCCESS."""


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"unknown cublasStatus_t {status}")


def check_status(call: str, status: int) -> None:
    """Raise CublasError naming `call` and the status unless it is CUBLAS_STATUS_SUCCESS."""
    if status != 0:
        raise CublasError(f"{call} failed: {status_name(status)} ({status})")


# --- finding the library ----------------------------------------------------------------------------


def _version_key(path: str) -> tuple[int, ...]:
    """libcublas.so.13.1.0 -> (13, 1, 0); the bare libcublas.so (a link to some version) -> ()."""
    suffix = os.path.basename(path).partition(".so")[2]
    return tuple(int(part) for part in re.findall(r"\d+", suffix))


def _libraries_in(folder: str, recursive: bool = False) -> list[str]:
    """The libcublas.so* files of a folder, newest version first (libcublasLt does not match)."""
    pattern = (
        os.path.join(folder, "**", "libcublas.so*") if recursive else os.path.join(folder, "libcublas.so*")
    )
    found = [path for path in glob.glob(pattern, recursive=recursive) if os.path.isfile(path)]
    return sorted(found, key=lambda path: (os.path.dirname(path), _version_key(path)), reverse=True)


def nvidia_package_dirs() -> list[str]:
    """The folders of the `nvidia` namespace package (site-packages/nvidia of the pip wheels)."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [str(path) for path in spec.submodule_search_locations]


def toolkit_lib_dirs(environ: Mapping[str, str] | None = None) -> list[str]:
    """The CUDA toolkit's library folders: $CUDA_HOME, $CUDA_PATH, then /usr/local/cuda*."""
    env = os.environ if environ is None else environ
    roots = [env[name] for name in ("CUDA_HOME", "CUDA_PATH") if env.get(name)]
    installed = glob.glob("/usr/local/cuda*")
    roots += ["/usr/local/cuda"] + sorted((r for r in installed if r != "/usr/local/cuda"), reverse=True)
    folders: list[str] = []
    for root in roots:
        for sub in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib")):
            folder = os.path.join(root, sub)
            if folder not in folders:
                folders.append(folder)
    return folders


def library_candidates(
    environ: Mapping[str, str] | None = None,
    nvidia_dirs: Iterable[str] | None = None,
    toolkit_dirs: Iterable[str] | None = None,
    find_library: Any = None,
) -> list[str]:
    """Every libcublas to try, in order, without duplicates; the arguments replace the
    machine's own places (for tests): $TC_CUBLAS; each nvidia package folder's
    cublas/lib, then its */lib (nvidia/cu13/lib), then anywhere below it; the toolkit
    folders; the linker's answer (a bare soname, which dlopen searches for)."""
    env = os.environ if environ is None else environ
    nvidia = nvidia_package_dirs() if nvidia_dirs is None else list(nvidia_dirs)
    toolkit = toolkit_lib_dirs(env) if toolkit_dirs is None else list(toolkit_dirs)
    finder = ctypes.util.find_library if find_library is None else find_library
    candidates: list[str] = []

    def add(paths: Iterable[str]) -> None:
        for path in paths:
            if path not in candidates:
                candidates.append(path)

    if env.get("TC_CUBLAS"):
        add([env["TC_CUBLAS"]])
    for root in nvidia:
        add(_libraries_in(os.path.join(root, "cublas", "lib")))
        for folder in sorted(glob.glob(os.path.join(root, "*", "lib")), reverse=True):
            add(_libraries_in(folder))
        add(_libraries_in(root, recursive=True))
    for folder in toolkit:
        add(_libraries_in(folder))
    soname = finder("cublas")
    if soname:
        add([soname])
    return candidates


_library: ctypes.CDLL | None = None


def _open(path: str) -> ctypes.CDLL:
    """dlopen one candidate; libcublasLt beside it is loaded first, globally, in case the
    library's run path does not name its own folder."""
    folder = os.path.dirname(path)
    if folder:
        lt = sorted(glob.glob(os.path.join(folder, "libcublasLt.so*")), key=_version_key, reverse=True)
        wanted = _version_key(path)[:1]
        for candidate in lt:
            if not wanted or _version_key(candidate)[:1] == wanted:
                try:
                    ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
                except OSError:
                    pass
                break
    return ctypes.CDLL(path)


def load_cublas(candidates: list[str] | None = None) -> ctypes.CDLL:
    """The cuBLAS library, opened on first use (the first candidate that loads and exports
    cublasCreate_v2); CublasUnavailable lists every candidate and why it failed."""
    global _library
    if _library is not None and candidates is None:
        return _library
    tried: list[str] = []
    for path in library_candidates() if candidates is None else candidates:
        try:
            library = _open(path)
            library.cublasCreate_v2  # noqa: B018 - a libcublas without it is not one we can use
        except (OSError, AttributeError) as err:
            tried.append(f"{path}: {err}")
            continue
        _declare(library)
        if candidates is None:
            _library = library
        return library
    listing = "\n  ".join(tried) if tried else "(no libcublas.so* found)"
    raise CublasUnavailable(
        "cuBLAS was not found: set TC_CUBLAS to libcublas.so, install the nvidia-cublas wheel, or put "
        f"the CUDA toolkit's lib64 in CUDA_HOME; tried:\n  {listing}"
    )


def _declare(lib: ctypes.CDLL) -> None:
    p, i, ll = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
    signatures: dict[str, list[Any]] = {
        "cublasCreate_v2": [ctypes.POINTER(ctypes.c_void_p)],
        "cublasDestroy_v2": [p],
        "cublasSetStream_v2": [p, p],
        "cublasSetMathMode": [p, i],
        "cublasGetVersion_v2": [p, ctypes.POINTER(ctypes.c_int)],
    }
    gemm = [p, i, i, i, i, i, p, p, i, p, i, p, p, i]
    batched = [p, i, i, i, i, i, p, p, i, ll, p, i, ll, p, p, i, ll, i]
    for prefix in ("S", "D"):
        signatures[f"cublas{prefix}gemm_v2"] = gemm
        signatures[f"cublas{prefix}gemmStridedBatched"] = batched
    for name, argtypes in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = ctypes.c_int


# --- the row-major mapping (pure) -------------------------------------------------------------------


def _check_int(name: str, value: int, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TcTypeError(f"cuBLAS gemm: {name} must be an integer, found {value!r}")
    if not low <= int(value) <= _INT_MAX:
        raise TcValueError(f"cuBLAS gemm: {name} = {value} is outside [{low}, {_INT_MAX}]")
    return int(value)


def row_major_gemm_args(
    m: int,
    n: int,
    k: int,
    a_ptr: Any,
    b_ptr: Any,
    c_ptr: Any,
    transpose_a: bool = False,
    transpose_b: bool = False,
    lda: int | None = None,
    ldb: int | None = None,
    ldc: int | None = None,
) -> tuple[int, int, int, int, int, Any, int, Any, int, Any, int]:
    """The column-major gemm arguments (transa, transb, M, N, K, A, lda, B, ldb, C, ldc) that
    compute the row-major C[m, n] = op(A) @ op(B): C^T = op(B)^T @ op(A)^T (see the module's
    docstring). Leading dimensions are in elements, None meaning C-contiguous; they are checked
    against the row length of each stored matrix."""
    m, n, k = _check_int("m", m), _check_int("n", n), _check_int("k", k)
    a_row = m if transpose_a else k  # A is stored as k x m (transposed) or m x k
    b_row = k if transpose_b else n
    lda = max(1, a_row) if lda is None else lda
    ldb = max(1, b_row) if ldb is None else ldb
    ldc = max(1, n) if ldc is None else ldc
    for name, ld, row in (("lda", lda, a_row), ("ldb", ldb, b_row), ("ldc", ldc, n)):
        if _check_int(name, ld, 1) < max(1, row):
            raise TcValueError(f"cuBLAS gemm: {name} = {ld} is shorter than a row of {row} elements")
    op_a = CUBLAS_OP_T if transpose_a else CUBLAS_OP_N
    op_b = CUBLAS_OP_T if transpose_b else CUBLAS_OP_N
    return (op_b, op_a, n, m, k, b_ptr, int(ldb), a_ptr, int(lda), c_ptr, int(ldc))


def row_major_strided_batched_args(
    m: int,
    n: int,
    k: int,
    a_ptr: Any,
    b_ptr: Any,
    c_ptr: Any,
    batch: int,
    stride_a: int | None = None,
    stride_b: int | None = None,
    stride_c: int | None = None,
    transpose_a: bool = False,
    transpose_b: bool = False,
    lda: int | None = None,
    ldb: int | None = None,
    ldc: int | None = None,
) -> tuple[Any, ...]:
    """The column-major strided-batched arguments (transa, transb, M, N, K, A, lda, strideA,
    B, ldb, strideB, C, ldc, strideC, batchCount) for C[i] = op(A[i]) @ op(B[i]), row-major,
    i < batch; strides in elements, None meaning packed matrices (a stride of 0 reuses one
    operand for every product)."""
    op_b, op_a, big_m, big_n, big_k, first, ld_first, second, ld_second, c, ld_c = row_major_gemm_args(
        m, n, k, a_ptr, b_ptr, c_ptr, transpose_a, transpose_b, lda, ldb, ldc
    )
    batch = _check_int("batch", batch)
    # ld_second is A's leading dimension, ld_first B's; a stored matrix spans rows * ld elements
    stride_a = (k if transpose_a else m) * ld_second if stride_a is None else stride_a
    stride_b = (n if transpose_b else k) * ld_first if stride_b is None else stride_b
    stride_c = m * ld_c if stride_c is None else stride_c
    for name, stride in (("stride_a", stride_a), ("stride_b", stride_b), ("stride_c", stride_c)):
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise TcValueError(f"cuBLAS gemm: {name} must be a non-negative integer, found {stride!r}")
    return (
        op_b,
        op_a,
        big_m,
        big_n,
        big_k,
        first,
        ld_first,
        int(stride_b),
        second,
        ld_second,
        int(stride_a),
        c,
        ld_c,
        int(stride_c),
        batch,
    )


def _prefix(dtype: object) -> tuple[str, type[ctypes._SimpleCData]]:
    try:
        kind = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        kind = None
    if kind == np.float32:
        return "S", ctypes.c_float
    if kind == np.float64:
        return "D", ctypes.c_double
    raise TcTypeError(f"cuBLAS gemm: float32 or float64 only, found {dtype!r}")


# --- a handle -----------------------------------------------------------------------------------------


class Cublas:
    """One cuBLAS handle, bound to the CUDA context current when `create()` ran: use it only
    while that context is current, and `close()` it before the context goes away.
    Pointers are device addresses (ints); calls are asynchronous on the handle's stream."""

    def __init__(self, lib: ctypes.CDLL, handle: ctypes.c_void_p) -> None:
        self._lib = lib
        self._handle: ctypes.c_void_p | None = handle
        self.tf32 = False

    @classmethod
    def create(cls, library: ctypes.CDLL | None = None) -> Cublas:
        """cublasCreate_v2 in the current context, with the default (IEEE fp32) math mode."""
        lib = load_cublas() if library is None else library
        handle = ctypes.c_void_p()
        check_status("cublasCreate_v2", lib.cublasCreate_v2(ctypes.byref(handle)))
        blas = cls(lib, handle)
        blas.set_tf32(False)
        return blas

    @property
    def handle(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise CublasError("the cuBLAS handle was closed")
        return self._handle

    def close(self) -> None:
        """cublasDestroy_v2 (once; later calls do nothing)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            check_status("cublasDestroy_v2", self._lib.cublasDestroy_v2(handle))

    def __enter__(self) -> Cublas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> int:
        """cuBLAS's version number, e.g. 130100 for 13.1.0."""
        value = ctypes.c_int()
        check_status("cublasGetVersion_v2", self._lib.cublasGetVersion_v2(self.handle, ctypes.byref(value)))
        return value.value

    def set_stream(self, stream_handle: int) -> None:
        """Run later calls on this CUstream / cudaStream_t (0: the legacy default stream)."""
        check_status("cublasSetStream_v2", self._lib.cublasSetStream_v2(self.handle, int(stream_handle)))

    def set_tf32(self, on: bool) -> None:
        """TF32 tensor cores for float32 products (CUBLAS_TF32_TENSOR_OP_MATH), or not
        (CUBLAS_DEFAULT_MATH: float32 products in IEEE fp32, as long as the environment does not
        force TF32 through NVIDIA_TF32_OVERRIDE=1). float64 is unaffected."""
        mode = CUBLAS_TF32_TENSOR_OP_MATH if on else CUBLAS_DEFAULT_MATH
        check_status("cublasSetMathMode", self._lib.cublasSetMathMode(self.handle, mode))
        self.tf32 = bool(on)

    def gemm(
        self,
        dtype: object,
        m: int,
        n: int,
        k: int,
        a_ptr: int,
        b_ptr: int,
        c_ptr: int,
        transpose_a: bool = False,
        transpose_b: bool = False,
        lda: int | None = None,
        ldb: int | None = None,
        ldc: int | None = None,
        scale: tuple[float, float] = (1.0, 0.0),
    ) -> None:
        """Row-major C[m, n] = alpha op(A) @ op(B) + beta C (`scale`: alpha, beta; by default
        1 and 0) in float32 or float64; leading dimensions in elements, None for C-contiguous
        operands."""
        prefix, scalar = _prefix(dtype)
        args = row_major_gemm_args(m, n, k, a_ptr, b_ptr, c_ptr, transpose_a, transpose_b, lda, ldb, ldc)
        transa, transb, big_m, big_n, big_k, first, ld_first, second, ld_second, c, ld_c = args
        alpha, beta = scalar(scale[0]), scalar(scale[1])
        name = f"cublas{prefix}gemm_v2"
        status = getattr(self._lib, name)(
            self.handle,
            transa,
            transb,
            big_m,
            big_n,
            big_k,
            ctypes.byref(alpha),
            int(first),
            ld_first,
            int(second),
            ld_second,
            ctypes.byref(beta),
            int(c),
            ld_c,
        )
        check_status(name, status)

    def gemm_strided_batched(
        self,
        dtype: object,
        m: int,
        n: int,
        k: int,
        a_ptr: int,
        b_ptr: int,
        c_ptr: int,
        batch: int,
        stride_a: int | None = None,
        stride_b: int | None = None,
        stride_c: int | None = None,
        transpose_a: bool = False,
        transpose_b: bool = False,
        lda: int | None = None,
        ldb: int | None = None,
        ldc: int | None = None,
    ) -> None:
        """Row-major C[i] = op(A[i]) @ op(B[i]) for i < batch; strides in elements between
        consecutive matrices (None: packed C-contiguous matrices, 0: the same matrix each time)."""
        prefix, scalar = _prefix(dtype)
        args = row_major_strided_batched_args(
            m,
            n,
            k,
            a_ptr,
            b_ptr,
            c_ptr,
            batch,
            stride_a,
            stride_b,
            stride_c,
            transpose_a,
            transpose_b,
            lda,
            ldb,
            ldc,
        )
        transa, transb, big_m, big_n, big_k, first, ld1, s1, second, ld2, s2, c, ld_c, s_c, count = args
        alpha, beta = scalar(1.0), scalar(0.0)
        name = f"cublas{prefix}gemmStridedBatched"
        status = getattr(self._lib, name)(
            self.handle,
            transa,
            transb,
            big_m,
            big_n,
            big_k,
            ctypes.byref(alpha),
            int(first),
            ld1,
            s1,
            int(second),
            ld2,
            s2,
            ctypes.byref(beta),
            int(c),
            ld_c,
            s_c,
            count,
        )
        check_status(name, status)
