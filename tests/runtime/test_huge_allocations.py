"""Buffers too large to allocate are a tc.TcMemoryError naming the op and the bytes, and a
call that fails that way changes no shared variable. Byte counts that overflow 64 bits in
generated code used to wrap to a small buffer and crash; those cases run in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tc
from tc import tensor as T


def test_an_output_too_large_names_its_op_and_size() -> None:
    n = T.lscalar("n")
    state = tc.shared(np.zeros(3), name="state")
    f = tc.function([n], T.alloc(0.0, n, n), updates=[(state, state + 1)], name="big")
    message = r"function 'big': result 0 \(tx.alloc at .*\) needs 727.6 TiB"
    with pytest.raises(tc.TcMemoryError, match=message):
        f(10**7)
    with pytest.raises(MemoryError):  # also the builtin a numpy user catches
        f(10**10)
    np.testing.assert_array_equal(state.get_value(), np.zeros(3))
    assert f(2).shape == (2, 2) and state.get_value()[0] == 1


def test_an_update_too_large_names_the_shared_variable() -> None:
    n = T.lscalar("n")
    weights = tc.shared(np.arange(3.0), name="W")
    f = tc.function([n], weights.sum(), updates=[(weights, T.alloc(1.0, n * n))])
    with pytest.raises(tc.TcMemoryError, match="the update of shared variable 'W'"):
        f(10**7)
    np.testing.assert_array_equal(weights.get_value(), np.arange(3.0))


def test_temporaries_whose_byte_count_overflows_fail_cleanly() -> None:
    program = textwrap.dedent(
        """
        import numpy as np
        import tc
        from tc import tensor as T
        n = T.lscalar("n")
        state = tc.shared(np.ones(4), name="state")
        f = tc.function([n], T.alloc(1.0, n, n).sum(), updates=[(state, state * 2)])
        for size in (2**32, 3 * 2**30, 10**10, 10**6):
            try:
                f(size)
            except tc.TcMemoryError as err:
                assert "no shared variable was changed" in str(err), err
            else:
                raise AssertionError(f"no error for {size}")
        assert (state.get_value() == 1).all()
        assert f(100) == 10000.0
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stderr[-2000:])
