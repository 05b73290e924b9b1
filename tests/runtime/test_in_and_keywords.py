"""Theano's `In` and keyword calls: defaults, names, and clear errors for bad calls."""

from __future__ import annotations

import numpy as np
import pytest

import tc
from tc import tensor as T


@pytest.fixture(scope="module")
def sda_layer():  # type: ignore[no-untyped-def]
    """The denoising autoencoder step of the tutorial's SdA.py, shrunk: an index into the
    data (givens), a corruption level and a learning rate with defaults (theano.In)."""
    rng = np.random.default_rng(0)
    data = tc.shared(rng.normal(size=(6, 3)), "data")
    W = tc.shared(rng.normal(size=(3, 2)) * 0.1, "W")
    index, x = T.lscalar("index"), T.dmatrix("x")
    corruption, lr = T.dscalar("corruption"), T.dscalar("lr")
    hidden = T.tanh(T.dot(x * (1 - corruption), W))
    cost = T.sum(hidden**2)
    train = tc.function(
        [index, tc.In(corruption, value=0.2), tc.In(lr, value=0.1)],
        cost,
        updates=[(W, W - lr * T.grad(cost, W))],
        givens={x: data[index * 2 : (index + 1) * 2]},
    )
    return train, data, W


def _reference(data: np.ndarray, w: np.ndarray, index: int, corruption: float, lr: float):  # type: ignore[no-untyped-def]
    x = data[index * 2 : (index + 1) * 2] * (1 - corruption)
    hidden = np.tanh(x @ w)
    grad = x.T @ (2 * hidden * (1 - hidden**2))
    return np.sum(hidden**2), w - lr * grad


@pytest.mark.parametrize(
    "call, corruption, lr",
    [
        (lambda f: f(1), 0.2, 0.1),  # both defaults
        (lambda f: f(1, 0.3), 0.3, 0.1),  # positional, one default
        (lambda f: f(index=1, corruption=0.0, lr=0.5), 0.0, 0.5),  # as SdA.py calls it
        (lambda f: f(1, lr=0.05), 0.2, 0.05),  # skipping the middle default
        (lambda f: f(lr=0.05, index=1), 0.2, 0.05),
    ],
)
def test_defaults_and_keywords_reach_the_computation(sda_layer, call, corruption, lr) -> None:  # type: ignore[no-untyped-def]
    train, data, W = sda_layer
    before = W.get_value()
    expected_cost, expected_w = _reference(data.get_value(), before, 1, corruption, lr)
    assert float(call(train)) == pytest.approx(expected_cost, rel=1e-12)
    np.testing.assert_allclose(W.get_value(), expected_w, rtol=1e-12)


def test_signature_shows_defaults(sda_layer) -> None:  # type: ignore[no-untyped-def]
    train, _, _ = sda_layer
    with pytest.raises(tc.TcTypeError, match=r"takes 1 to 3 argument\(s\) \(index, corruption=0.2, lr=0.1\)"):
        train(1, 0.1, 0.1, 7)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f: f(1, rate=0.1), r"function 'f' has no input named 'rate' \(its inputs: index, corruption"),
        (lambda f: f(lr=0.1), r"missing input\(s\) index"),
        (lambda f: f(1, index=2), r"got input 'index' by position and by keyword"),
        (lambda f: f(1, 0.3, corruption=0.3), r"got input 'corruption' by position and by keyword"),
        (lambda f: f(1, lr="fast"), r"argument 'lr' must be numeric"),
    ],
)
def test_bad_calls_are_located_and_change_nothing(sda_layer, call, message) -> None:  # type: ignore[no-untyped-def]
    train, _, W = sda_layer
    before = W.get_value()
    with pytest.raises(tc.TcError, match=message):
        call(train)
    np.testing.assert_array_equal(W.get_value(), before)


def test_in_name_renames_the_keyword_and_the_variable_name_still_works() -> None:
    x, rate = T.dvector("x"), T.dscalar("rate")
    f = tc.function([x, tc.In(rate, value=2.0, name="lr")], x * rate)
    assert f([1.0, 2.0]).tolist() == [2.0, 4.0]
    assert f([1.0, 2.0], lr=3.0).tolist() == [3.0, 6.0]
    assert f([1.0, 2.0], rate=0.5).tolist() == [0.5, 1.0]
    with pytest.raises(tc.TcTypeError, match="got input 'lr' twice|by position and by keyword"):
        f([1.0], 1.0, lr=3.0)
    with pytest.raises(tc.TcValueError, match="argument 'lr' must be numeric"):
        f([1.0], lr=object())


