"""Kernels whose broadcast result has a zero-length dimension return an empty array.

The rows x columns loop divided by the column count, so a zero-length column
axis killed the process with SIGFPE. Each case runs in a subprocess: a crash
fails the test instead of ending the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = {
    "column plus empty vector": (
        "c = T.dcol(); v = T.dvector(); f = tc.function([c, v], T.exp(v) + c)",
        "f(np.ones((3, 1)), np.ones(0))",
        "np.exp(np.ones(0)) + np.ones((3, 1))",
    ),
    "row of an empty matrix": (
        "x = T.dmatrix(); i = T.lscalar(); v = T.dvector(); f = tc.function([x, i, v], x[i] + T.exp(v))",
        "f(np.ones((3, 0)), 1, np.ones(0))",
        "np.ones((3, 0))[1] + np.exp(np.ones(0))",
    ),
    "column times an empty slice": (
        "c = T.dcol(); w = T.dvector(); f = tc.function([c, w], c * w)",
        "f(np.ones((3, 1)), np.ones(5)[5:])",
        "np.ones((3, 1)) * np.ones(5)[5:]",
    ),
    "empty middle axis against a row": (
        "x = T.dtensor3(); r = T.drow(); f = tc.function([x, r], T.tanh(x) + r)",
        "f(np.ones((2, 0, 4)), np.ones((1, 4)))",
        "np.tanh(np.ones((2, 0, 4))) + np.ones((1, 4))",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_zero_length_broadcast_gives_an_empty_result(name: str) -> None:
    build, call, expected = CASES[name]
    program = textwrap.dedent(
        f"""
        import numpy as np
        import tc
        from tc import tensor as T
        {build}
        out = {call}
        want = {expected}
        assert out.shape == want.shape, (out.shape, want.shape)
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])
