"""RandomStreams with tensor parameters (broadcast elementwise, as Theano's), `.rng`,
and `state_updates`; statistics checked against the parameters, numbers against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.random import RandomStreams


def test_binomial_with_a_tensor_p_as_in_rbm() -> None:
    srng = RandomStreams(seed=1)
    h1_mean = T.dmatrix("h1_mean")
    sample = srng.binomial(size=h1_mean.shape, n=1, p=h1_mean, dtype="float64")
    f = tc.function([h1_mean], sample)
    P = np.random.default_rng(0).random((300, 200))
    out = f(P)
    assert out.dtype == np.float64 and out.shape == P.shape
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert abs(out.mean() - P.mean()) < 0.01
    # Where p is 0 or 1 the draw is certain.
    certain = f(np.tile([[0.0, 1.0]], (50, 1)))
    np.testing.assert_array_equal(certain, np.tile([[0.0, 1.0]], (50, 1)))
    assert not np.array_equal(f(P), out)  # a new draw on every call


def test_binomial_with_tensor_n_and_p_broadcasts() -> None:
    srng = RandomStreams(seed=2)
    p = T.dvector("p")
    draw = srng.binomial(size=(20000, 3), n=np.array([0, 3, 10]), p=p)
    out = tc.function([p], draw)(np.array([0.5, 0.5, 0.2]))
    assert out.dtype == np.int64 and out.shape == (20000, 3)
    np.testing.assert_array_equal(out.max(0) <= np.array([0, 3, 10]), True)
    np.testing.assert_allclose(out.mean(0), [0.0, 1.5, 2.0], atol=0.05)
    scalar_n = srng.binomial(n=4, p=np.full((20000,), 0.25))
    assert abs(tc.function([], scalar_n)().mean() - 1.0) < 0.05
    with pytest.raises(tc.TcTypeError, match="constant array"):
        srng.binomial(n=T.lscalar("n"), p=p)


def test_uniform_and_normal_with_tensor_parameters() -> None:
    srng = RandomStreams(seed=3)
    low, high = T.dvectors("low", "high")
    u = srng.uniform(size=(50000, 2), low=low, high=high)
    lo, hi = np.array([-1.0, 10.0]), np.array([1.0, 14.0])
    U = tc.function([low, high], u)(lo, hi)
    assert ((U >= lo) & (U < hi)).all()
    np.testing.assert_allclose(U.mean(0), (lo + hi) / 2, atol=0.05)
    avg = T.dvector("avg")
    n = srng.normal(size=(50000, 3), avg=avg, std=np.array([1.0, 2.0, 0.5]))
    N = tc.function([avg], n)(np.array([0.0, 5.0, -3.0]))
    np.testing.assert_allclose(N.mean(0), [0.0, 5.0, -3.0], atol=0.05)
    np.testing.assert_allclose(N.std(0), [1.0, 2.0, 0.5], rtol=0.03)
    default_size = srng.uniform(low=np.zeros(4), high=np.full(4, 2.0))  # size: the parameters' shape
    assert default_size.type.shape == (4,)
    assert srng.uniform().ndim == 0 and srng.normal(dtype="float32").dtype == "float32"


def test_rng_and_state_updates() -> None:
    srng = RandomStreams(seed=4)
    rv = srng.uniform((3,))
    rv2 = srng.binomial(p=T.dvector("p"))
    pairs = srng.state_updates
    assert len(pairs) == 2 and pairs[0][0] is rv.rng and pairs[1][0] is rv2.rng
    assert rv.update == pairs[0]
    before = rv.rng.get_value()
    f = tc.function([], rv)
    first = f()
    assert rv.rng.get_value()[1] == before[1] + 1  # the draw counter advanced
    rv.rng.set_value(before)  # rewinding the state repeats the draw (Theano's rng.set_value)
    np.testing.assert_array_equal(f(), first)
    # Copying the state of one stream to another (the tutorial's copy_random_state).
    other = RandomStreams(seed=99)
    rv_other = other.uniform((3,))
    rv.rng.set_value(before)
    for (mine, _), (theirs, _) in zip(srng.state_updates, other.state_updates, strict=False):
        theirs.set_value(mine.get_value())
    np.testing.assert_array_equal(tc.function([], rv_other)(), first)
