"""tc against numpy, PyTensor and JAX on fused elementwise expressions.

    python bench/elementwise.py [--quick]

Two expressions: the seed's f(x) = sin(deg2rad(x))**2 + cos(deg2rad(x))**2
on angles in degrees (normal, scale 100), and a six-op activation,
max(0.1x, x) * sigmoid(x) + tanh(x), on pre-activations (standard normal);
each over 2^22 float64 and 2^24 float32 elements. (Activations far outside
[-80, 80] make exp produce subnormal numbers, which x86 handles slowly; tc,
like numpy, does not flush them to zero.) The column "vs tc" is each
implementation's time divided by tc's (above 1: tc is faster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, median_seconds, optional_import, print_table  # noqa: E402

import tc  # noqa: E402
from tc import tensor as T  # noqa: E402


def seed_tc(x):  # type: ignore[no-untyped-def]
    return T.sin(T.deg2rad(x)) ** 2 + T.cos(T.deg2rad(x)) ** 2


def seed_numpy(x: np.ndarray) -> np.ndarray:
    return np.sin(np.deg2rad(x)) ** 2 + np.cos(np.deg2rad(x)) ** 2


def act_tc(x):  # type: ignore[no-untyped-def]
    return T.maximum(0.1 * x, x) * T.sigmoid(x) + T.tanh(x)


def act_numpy(x: np.ndarray) -> np.ndarray:
    c = x.dtype.type
    return np.maximum(c(0.1) * x, x) * (c(1) / (c(1) + np.exp(-x))) + np.tanh(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller arrays, fewer repeats")
    args = parser.parse_args()
    pytensor = optional_import("pytensor")
    jax = optional_import("jax")
    print(f"tc elementwise benchmark ({machine_note()})")
    rng = np.random.default_rng(0)
    cases = [("float64", 22), ("float32", 24)]
    for name, build_tc, build_np, build_pt, build_jax, scale in [
        ("seed f", seed_tc, seed_numpy, "seed", "seed", 100.0),
        ("activation (6 ops)", act_tc, act_numpy, "act", "act", 1.0),
    ]:
        for dtype, log2n in cases:
            n = 1 << (log2n - 4 if args.quick else log2n)
            data = (rng.standard_normal(n) * scale).astype(dtype)
            x = T.vector("x", dtype=dtype)
            f = tc.function([x], build_tc(x))
            expected = build_np(data)
            np.testing.assert_allclose(
                f(data), expected, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5
            )
            rows = [
                ("tc", median_seconds(lambda f=f, data=data: f(data))),
                ("numpy", median_seconds(lambda build_np=build_np, data=data: build_np(data))),
            ]
            rows.append(("pytensor", _pytensor_time(pytensor, build_pt, dtype, data)))
            rows.append(("jax.jit", _jax_time(jax, build_jax, data)))
            print_table(f"{name}, {n:,} x {dtype}", rows)


def _pytensor_time(pytensor, which: str, dtype: str, data: np.ndarray) -> float | None:  # type: ignore[no-untyped-def]
    if pytensor is None:
        return None
    import pytensor.tensor as pt

    x = pt.vector("x", dtype=dtype)
    if which == "seed":
        y = pt.sin(pt.deg2rad(x)) ** 2 + pt.cos(pt.deg2rad(x)) ** 2
    else:
        y = pt.maximum(0.1 * x, x) * pt.sigmoid(x) + pt.tanh(x)
    fn = pytensor.function([x], y)
    return median_seconds(lambda: fn(data))


def _jax_time(jax, which: str, data: np.ndarray) -> float | None:  # type: ignore[no-untyped-def]
    if jax is None:
        return None
    import jax.numpy as jnp

    if which == "seed":

        def fn(x):  # type: ignore[no-untyped-def]
            return jnp.sin(jnp.deg2rad(x)) ** 2 + jnp.cos(jnp.deg2rad(x)) ** 2
    else:

        def fn(x):  # type: ignore[no-untyped-def]
            return jnp.maximum(0.1 * x, x) * jax.nn.sigmoid(x) + jnp.tanh(x)

    jitted = jax.jit(fn)
    device_data = jax.device_put(data)
    return median_seconds(lambda: jitted(device_data).block_until_ready())


if __name__ == "__main__":
    main()
