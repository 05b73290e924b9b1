"""Integer powers: square-and-multiply in vector lanes, wrapping like numpy, truncating
negative exponents. A base shared by every element (a scalar) used to hang LLVM's O3: its
scalar evolution expanded the chain of squares into base**(2**63) term by term."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest


def expected(base: int, exponents: np.ndarray) -> np.ndarray:
    out = []
    for e in exponents:
        if e >= 0:
            with np.errstate(all="ignore"):
                out.append(np.power(np.array(base, exponents.dtype), int(e)))
        else:
            out.append(1 if base == 1 else ((-1) ** int(-e) if base == -1 else 0))
    return np.array(out, exponents.dtype)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_a_scalar_base_to_a_vector_of_exponents(dtype: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A subprocess with a timeout: a hang must fail the test, not stall the run.
    program = textwrap.dedent(
        f"""
        import numpy as np
        import tc
        from tc import tensor as T
        a, b = T.scalar("a", dtype="{dtype}"), T.vector("b", dtype="{dtype}")
        f = tc.function([a, b], a ** b)
        exponents = np.array([0, 1, 2, 3, 5, 7, -1, -2], "{dtype}")
        np.save(r"{tmp_path / "out.npy"}", np.stack([f(base, exponents) for base in (3, -1, 1, 2, 0, -3)]))
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    results = np.load(tmp_path / "out.npy")
    exponents = np.array([0, 1, 2, 3, 5, 7, -1, -2], dtype)
    for row, base in zip(results, (3, -1, 1, 2, 0, -3), strict=True):
        np.testing.assert_array_equal(row, expected(base, exponents))
