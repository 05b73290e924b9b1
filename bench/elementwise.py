"""tc against numpy, PyTensor and JAX on fused elementwise expressions.

    python bench/elementwise.py [--quick]

Two expressions: the seed's f(x) = sin(deg2rad(x))**2 + cos(deg2rad(x))**2
on angles in degrees (normal, scale 100), and a six-op activation,
max(0.1x, x) * sigmoid(x) + tanh(x), on pre-activations (standard normal);
each over 2^22 float64 and 2^24 float32 elements. (Activations far outside
[-80, 80] make exp produce subnormal numbers, which x86 handles slowly; tc,
like numpy, does not flush them to zero.) The column "vs tc" is each
implementation's time divided by tc's (above 1: tc is faster).

JAX runs with x64 enabled, so its float64 cases compute in float64, and
every implementation's constants have the data's dtype (PyTensor, whose
floatX is float64, would otherwise compute the float32 activation in
float64). Before a case is timed, each implementation's output must have the
input's dtype and match numpy's values (rtol 1e-5 in float32, 1e-12 in
float64; atol 1e-5); one that does not stops the script with an
AssertionError naming it and the case.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def check_output(peer: str, case: str, got: object, expected: np.ndarray) -> None:
    """Raise AssertionError, naming the peer and the case, unless `got` has the dtype and values of
    numpy's `expected`."""
    got = np.asarray(got)
    if got.dtype != expected.dtype:
        raise AssertionError(f"{peer} on {case}: output dtype {got.dtype}, expected {expected.dtype}")
    rtol = 1e-5 if expected.dtype == np.float32 else 1e-12
    try:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-5)
    except AssertionError as err:
        raise AssertionError(f"{peer} on {case}: wrong values.{err}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller arrays, fewer repeats")
    args = parser.parse_args()
    pytensor = optional_import("pytensor")
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)  # before any JAX array: float64 stays float64
    print(f"tc elementwise benchmark ({machine_note()})")
    rng = np.random.default_rng(0)
    cases = [("float64", 22), ("float32", 24)]
    for name, build_tc, build_np, which, scale in [
        ("seed f", seed_tc, seed_numpy, "seed", 100.0),
        ("activation (6 ops)", act_tc, act_numpy, "act", 1.0),
    ]:
        for dtype, log2n in cases:
            n = 1 << (log2n - 4 if args.quick else log2n)
            data = (rng.standard_normal(n) * scale).astype(dtype)
            x = T.vector("x", dtype=dtype)
            f = tc.function([x], build_tc(x))
            title = f"{name}, {n:,} x {dtype}"
            expected = build_np(data)
            peers: list[tuple[str, Callable[[], Any] | None]] = [
                ("tc", lambda f=f, data=data: f(data)),
                ("numpy", lambda build_np=build_np, data=data: build_np(data)),
                ("pytensor", _pytensor_fn(pytensor, which, dtype, data)),
                ("jax.jit", _jax_fn(jax, which, data)),
            ]
            rows: list[tuple[str, float | None]] = []
            for peer, run in peers:
                if run is None:
                    rows.append((peer, None))
                    continue
                check_output(peer, title, run(), expected)
                rows.append((peer, median_seconds(run)))
            print_table(title, rows)


def _pytensor_fn(pytensor, which: str, dtype: str, data: np.ndarray) -> Callable[[], Any] | None:  # type: ignore[no-untyped-def]
    if pytensor is None:
        return None
    import pytensor.tensor as pt

    x = pt.vector("x", dtype=dtype)
    if which == "seed":
        y = pt.sin(pt.deg2rad(x)) ** 2 + pt.cos(pt.deg2rad(x)) ** 2
    else:  # 0.1 in the data's dtype: a Python float would upcast float32 to floatX (float64)
        y = pt.maximum(pt.constant(0.1, dtype=dtype) * x, x) * pt.sigmoid(x) + pt.tanh(x)
    fn = pytensor.function([x], y)
    return lambda: fn(data)


def _jax_fn(jax, which: str, data: np.ndarray) -> Callable[[], Any] | None:  # type: ignore[no-untyped-def]
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
    return lambda: jitted(device_data).block_until_ready()


if __name__ == "__main__":
    main()
