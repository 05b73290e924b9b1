"""The semantic traps of a symbolic tensor compiler, as executable tests.

Each test states a behaviour that surprises someone (coming from numpy, Theano,
JAX or PyTensor) and pins down what tc does, so that it stays that way on
purpose. tinygrad keeps a file like this one.
"""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.random import RandomStreams

# -- outputs, aliasing and borrow -------------------------------------------------------


def test_outputs_never_alias_inputs_shared_buffers_or_each_other() -> None:
    """An output is a fresh array: writing into it changes no input, no shared variable and
    no other output (Theano could alias an output to an input; tc never does)."""
    x = T.dvector("x")
    data = np.ones(3)
    identity = tc.function([x], x)
    out = identity(data)
    out[0] = 7
    assert data[0] == 1
    state = tc.shared(np.zeros(3), name="state")
    read = tc.function([], state)
    read()[0] = 5
    assert state.get_value()[0] == 0
    twice = tc.function([x], [x * 2, x * 2])  # CSE makes one value: still two arrays
    a, b = twice(data)
    assert not np.shares_memory(a, b)


def test_get_value_copies_unless_borrowed_and_set_value_copies_unless_borrowed() -> None:
    state = tc.shared(np.zeros(3), name="state")
    state.get_value()[0] = 1  # a copy
    assert state.get_value()[0] == 0
    source = np.zeros(3)
    state.set_value(source)  # copied in
    source[0] = 2
    assert state.get_value()[0] == 0
    state.set_value(source, borrow=True)  # the caller promised not to touch it: it now aliases
    source[1] = 3
    assert state.get_value()[1] == 3


def test_an_output_does_not_see_its_own_functions_updates() -> None:
    """Outputs and updates are computed from the values before the call."""
    state = tc.shared(1.0, name="state")
    f = tc.function([], state * 10, updates=[(state, state + 1)])
    assert f() == 10 and f() == 20 and state.get_value() == 3


# -- updates and givens -------------------------------------------------------------------


def test_updates_are_simultaneous_so_a_swap_works() -> None:
    a, b = tc.shared(1.0, name="a"), tc.shared(2.0, name="b")
    tc.function([], [], updates=[(a, b), (b, a)])()
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)


def test_a_failed_call_applies_no_update() -> None:
    state = tc.shared(np.zeros(2), name="state")
    x = T.dvector("x")
    f = tc.function([x], x + state, updates=[(state, state + x)])
    with pytest.raises(tc.TcShapeError):
        f(np.ones(3))
    np.testing.assert_array_equal(state.get_value(), np.zeros(2))


def test_givens_replace_reads_of_a_shared_variable_but_its_update_still_lands() -> None:
    weights = tc.shared(np.full(2, 10.0), name="W")
    other = T.dvector("other")
    f = tc.function([other], weights.sum(), updates=[(weights, weights + 1)], givens={weights: other})
    assert f(np.ones(2)) == 2.0  # read the given, not W
    # The update's expression also read the given: W = other + 1.
    np.testing.assert_array_equal(weights.get_value(), [2.0, 2.0])


def test_updating_a_variable_that_is_not_shared_is_an_error() -> None:
    x = T.dscalar("x")
    with pytest.raises(tc.TcTypeError, match="not a shared variable"):
        tc.function([x], x, updates=[(x, x + 1)])


# -- random streams -------------------------------------------------------------------------


def test_random_streams_advance_by_default_update() -> None:
    """Each call draws new numbers (the stream's state has a default update), unless the
    function is compiled with no_default_updates=True; the same seed gives the same numbers."""
    draws = RandomStreams(seed=3).uniform((4,))
    fresh = tc.function([], draws)
    first, second = fresh(), fresh()
    assert not np.array_equal(first, second)
    frozen = tc.function([], RandomStreams(seed=3).uniform((4,)), no_default_updates=True)
    np.testing.assert_array_equal(frozen(), frozen())
    np.testing.assert_array_equal(frozen(), first)


def test_one_draw_used_twice_in_a_graph_is_one_draw() -> None:
    u = RandomStreams(seed=5).uniform((3,))
    a, b = tc.function([], [u, u * 1])()
    np.testing.assert_array_equal(a, b)


# -- dtypes: integer division, promotion, weak scalars ----------------------------------------


def test_integer_floor_division_and_modulo_follow_python_signs() -> None:
    i, j = T.iscalar("i"), T.iscalar("j")
    f = tc.function([i, j], [i // j, i % j, i / j])
    quotient, remainder, true_quotient = f(-7, 2)
    assert (quotient, remainder) == (-4, 1)  # floor, as Python and numpy; C would give -3, -1
    assert quotient.dtype == np.int32 and true_quotient.dtype == np.float64 and true_quotient == -3.5


def test_integer_division_by_zero_gives_zero_as_numpy_does() -> None:
    i, j = T.iscalar("i"), T.iscalar("j")
    assert tc.function([i, j], i // j)(7, 0) == 0  # no SIGFPE, no exception


def test_python_scalars_are_weak_numpy_scalars_are_strong() -> None:
    x = T.fvector("x")
    assert (x * 2.0).dtype == "float32"  # a Python float takes the tensor's dtype
    assert (x * np.float64(2)).dtype == "float64"  # a numpy scalar has a dtype of its own
    small = T.bscalar("small")
    assert (small + 1).dtype == "int8"
    with pytest.raises(tc.TcValueError, match="300 is out of bounds for int8"):
        small + 300  # noqa: B018 - the error is the point


def test_integer_arithmetic_wraps_at_the_dtype_width() -> None:
    small = T.bscalar("small")
    assert tc.function([small], small + 1)(np.int8(127)) == -128


def test_float_arguments_for_integer_inputs_are_refused_unless_downcast_is_allowed() -> None:
    i = T.iscalar("i")
    with pytest.raises(tc.TcTypeError, match="cannot be stored"):
        tc.function([i], i)(1.5)
    assert tc.function([i], i, allow_input_downcast=True)(1.5) == 1


# -- comparisons -------------------------------------------------------------------------------


def test_double_equals_is_identity_not_elementwise() -> None:
    """As in Theano, `a == b` on variables is Python's identity test (variables are hashed);
    elementwise equality is T.eq. A function whose output is that bool is an error."""
    a, b = T.dvector("a"), T.dvector("b")
    assert (a == b) is False and (a == a) is True
    with pytest.raises(tc.TcTypeError, match="use T.eq"):
        tc.function([a, b], a == b)
    np.testing.assert_array_equal(tc.function([a, b], T.eq(a, b))([1.0, 2.0], [1.0, 3.0]), [True, False])


# -- broadcasting --------------------------------------------------------------------------------


def test_a_size_one_dimension_stretches_only_where_the_type_says_so() -> None:
    """A matrix of shape (3, 1) passed for T.dmatrix does not broadcast against (4,): its
    second dimension is `?`. Declare it T.dcol (or T.col) to broadcast, as in Theano."""
    m, v = T.dmatrix("m"), T.dvector("v")
    with pytest.raises(tc.TcShapeError, match="statically 1"):
        tc.function([m, v], m + v)(np.ones((3, 1)), np.ones(4))
    column = T.dcol("c")
    assert tc.function([column, v], column + v)(np.ones((3, 1)), np.ones(4)).shape == (3, 4)


def test_broadcasting_against_an_empty_dimension_gives_an_empty_result() -> None:
    column, v = T.dcol("c"), T.dvector("v")
    assert tc.function([column, v], column * v)(np.ones((3, 1)), np.ones(0)).shape == (3, 0)
