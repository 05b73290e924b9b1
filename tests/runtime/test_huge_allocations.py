"""Buffers too large to allocate are a tc.TcMemoryError naming the op and the bytes, and a
call that fails that way changes no shared variable. Byte counts that overflow 64 bits in
generated code used to wrap to a small buffer and crash; those cases run in a subprocess."""

from __future__ import annotations

import ctypes
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


class _MallocInfo(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks")
        + ("fordblks", "keepcost")
    ]


def _heap_in_use() -> int:
    """Bytes malloc has handed out and not had back (glibc's mallinfo2)."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc's mallinfo2")
    libc.mallinfo2.restype = _MallocInfo
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def test_a_failed_allocation_frees_the_temporaries_allocated_before_it() -> None:
    x, y = T.matrix("x"), T.matrix("y")
    first = T.exp(x) + 1.0  # a temporary the size of x, allocated before the product's
    f = tc.function([x, y], T.tanh(T.dot(first, y)).sum() + first.sum())
    np.testing.assert_allclose(
        f(np.ones((4, 2)), np.ones((2, 4))), 16 * np.tanh(2 * np.e + 2) + 8 * (np.e + 1)
    )
    n = 3_000_000  # x is 48 MB, the product's n x n result 72 TB
    wide, tall = np.ones((n, 2)), np.ones((2, n))
    before = _heap_in_use()
    for _ in range(3):
        with pytest.raises(tc.TcMemoryError, match="could not allocate a temporary buffer"):
            f(wide, tall)
    assert _heap_in_use() - before < 8 << 20  # each failed call used to leak x's 48 MB
