"""The CPython-level entry of stateless scalar functions behaves exactly like the general path."""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm import pycall
from tc.native_entry import NATIVE_ENTRY_AFTER_CALLS

pytestmark = pytest.mark.skipif(not pycall.supported(), reason="needs a regular CPython build")


@pytest.fixture(scope="module")
def mixed():  # type: ignore[no-untyped-def]
    d, i, b, u, f = (
        T.dscalar("d"),
        T.iscalar("i"),
        T.scalar("b", dtype="bool"),
        T.scalar("u", "uint8"),
        T.fscalar("f"),
    )
    fn = tc.function([d, i, b, u, f], [d * 2, i + 1, T.invert(b), u + 1, f * 2])
    for _ in range(NATIVE_ENTRY_AFTER_CALLS - 1):
        fn(0.5, 3, True, 7, np.float32(1.5))
    assert fn._entry is None  # not yet: a function called a few times never pays for LLVM
    fn(0.5, 3, True, 7, np.float32(1.5))
    assert fn._entry is not None  # the native entry is installed
    return fn


def _general(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    return fn._call(*args, **kwargs)


@pytest.mark.parametrize(
    "args",
    [
        (0.5, 3, True, 7, np.float32(1.5)),  # native: exact types
        (np.float64(0.5), np.int32(3), np.bool_(False), np.uint8(255), np.float32(-0.0)),
        (1, 3, True, 7, 1.5),  # general: int for float, float for f32
        (0.5, np.int8(3), True, 7, np.float32(1)),  # general: a safe upcast
        (0.5, 2**31 - 1, False, 0, np.float32(np.inf)),
    ],
)
def test_same_results_as_the_general_path(mixed, args) -> None:  # type: ignore[no-untyped-def]
    got, want = mixed(*args), _general(mixed, *args)
    assert [(g.dtype, g.shape, g.tolist()) for g in got] == [(w.dtype, w.shape, w.tolist()) for w in want]


@pytest.mark.parametrize(
    "args,error",
    [
        ((0.5, 2**31, True, 7, np.float32(1)), tc.TcTypeError),
        ((0.5, 1.5, True, 7, np.float32(1)), tc.TcTypeError),
        ((0.5, 3, True, 256, np.float32(1)), tc.TcTypeError),
        (("x", 3, True, 7, np.float32(1)), tc.TcValueError),
        ((0.5, 3), tc.TcTypeError),
    ],
)
def test_errors_come_from_the_general_path(mixed, args, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        mixed(*args)


def test_keywords_and_single_output() -> None:
    x, y = T.dscalar("x"), T.dscalar("y")
    f = tc.function([x, y], x - y)
    assert f(5.0, 3.0) == 2.0 and f(y=5.0, x=3.0) == -2.0 and f(5.0, y=1.0) == 4.0
    assert isinstance(f(1.0, 2.0), np.ndarray)


def test_no_reference_leaks() -> None:
    x = T.dscalar("x")
    f = tc.function([x], [x + 1, x * 2])
    value = 0.25
    before = sys.getrefcount(value)
    for _ in range(1000):
        out = f(value)
    gc.collect()
    assert sys.getrefcount(value) == before
    general = f._call(value)
    assert sys.getrefcount(out) == sys.getrefcount(general)
    assert [sys.getrefcount(a) for a in out] == [sys.getrefcount(a) for a in general]
