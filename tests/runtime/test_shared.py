"""Shared variables, updates and givens with Theano's semantics."""

from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest

import tc
from tc import tensor as T


def test_seed_second_example_transcript() -> None:
    state = tc.shared(0)
    inc = T.iscalar("inc")
    accumulator = tc.function([inc], state, updates=[(state, state + inc)])
    decrementor = tc.function([inc], state, updates=[(state, state - inc)])
    assert state.dtype == "int64" and state.get_value() == 0
    assert accumulator(1) == 0 and state.get_value() == 1
    assert accumulator(3) == 1 and state.get_value() == 4
    assert decrementor(1) == 4 and state.get_value() == 3
    assert accumulator(1) == 3 and state.get_value() == 4
    state.set_value(10)
    assert state.get_value() == 10
    foo = T.scalar(dtype=state.dtype)
    skip_shared = tc.function([inc, foo], state * 2 + inc, givens=[(state, foo)])
    assert skip_shared(1, 3) == 7
    assert state.get_value() == 10


def test_python_scalars_become_int64_and_float64() -> None:
    assert tc.shared(3).dtype == "int64"
    assert tc.shared(2.5).dtype == "float64"
    assert tc.shared(np.zeros(3, np.float32)).dtype == "float32"


def test_updates_read_values_from_before_the_call() -> None:
    a, b = tc.shared(1.0, "a"), tc.shared(2.0, "b")
    swap = tc.function([], [a + b], updates={a: b, b: a})
    assert swap()[0] == 3.0
    assert (a.get_value(), b.get_value()) == (2.0, 1.0)


def test_outputs_never_alias_shared_buffers() -> None:
    w = tc.shared(np.arange(4.0), "w")
    read = tc.function([], w)
    bump = tc.function([], [], updates=[(w, w + 1)])
    before = read()
    bump()
    assert before.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert w.get_value().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_large_update_is_done_in_place() -> None:
    w = tc.shared(np.ones((500, 400)), "W")
    g = T.dmatrix("g")
    lr = T.dscalar("lr")
    sgd = tc.function([g, lr], [], updates=[(w, w - lr * g)])
    buffer = w.get_value(borrow=True)
    sgd(np.full((500, 400), 2.0), 0.25)
    assert w.get_value(borrow=True) is buffer  # no new array: written in place
    assert np.all(w.get_value() == 0.5)


def _in_place(f: tc.runtime.CompiledFunction) -> list[object]:
    return [op.attributes.get("in_place") for op in f.ir_function().body.ops if op.name == "tx.store"]


def test_an_update_is_in_place_after_a_forward_pass_read_the_old_value() -> None:
    """The product reads W before the update kernel runs: ops run in order, so the kernel
    may overwrite W (plan-buffers); the cost still sees the old W."""
    w = tc.shared(np.ones((300, 200)), "W")
    x = T.dmatrix("x")
    cost = T.sum(T.dot(x, w) ** 2)
    sgd = tc.function([x], cost, updates=[(w, w - 0.001 * T.grad(cost, w) + 0.0 * abs(w).sum())])
    assert _in_place(sgd) == [True]
    buffer = w.get_value(borrow=True)
    rng = np.random.default_rng(0)
    expected_w = np.ones((300, 200))
    for _ in range(3):
        batch = rng.standard_normal((7, 300))
        got = sgd(batch)
        np.testing.assert_allclose(got, np.sum((batch @ expected_w) ** 2), rtol=1e-12)
        expected_w = expected_w - 0.001 * 2 * batch.T @ (batch @ expected_w)
        np.testing.assert_allclose(w.get_value(), expected_w, rtol=1e-12)
    assert w.get_value(borrow=True) is buffer


