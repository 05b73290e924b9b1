"""Random numbers: tc's Philox streams against numpy and JAX.

    python bench/rng.py [--quick]

2^24 float64 uniform and normal samples per call. numpy draws with
Generator(Philox) and Generator(PCG64); JAX with jax.random (threefry),
jitted, with a fresh key per call as a training loop would. tc draws from a
RandomStreams variable whose stream advances on every call. "vs tc" is each
time divided by tc's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, median_seconds, optional_import, print_table  # noqa: E402

import tc  # noqa: E402
from tc.random import RandomStreams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2^20 samples instead of 2^24")
    args = parser.parse_args()
    n = 1 << (20 if args.quick else 24)
    jax = optional_import("jax")
    print(f"tc random benchmark, {n:,} float64 samples per call ({machine_note()})")
    srng = RandomStreams(seed=1)
    philox = np.random.Generator(np.random.Philox(1))
    pcg = np.random.Generator(np.random.PCG64(1))
    for kind in ("uniform", "normal"):
        f = tc.function([], getattr(srng, kind)((n,)))
        rows = [
            ("tc", median_seconds(f)),
            ("numpy Philox", median_seconds(lambda kind=kind: _numpy(philox, kind, n))),
            ("numpy PCG64", median_seconds(lambda kind=kind: _numpy(pcg, kind, n))),
            ("jax.random", _jax_time(jax, kind, n)),
        ]
        print_table(f"{kind}, {n:,} x float64", rows)


def _numpy(generator: np.random.Generator, kind: str, n: int) -> np.ndarray:
    return generator.random(n) if kind == "uniform" else generator.standard_normal(n)


def _jax_time(jax, kind: str, n: int) -> float | None:  # type: ignore[no-untyped-def]
    if jax is None:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    draw = jax.random.uniform if kind == "uniform" else jax.random.normal
    fn = jax.jit(lambda key: draw(key, (n,), dtype=jnp.float64))
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 64))
    return median_seconds(lambda: fn(next(keys)).block_until_ready(), repeat=7)


if __name__ == "__main__":
    main()
