"""Per-call overhead of small compiled functions: tc against PyTensor and JAX.

    python bench/call_overhead.py

Two functions, each called many times on scalars: Theano's accumulator
(int32 in, int64 out, one shared-variable update) and f(x) = x + 1 on a
float64 scalar. PyTensor runs in its default mode; JAX jits a function that
takes the state and returns the new one (JAX has no shared state). Full
argument checking stays on in tc. "vs tc" is each time divided by tc's.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import optional_import, print_table, settle  # noqa: E402

import tc  # noqa: E402
from tc import tensor as T  # noqa: E402

CALLS = 20_000


def per_call(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    fn()
    settle()  # tc's optimised code, not its quick code, is timed
    return min(timeit.repeat(fn, number=CALLS, repeat=repeat)) / CALLS


def main() -> None:
    pytensor = optional_import("pytensor")
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)

    state = tc.shared(0)
    inc = T.iscalar("inc")
    accumulator = tc.function([inc], state, updates=[(state, state + inc)])
    x = T.dscalar("x")
    plus_one = tc.function([x], x + 1)
    one = np.int32(1)
    rows = [("tc", per_call(lambda: accumulator(one)))]
    rows += [("pytensor", _pytensor_accumulator(pytensor)), ("jax.jit", _jax_accumulator(jax))]
    print_table("accumulator(1): int32 in, int64 out, one update (per call)", [(n, t) for n, t in rows])
    value = 0.5
    rows = [("tc", per_call(lambda: plus_one(value)))]
    rows += [("pytensor", _pytensor_plus_one(pytensor)), ("jax.jit", _jax_plus_one(jax))]
    print_table("f(x) = x + 1 on a float64 scalar (per call)", rows)


def _pytensor_accumulator(pytensor) -> float | None:  # type: ignore[no-untyped-def]
    if pytensor is None:
        return None
    import pytensor.tensor as pt

    state = pytensor.shared(0)
    inc = pt.iscalar("inc")
    fn = pytensor.function([inc], state, updates=[(state, state + inc)])
    one = np.int32(1)
    return per_call(lambda: fn(one))


def _pytensor_plus_one(pytensor) -> float | None:  # type: ignore[no-untyped-def]
    if pytensor is None:
        return None
    import pytensor.tensor as pt

    x = pt.dscalar("x")
    fn = pytensor.function([x], x + 1)
    return per_call(lambda: fn(0.5))


def _jax_accumulator(jax) -> float | None:  # type: ignore[no-untyped-def]
    if jax is None:
        return None
    import jax.numpy as jnp

    step = jax.jit(lambda s, i: (s, s + i.astype(jnp.int64)))
    holder = [jnp.asarray(0, jnp.int64)]
    one = np.int32(1)

    def call() -> object:
        out, holder[0] = step(holder[0], one)
        return out

    return per_call(call)


def _jax_plus_one(jax) -> float | None:  # type: ignore[no-untyped-def]
    if jax is None:
        return None
    fn = jax.jit(lambda x: x + 1)
    return per_call(lambda: fn(0.5))


if __name__ == "__main__":
    main()
