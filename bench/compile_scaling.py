"""How tc's compile time grows with the length of a graph.

    python bench/compile_scaling.py [--quick]

Two chains on a float64 vector, compiled by tc.function with the compile
cache off (TC_CACHE=0): `tanh(y * 1.01 + 0.1)` steps (three ops each) and
affine steps `y * 1.01 + 0.1` (two ops each), at 250 to 3,000 ops. Each line
gives the median compile time and, in "vs linear", that time divided by what
the smallest size's time scaled linearly predicts: about 1 while compile time
grows linearly, 4 at 3,000 ops if it grew quadratically from 250.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import machine_note, median_seconds  # noqa: E402

os.environ["TC_CACHE"] = "0"  # every compilation goes through LLVM

import tc  # noqa: E402
from tc import tensor as T  # noqa: E402

SIZES = (250, 500, 1000, 2000, 3000)


def chain(kind: str, ops: int):  # type: ignore[no-untyped-def]
    x = T.dvector("x")
    y = x
    if kind == "tanh":
        for _ in range(ops // 3):
            y = T.tanh(y * 1.01 + 0.1)
    else:
        for _ in range(ops // 2):
            y = y * 1.01 + 0.1
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1,000 ops, one compile each")
    args = parser.parse_args()
    sizes = [s for s in SIZES if s <= 1000] if args.quick else list(SIZES)
    repeat = 1 if args.quick else 3
    print(f"tc compile-time scaling, TC_CACHE=0 ({machine_note()})")
    x, y = chain("affine", 10)
    tc.function([x], y)  # imports and LLVM set-up are not part of any size
    for kind in ("tanh", "affine"):
        print(f"\n{kind} chain")
        print(f"  {'ops':>6}{'compile':>12}{'per op':>12}{'vs linear':>12}")
        first: float | None = None
        for ops in sizes:
            x, y = chain(kind, ops)
            seconds = median_seconds(lambda x=x, y=y: tc.function([x], y), repeat, warmup=0, budget_s=0)
            per_op = seconds / ops
            first = first or per_op
            print(f"  {ops:>6}{seconds:>11.2f}s{per_op * 1e3:>10.2f}ms{per_op / first:>11.2f}x")


if __name__ == "__main__":
    main()
