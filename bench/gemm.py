"""Matrix products: tc's dot against numpy.dot, PyTensor and JAX.

python bench/gemm.py [--quick]

Square 1024 x 1024 products (BLAS in every implementation), and products with one small
side, where tc uses its own kernel (codegen_llvm/small_gemm.py): a minibatch of 20 times
a 784 x 500 layer (the MLP's forward product), its weight gradient (784 x 20 times 20 x
500), and a batch-32 recurrent step (32 x 128 times 128 x 128). Times of the small ones are
per product, from runs of many calls. JAX runs with x64 enabled (its float64 products are
float64), and every implementation's product must have numpy's dtype and values before it is
timed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, median_seconds, optional_import, print_table, settle  # noqa: E402

import tc  # noqa: E402
from tc import tensor as T  # noqa: E402

SQUARE = (1024, 1024, 1024)
SMALL_SIDE = [(20, 784, 500), (784, 20, 500), (32, 128, 128)]


def _per_call(fn: Callable[[], Any], calls: int) -> float:
    def batch() -> None:
        for _ in range(calls):
            fn()

    return median_seconds(batch) / calls


def _check(peer: str, case: str, got: Any, expected: np.ndarray) -> None:
    """Raise AssertionError naming the peer and case unless `got` has numpy's dtype and values."""
    got = np.asarray(got)
    if got.dtype != expected.dtype:
        raise AssertionError(f"{peer} on {case}: output dtype {got.dtype}, expected {expected.dtype}")
    rtol = 1e-3 if expected.dtype == np.float32 else 1e-10
    try:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-3)
    except AssertionError as err:
        raise AssertionError(f"{peer} on {case}: wrong values.{err}") from None


def _case(dtype: str, shape: tuple[int, int, int], pytensor: Any, jax: Any) -> None:
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    calls = max(1, int(2e8 / (m * k * n)))
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    f = tc.function([x, y], T.dot(x, y))
    title = f"{m} x {k} @ {k} x {n}, {dtype}"
    expected = a @ b
    _check("tc", title, f(a, b), expected)
    settle()  # the products' optimised code, not tiered compilation's quick code, is timed
    rows = [
        ("tc", _per_call(lambda: f(a, b), calls)),
        ("numpy.dot", _per_call(lambda: np.dot(a, b), calls)),
    ]
    if pytensor is not None:
        import pytensor.tensor as pt

        px, py = pt.matrix("x", dtype=dtype), pt.matrix("y", dtype=dtype)
        pf = pytensor.function([px, py], pt.dot(px, py))
        _check("pytensor", title, pf(a, b), expected)
        rows.append(("pytensor", _per_call(lambda: pf(a, b), calls)))
    if jax is not None:
        jf = jax.jit(lambda u, v: u @ v)
        ja, jb = jax.device_put(a), jax.device_put(b)
        _check("jax.jit", title, jf(ja, jb), expected)
        rows.append(("jax.jit", _per_call(lambda: jf(ja, jb).block_until_ready(), calls)))
    rows.append(("tc (again)", _per_call(lambda: f(a, b), calls)))
    print_table(title, rows)


def main() -> None:
    pytensor = optional_import("pytensor")
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    print(f"tc matrix product benchmark ({machine_note()})")
    shapes = SMALL_SIDE if "--quick" in sys.argv else [SQUARE, *SMALL_SIDE]
    for dtype in ("float64", "float32"):
        for shape in shapes:
            _case(dtype, shape, pytensor, jax)


if __name__ == "__main__":
    main()