def test_no_update_in_place_while_the_old_value_is_still_read() -> None:
    w = tc.shared(np.arange(6.0).reshape(2, 3), "W")
    # the old value is returned (read at the end), or read by the kernel at other indices
    returned = tc.function([], w * 1.0, updates=[(w, w + 1)])
    reversed_rows = tc.function([], [], updates=[(w, w - 2 * w[::-1])])
    both = tc.function([], [T.dot(w + 1, w.T).sum()], updates=[(w, w * 2)])
    assert _in_place(returned) == [False] and _in_place(reversed_rows) == [False]
    np.testing.assert_array_equal(returned(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(w.get_value(), np.arange(6.0).reshape(2, 3) + 1)
    old = w.get_value()
    reversed_rows()  # in place, the second row would read the first one already rewritten
    np.testing.assert_array_equal(w.get_value(), old - 2 * old[::-1])
    w.set_value(old)
    assert _in_place(both) == [True]  # the product reads W before the kernel that doubles it
    (total,) = both()
    assert total == np.dot(old + 1, old.T).sum()
    np.testing.assert_array_equal(w.get_value(), 2 * old)


def test_failed_call_changes_nothing() -> None:
    a = tc.shared(np.zeros(3), "a")
    b = tc.shared(5, "b")
    x, y = T.dvector("x"), T.dvector("y")
    f = tc.function([x, y], [x + a, y + a], updates=[(a, a + x), (b, b + 1)])
    with pytest.raises(tc.TcShapeError, match="'y' has size 4"):
        f(np.ones(3), np.ones(4))
    with pytest.raises(tc.TcError, match="must be numeric"):
        f(np.ones(3), "nope")
    assert a.get_value().tolist() == [0.0, 0.0, 0.0] and b.get_value() == 5
    f(np.ones(3), np.ones(3))
    assert a.get_value().tolist() == [1.0, 1.0, 1.0] and b.get_value() == 6


def test_threads_never_lose_an_update() -> None:
    state = tc.shared(0)
    inc = T.iscalar("inc")
    accumulator = tc.function([inc], state, updates=[(state, state + inc)])

    def work() -> None:
        for _ in range(10_000):
            accumulator(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.get_value() == 40_000


def test_pickle_copy_and_deepcopy_keep_the_value() -> None:
    w = tc.shared(np.arange(6.0).reshape(2, 3), "W")
    for clone in (pickle.loads(pickle.dumps(w)), copy.copy(w), copy.deepcopy(w)):
        assert clone.name == "W" and clone.get_value().tolist() == w.get_value().tolist()
        clone.set_value(np.zeros((2, 3)))
        assert w.get_value()[1, 2] == 5.0  # independent of the original


def test_get_and_set_value_copy_unless_borrowed() -> None:
    value = np.zeros(3)
    w = tc.shared(value)
    value[0] = 7
    assert w.get_value()[0] == 0
    got = w.get_value()
    got[1] = 7
    assert w.get_value()[1] == 0
    mine = np.ones(3)
    w.set_value(mine, borrow=True)
    assert w.get_value(borrow=True) is mine
    w.set_value(np.ones(5))  # shapes may change, ranks may not
    with pytest.raises(tc.TcShapeError, match="has rank 1"):
        w.set_value(np.ones((2, 2)))
    with pytest.raises(tc.TcTypeError, match="lose precision"):
        tc.shared(np.zeros(2, np.float32), "f").set_value(np.zeros(2))


def test_givens_on_inputs_intermediates_and_shared() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    hidden = T.exp(x)
    out = T.sin(hidden) + y
    replace_intermediate = tc.function([x, y], out, givens={hidden: x * 2})
    np.testing.assert_allclose(replace_intermediate([0.5], [1.0]), np.sin([1.0]) + 1.0)
    z = T.dvector("z")
    replace_input = tc.function([z, y], out, givens=[(x, z + 1)])
    np.testing.assert_allclose(replace_input([0.0], [0.0]), np.sin(np.exp([1.0])))
    data = tc.shared(np.arange(4.0), "data")
    i = T.dvector("i")
    replace_shared = tc.function([i], data * 2, givens=[(data, i)])
    assert replace_shared([1.0, 2.0]).tolist() == [2.0, 4.0]
    free = T.dvector("free")  # a root that is not an input: bound by the given
    bind = tc.function([y], free + y, givens=[(free, y * 10)])
    assert bind([1.0]).tolist() == [11.0]


def test_bad_updates_and_givens_are_rejected_at_function_time() -> None:
    state = tc.shared(0, "state")
    other = tc.shared(np.zeros(3), "other")
    x = T.dvector("x")
    with pytest.raises(tc.TcTypeError, match="x is not a shared variable"):
        tc.function([x], x, updates=[(x, x + 1)])
    with pytest.raises(tc.TcTypeError, match="update of 'state' .*must keep its type"):
        tc.function([], state, updates=[(state, state * 1.5)])
    with pytest.raises(tc.TcTypeError, match="update of 'other' .*must keep its type"):
        tc.function([], [], updates=[(other, T.dmatrix("m"))])
    with pytest.raises(tc.TcValueError, match="'state' is updated twice"):
        tc.function([], [], updates=[(state, state + 1), (state, state + 2)])
    with pytest.raises(
        tc.TcTypeError, match="'x' of type tensor<\\?xf64> cannot be replaced.*tensor<\\?xf32>"
    ):
        tc.function([], x * 2, givens=[(x, T.fvector("f"))])


@pytest.mark.parametrize("value", ["text", np.array(["a", "b"]), [object()], None])
def test_unsupported_shared_values(value: object) -> None:
    with pytest.raises(tc.TcError, match="shared variable"):
        tc.shared(value, "bad")


def test_shared_variables_in_expressions_and_attributes() -> None:
    w = tc.shared(np.ones((2, 3), np.float32), "W")
    assert w.name == "W" and w.dtype == "float32" and w.ndim == 2 and w.get_value().shape == (2, 3)
    assert tc.function([], w.shape)().tolist() == [2, 3]  # symbolic, as in Theano
    assert str(w.type) == "tensor<?x?xf32>"
    x = T.fmatrix("x")
    f = tc.function([x], x * w)
    assert f(np.full((2, 3), 2, np.float32)).tolist() == [[2.0] * 3] * 2


def test_scalar_fast_path_follows_set_value_and_conversion_rules() -> None:
    state = tc.shared(0, "state")
    inc = T.iscalar("inc")
    accumulator = tc.function([inc], state, updates=[(state, state + inc)])
    assert accumulator(np.int32(2)) == 0
    fresh = np.array(100, dtype=np.int64)
    state.set_value(fresh, borrow=True)  # a new buffer: the fast path must notice
    assert accumulator(1) == 100 and state.get_value() == 101
    frozen = np.array(5, dtype=np.int64)
    frozen.setflags(write=False)
    state.set_value(frozen, borrow=True)
    assert accumulator(1) == 5 and state.get_value() == 6  # read-only value: replaced, not written
    assert frozen == 5
    with pytest.raises(tc.TcTypeError, match="argument 'inc'"):
        accumulator(2**31)
    with pytest.raises(tc.TcTypeError, match="argument 'inc'"):
        accumulator(1.5)
    assert accumulator(np.int8(3)) == 6 and state.get_value() == 9  # safe upcast via the general path
    result = accumulator(inc=1)
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.int64


def test_set_value_refuses_python_ints_that_do_not_fit() -> None:
    state = tc.shared(np.int64(7), name="state")
    for value in (2**63, 2**64, -(2**63) - 1):
        with pytest.raises(tc.TcTypeError, match="shared variable 'state'"):
            state.set_value(value)
        assert state.get_value() == 7
    state.set_value(2**63 - 1)
    assert state.get_value() == 2**63 - 1
