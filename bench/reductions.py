"""tc against numpy (and PyTensor, JAX where installed) on sums.

    python bench/reductions.py [--quick] [--threads N]

The whole-array sum of 2^22 and 10^7 float32 and float64 values (standard
normal plus one, so the sum is far from zero), then sums over the rows and
over the columns of a 3000 x 3000 float32 matrix. Beside the times, each
case prints the relative error of tc and numpy against math.fsum of the same
values (a float64 reference, exact to the last bit). The column "vs tc" is
each implementation's time divided by tc's (above 1: tc is faster). JAX runs
with x64 enabled, so its float64 sums are float64 (each peer's result must
have the data's dtype).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, median_seconds, optional_import, print_table  # noqa: E402

import tc  # noqa: E402
from tc import tensor as T  # noqa: E402


def _relative_error(got: np.ndarray, data: np.ndarray, axis: int | None) -> float:
    """The largest relative error of `got` against correctly rounded float64 sums."""
    wide = data.astype(np.float64)
    if axis is None:
        exact = np.asarray(math.fsum(wide.ravel()))
    else:
        exact = np.apply_along_axis(math.fsum, axis, wide)
    return float(np.max(np.abs(np.asarray(got, np.float64) - exact) / np.abs(exact)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller arrays, fewer repeats")
    parser.add_argument("--threads", type=int, default=None, help="tc's thread count (default: all)")
    args = parser.parse_args()
    pytensor = optional_import("pytensor")
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)  # before any JAX array: float64 sums stay float64
    print(f"tc reduction benchmark ({machine_note()})")
    rng = np.random.default_rng(0)
    shrink = 16 if args.quick else 1
    cases: list[tuple[str, int, int | None, str]] = [
        ("float32", (1 << 22) // shrink, None, "sum"),
        ("float32", 10**7 // shrink, None, "sum"),
        ("float64", (1 << 22) // shrink, None, "sum"),
        ("float64", 10**7 // shrink, None, "sum"),
        ("float32", 3000 // (4 if args.quick else 1), 1, "row sums"),
        ("float32", 3000 // (4 if args.quick else 1), 0, "column sums"),
    ]
    for dtype, n, axis, label in cases:
        if axis is None:
            data = (rng.standard_normal(n) + 1.0).astype(dtype)
            x = T.vector("x", dtype=dtype)
            title = f"{label}, {n:,} x {dtype}"
        else:
            data = (rng.standard_normal((n, n)) + 1.0).astype(dtype)
            x = T.matrix("x", dtype=dtype)
            title = f"{label}, {n:,} x {n:,} {dtype}"
        f = tc.function([x], x.sum(axis=axis))
        if args.threads is not None:
            f._code_owner.set_num_threads(args.threads)
        rows = [
            ("tc", median_seconds(lambda f=f, data=data: f(data))),
            ("numpy", median_seconds(lambda data=data, axis=axis: data.sum(axis=axis))),
            ("pytensor", _pytensor_time(pytensor, data, axis)),
            ("jax.jit", _jax_time(jax, data, axis)),
        ]
        print_table(title, rows)
        errors = (_relative_error(f(data), data, axis), _relative_error(data.sum(axis=axis), data, axis))
        print(f"  relative error: tc {errors[0]:.2e}, numpy {errors[1]:.2e}")


def _pytensor_time(pytensor, data: np.ndarray, axis: int | None) -> float | None:  # type: ignore[no-untyped-def]
    if pytensor is None:
        return None
    import pytensor.tensor as pt

    x = pt.tensor("x", dtype=str(data.dtype), shape=(None,) * data.ndim)
    fn = pytensor.function([x], x.sum(axis=axis))
    got = fn(data)
    if got.dtype != data.dtype:
        raise AssertionError(f"pytensor: sum of {data.dtype} data has dtype {got.dtype}")
    return median_seconds(lambda: fn(data))


def _jax_time(jax, data: np.ndarray, axis: int | None) -> float | None:  # type: ignore[no-untyped-def]
    if jax is None:
        return None
    import jax.numpy as jnp

    jitted = jax.jit(lambda x: jnp.sum(x, axis=axis))
    device_data = jax.device_put(data)
    got = jitted(device_data)
    if got.dtype != data.dtype:
        raise AssertionError(f"jax.jit: sum of {data.dtype} data has dtype {got.dtype}")
    return median_seconds(lambda: jitted(device_data).block_until_ready())


if __name__ == "__main__":
    main()
