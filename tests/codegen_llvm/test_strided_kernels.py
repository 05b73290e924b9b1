"""Kernels over operands of any layout (transposed, sliced, reversed, broadcast in the
middle): the strided nest runs the same fast math as the contiguous loops, in tiles, over
the cores, so a view gives the bits its contiguous copy gives."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T

RNG = np.random.default_rng(11)
BASE = RNG.normal(size=(300, 260))


@pytest.mark.parametrize(
    "view",
    [BASE.T, BASE[:, ::3], BASE[::-1, 5:200], BASE[:1, :].T, BASE[:, :0].T, BASE[7:9, 3:4]],
    ids=["transposed", "sliced", "reversed", "column", "empty", "tiny"],
)
def test_a_view_gives_the_bits_of_its_contiguous_copy(view: np.ndarray) -> None:
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = tc.function([x, y], [T.tanh(x) * T.exp(-y) + 1, T.nnet.sigmoid(x - y)])
    copy = np.ascontiguousarray(view)
    for got, want in zip(f(view, view), f(copy, copy), strict=True):
        assert got.tobytes() == want.tobytes()
    np.testing.assert_allclose(f(view, view)[1], 1 / (1 + np.exp(-(view - view))), rtol=1e-15)


def test_three_axes_broadcast_in_the_middle_and_thread_counts() -> None:
    z, m = T.dtensor3("z"), T.dmatrix("m")
    f = tc.function([z, m], T.exp(z) * m.dimshuffle(0, "x", 1))  # m broadcast along axis 1
    a = RNG.normal(size=(40, 70, 90)).transpose(2, 0, 1)[:, ::2]
    b = RNG.normal(size=(90, 70))
    native = f._code_owner
    try:
        native.set_num_threads(1)
        one = f(a, b)
        native.set_num_threads(3)
        three = f(a, b)
    finally:
        native.set_num_threads(2)
    assert one.tobytes() == three.tobytes()
    np.testing.assert_allclose(one, np.exp(a) * b[:, None, :], rtol=1e-14)


def test_huge_arguments_of_a_strided_sine_fall_back_to_exact_math() -> None:
    x = T.dmatrix("x")
    f = tc.function([x], T.sin(x))
    a = np.full((70, 3), 1e300).T
    np.testing.assert_array_equal(f(a), np.sin(a))
