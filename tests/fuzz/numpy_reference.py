"""numpy's side of the differential fuzzer: each tc op computed directly in numpy.

Where numpy and tc are documented to differ (README "Where tc differs from
numpy"), the reference implements tc's documented rule instead of numpy's:
float-to-integer casts saturate and turn nan into 0, integer `x ** negative`
is the truncated exact result, float-only ops on small integers compute in
float32 (not float16). Everything else is plain numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.special

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8")
ALL_DTYPES = ("bool", *INT_DTYPES, *FLOAT_DTYPES)


def as_dtype(value: object, dtype: np.dtype) -> np.ndarray:
    """An operand in the dtype the op computes in (tc inserts the same tx.cast)."""
    return cast(np.asarray(value), dtype)


def cast(x: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """tc's tx.cast: numpy's astype, except that float -> integer saturates and nan -> 0."""
    dtype = np.dtype(dtype)
    x = np.asarray(x)
    if x.dtype.kind == "f" and dtype.kind in "iu":
        info = np.iinfo(dtype)
        wide = x.astype(np.float64)
        # float(info.max) rounds up to 2**63 for int64, so `>=` saturates exactly there.
        safe = np.where(np.isfinite(wide) & (wide < float(info.max)) & (wide > float(info.min)), wide, 0)
        out = np.trunc(safe).astype(dtype)
        out = np.where(wide >= float(info.max), info.max, out)
        out = np.where(wide <= float(info.min), info.min, out)
        return np.where(np.isnan(wide), 0, out).astype(dtype)
    return x.astype(dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros((), x.dtype), x)


def erf(x: np.ndarray) -> np.ndarray:
    return scipy.special.erf(x).astype(x.dtype)


def round_half_away(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind != "f":
        return x
    # floor(x + 0.5) is wrong for 0.49999999999999994; add the fraction test instead.
    whole = np.trunc(x)
    step = (np.abs(x - whole) >= 0.5).astype(x.dtype)
    return whole + np.copysign(step, x)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.zeros((), x.dtype))


def integer_power(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """Integer `**` as the README documents it: a negative exponent gives the
    truncated exact result (0, or +-1 for a base of +-1); tc also gives 0 for 0 ** -n."""
    base, exponent = np.broadcast_arrays(base, exponent)
    negative = exponent < 0
    result = np.power(base, np.where(negative, 0, exponent))
    odd = (exponent % 2) != 0
    truncated = np.where(base == 1, 1, np.where(base == -1, np.where(odd, -1, 1), 0)).astype(base.dtype)
    return np.where(negative, truncated, result).astype(base.dtype)


def power(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    if base.dtype.kind in "iu":
        return integer_power(base, exponent)
    # numpy computes `x ** 0.5` as sqrt(x) when the exponent is a scalar (or a stride-0 array):
    # nan at -inf, where C99's pow, numpy's pow of other arrays, and tc give +inf.
    with np.errstate(all="ignore"):
        result = np.power(base, exponent)
        return np.where((base == -np.inf) & (exponent == 0.5), np.inf, result).astype(result.dtype)


def mean(x: np.ndarray, axis: object, keepdims: bool, out: np.dtype) -> np.ndarray:
    return np.mean(x.astype(np.float64), axis=axis, keepdims=keepdims).astype(out)  # type: ignore[arg-type]


def var(x: np.ndarray, axis: object, keepdims: bool, out: np.dtype) -> np.ndarray:
    return np.var(x.astype(np.float64), axis=axis, keepdims=keepdims).astype(out)  # type: ignore[arg-type]


def std(x: np.ndarray, axis: object, keepdims: bool, out: np.dtype) -> np.ndarray:
    return np.std(x.astype(np.float64), axis=axis, keepdims=keepdims).astype(out)  # type: ignore[arg-type]


def dimshuffle(x: np.ndarray, pattern: tuple[object, ...]) -> np.ndarray:
    kept = [p for p in pattern if p != "x"]
    dropped = [d for d in range(x.ndim) if d not in kept]
    moved = x.transpose([*kept, *dropped])  # type: ignore[list-item]
    return moved.reshape([1 if p == "x" else x.shape[p] for p in pattern])  # type: ignore[index]


def flatten(x: np.ndarray, ndim: int) -> np.ndarray:
    lead = x.shape[: ndim - 1]
    return x.reshape(*lead, int(np.prod(x.shape[ndim - 1 :], dtype=np.int64)))


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.dot without BLAS: OpenBLAS skips zero factors, so 0 * nan gives 0 where IEEE (and tc)
    give nan. einsum multiplies every pair."""
    subscripts = {(1, 1): "i,i->", (1, 2): "i,ij->j", (2, 1): "ij,j->i", (2, 2): "ij,jk->ik"}
    return np.asarray(np.einsum(subscripts[a.ndim, b.ndim], a, b))
