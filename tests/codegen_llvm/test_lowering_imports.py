"""codegen_llvm/lower.py imports the common lowerings before the first function is lowered,
and every other module of the package only when a function holds an op none of them lowers:
a cold compile of a train step imports no convolution, pooling or scan code, and a
convolution compiled after it still finds its lowering."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
import numpy as np
import tc, tc.tensor as T

RARE = ("conv", "pool", "scan", "ifelse", "cumsum", "head")
x, w = T.matrix("x"), T.matrix("w")
f = tc.function([x, w], T.nnet.softmax(T.dot(x, w)).sum(axis=1) + abs(w).sum())
assert np.allclose(f(np.ones((3, 4)), np.ones((4, 5))), 1.0 + 20.0)
print(sorted(m for m in RARE if f"tc.codegen_llvm.{m}" in sys.modules))
images, filters = T.tensor4("images"), T.tensor4("filters")
conv = tc.function([images, filters], T.nnet.conv2d(images, filters))
print(float(conv(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))).sum()))
print(sorted(m for m in RARE if f"tc.codegen_llvm.{m}" in sys.modules))
"""


def test_rare_lowerings_are_imported_when_an_op_needs_them() -> None:
    env = dict(os.environ, TC_CACHE="0")
    command = [sys.executable, "-c", SCRIPT]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    before, total, after = done.stdout.splitlines()
    assert before == "[]"
    assert float(total) == 36.0  # four 3 x 3 windows of ones
    assert after == "['conv', 'cumsum', 'head', 'ifelse', 'pool', 'scan']"
