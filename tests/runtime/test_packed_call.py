"""The runtime's native packing of a call's arrays (codegen_llvm/packed_call.py): the same
results as the Python path, and nothing called for what it cannot read."""

from __future__ import annotations

import ctypes

import numpy as np

import tc
from tc import tensor as T
from tc.library_parts import packed_call
from tc.runtime.function import NDARRAY, NOT_PACKED, RANKS_DIFFER


def layer():  # type: ignore[no-untyped-def]
    w = tc.shared(np.arange(12.0).reshape(3, 4), name="w")
    x = T.dmatrix("x")
    v = T.dvector("v")
    return tc.function([x, v], [T.dot(x, w) + v.sum(), x.T], updates=[(w, w * 2.0)]), w


def test_packed_and_python_paths_agree() -> None:
    f, w = layer()
    g, v = layer()
    g._packed = None  # the Python path
    x = np.arange(6.0).reshape(3, 2).T  # strided: a transposed view
    for _ in range(2):
        for ours, theirs in zip(f(x, np.ones(5)), g(x, np.ones(5)), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(w.get_value(), v.get_value())


class Sub(np.ndarray):
    pass


def test_calls_nothing_for_objects_it_cannot_read() -> None:
    call = packed_call()
    data = (ctypes.c_void_p * 2)()
    dims = (ctypes.c_int64 * 6)()
    entry = 1  # never called: calling it would crash
    arrays = (np.ones((2, 3)), np.ones(3).view(Sub))
    assert call(entry, arrays, 2, data, dims, len(dims), NDARRAY) == NOT_PACKED
    arrays = (np.ones((2, 3)), np.ones((2, 3)))  # 8 words of shapes and strides: 4 fit
    assert call(entry, arrays, 2, data, dims, len(dims), NDARRAY) == RANKS_DIFFER
