"""How many blocks a grid-stride kernel should be launched with: the seed f (2^26 float32, 2^25
float64) and Philox uniforms (2^26 float32) timed with each cap on blocks per multiprocessor
(codegen_ptx/launch.py BLOCKS_PER_MULTIPROCESSOR), and a device copy of the same bytes, all in
one process. CUDA-event median of 20 after warm-up. Run on a GPU machine (needs cupy)."""

from __future__ import annotations

import statistics

import numpy as np

import tc
from tc import tensor as T
from tc.codegen_ptx import launch
from tc.random import RandomStreams

CAPS = (4, 8, 16, 32, None)


def median_ms(cupy, call) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):
        call()
    times = []
    for _ in range(20):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        call()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)


def main() -> None:
    import cupy

    rows = []
    for dtype, n in (("float32", 1 << 26), ("float64", 1 << 25)):
        x = T.vector("x", dtype=dtype)
        f = tc.function([x], T.sin(x) ** 2 + T.cos(x) ** 2, device="cuda")
        f.outputs_on_device = True
        data = cupy.asarray(np.random.default_rng(0).uniform(-10, 10, n).astype(dtype))
        out = cupy.empty_like(data)
        copy = median_ms(cupy, lambda: out.__setitem__(Ellipsis, data))  # noqa: B023
        for cap in CAPS:
            launch.BLOCKS_PER_MULTIPROCESSOR = cap
            rows.append((f"seed f {dtype}", cap, median_ms(cupy, lambda: f(data)), copy))  # noqa: B023
    draw = tc.function([], RandomStreams(seed=1).uniform((1 << 26,), dtype="float32"), device="cuda")
    draw.outputs_on_device = True
    for cap in CAPS:
        launch.BLOCKS_PER_MULTIPROCESSOR = cap
        rows.append(("uniform float32 2^26", cap, median_ms(cupy, draw), float("nan")))
    print(f"{'case':22} {'blocks/SM':>9} {'ms':>8} {'copy ms':>8} {'copy/time':>9}")
    for case, cap, ms, copy in rows:
        print(f"{case:22} {cap if cap else 'no cap':>9} {ms:8.3f} {copy:8.3f} {copy / ms:9.2f}")


if __name__ == "__main__":
    main()