def test_a_name_two_inputs_share_is_not_a_keyword() -> None:
    a, b = T.dscalar("v"), T.dscalar("v")
    f = tc.function([a, b], a - b)
    assert f(5.0, 3.0) == 2.0
    with pytest.raises(tc.TcTypeError, match="the input name 'v' is ambiguous"):
        f(5.0, v=3.0)


def test_scalar_functions_keep_their_fast_path_and_take_defaults() -> None:
    x, y = T.dscalar("x"), T.lscalar("y")
    f = tc.function([x, tc.In(y, value=3)], x * y)
    assert f.scalar_only
    for got, want in ((f(2.0), 6.0), (f(2.0, 4), 8.0), (f(2.0, y=5), 10.0), (f(y=1, x=0.5), 0.5)):
        assert isinstance(got, np.ndarray) and got.shape == () and float(got) == want
    acc = tc.shared(0.0, "acc")
    step = T.dscalar("step")
    bump = tc.function([tc.In(step, value=1.5)], acc, updates=[(acc, acc + step)])
    assert [float(bump()), float(bump(step=2.0)), float(bump(0.5))] == [0.0, 1.5, 3.5]
    assert acc.get_value() == 4.0


@pytest.mark.parametrize(
    "variable, value, error, message",
    [
        (T.lscalar("n"), 0.5, tc.TcTypeError, r"default value of input 'n' \(tc.In\(value=0.5\)\).*int64"),
        (T.dvector("v"), [[1.0]], tc.TcTypeError, r"default value of input 'v'.*rank 1"),
        (T.dscalar("s"), "abc", tc.TcValueError, r"default value of input 's'.*must be numeric"),
        (T.bscalar("b"), 300, tc.TcTypeError, r"default value of input 'b'.*outside its range"),
    ],
)
def test_a_default_that_does_not_fit_is_an_error_of_tc_function(variable, value, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message) as err:
        tc.function([tc.In(variable, value=value)], variable * 2)
    assert str(err.value).startswith("tc.function: ")


def test_default_is_copied_and_downcast_follows_the_in() -> None:
    v = T.fvector("v")
    default = np.array([1.0, 2.0], np.float32)
    f = tc.function([tc.In(v, value=default)], v * 2)
    default[0] = 100.0
    assert f().tolist() == [2.0, 4.0]
    with pytest.raises(tc.TcTypeError, match="argument 'v' expects float32"):
        f(np.array([1.0, 2.0]))
    g = tc.function([tc.In(v, allow_downcast=True)], v * 2)
    assert g(np.array([1.0, 2.0])).tolist() == [2.0, 4.0]
    h = tc.function([tc.In(v, value=[0.5], mutable=True, borrow=True)], v + 1)
    assert h().tolist() == [1.5]


def test_strict_input_takes_only_its_own_dtype() -> None:
    x = T.dvector("x")
    f = tc.function([tc.In(x, strict=True)], x + 1)
    assert f(np.array([1.0])).tolist() == [2.0]
    with pytest.raises(tc.TcTypeError, match=r"argument 'x' is strict .* found dtype float32"):
        f(np.array([1.0], np.float32))
    with pytest.raises(tc.TcTypeError, match=r"argument 'x' is strict"):
        f([1.0])


def test_in_refuses_what_it_cannot_do() -> None:
    x = T.dscalar("x")
    with pytest.raises(tc.TcTypeError, match="tc.In: expected a symbolic variable, found float"):
        tc.In(1.0)  # type: ignore[arg-type]
    with pytest.raises(tc.TcValueError, match="update= is not supported"):
        tc.In(x, value=1.0, update=x + 1)
    with pytest.raises(tc.TcTypeError, match="name must be a string"):
        tc.In(x, name=3)  # type: ignore[arg-type]


def test_theano_mode_is_accepted() -> None:
    x = T.dvector("x")
    mode = tc.Mode(linker="cvm", optimizer="fast_run")
    assert mode.linker == "cvm" and mode.including("fast_run").excluding("inplace").optimizer == "fast_run"
    f = tc.function([x], x * 2, mode=mode)
    assert f([1.0, 2.0]).tolist() == [2.0, 4.0]
    assert tc.function([x], x + 1, mode="FAST_RUN")([1.0]).tolist() == [2.0]


def test_get_value_takes_theanos_arguments() -> None:
    w = tc.shared(np.arange(3.0), "w")
    value = w.get_value(borrow=False, return_internal_type=False)
    value[0] = 9.0
    assert w.get_value(return_internal_type=True).tolist() == [0.0, 1.0, 2.0]
    w.set_value(np.ones(2), borrow=False)
    assert w.get_value(borrow=True).tolist() == [1.0, 1.0]
