"""Matrix products: tc's dot against numpy.dot, PyTensor and JAX on 1024 x 1024 matrices.

python bench/gemm.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, median_seconds, optional_import, print_table  # noqa: E402

import tc  # noqa: E402
from tc import tensor as T  # noqa: E402


def main() -> None:
    pytensor = optional_import("pytensor")
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    print(f"tc matrix product benchmark ({machine_note()})")
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        a = rng.standard_normal((1024, 1024)).astype(dtype)
        b = rng.standard_normal((1024, 1024)).astype(dtype)
        x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
        f = tc.function([x, y], T.dot(x, y))
        np.testing.assert_allclose(f(a, b), a @ b, rtol=1e-3 if dtype == "float32" else 1e-10, atol=1e-3)
        rows = [
            ("tc", median_seconds(lambda f=f, a=a, b=b: f(a, b))),
            ("numpy.dot", median_seconds(lambda a=a, b=b: np.dot(a, b))),
        ]
        if pytensor is not None:
            import pytensor.tensor as pt

            px, py = pt.matrix("x", dtype=dtype), pt.matrix("y", dtype=dtype)
            pf = pytensor.function([px, py], pt.dot(px, py))
            rows.append(("pytensor", median_seconds(lambda pf=pf, a=a, b=b: pf(a, b))))
        if jax is not None:
            jf = jax.jit(lambda u, v: u @ v)
            ja, jb = jax.device_put(a), jax.device_put(b)
            rows.append(
                ("jax.jit", median_seconds(lambda jf=jf, ja=ja, jb=jb: jf(ja, jb).block_until_ready()))
            )
        print_table(f"1024 x 1024 @ 1024 x 1024, {dtype}", rows)


if __name__ == "__main__":
    main()
