"""deeplearning.net's hmc.py (Hybrid Monte Carlo), shortened: kinetic_energy, hamiltonian,
metropolis_hastings_accept, simulate_dynamics (the leapfrog as a scan whose step takes T.grad of
the energy), hmc_move, hmc_updates (T.switch, T.clip, a moving average of `accept.mean`) and
HMC_sampler as written there, docstrings left out. The only line changed beyond the imports is
the random stream: tc has no `sandbox.rng_mrg`, so `MRG_RandomStreams` is tc's RandomStreams.
Checked: the leapfrog against numpy; the accept test and every shared update against numpy,
given the velocities and uniforms the compiled function draws; the samples' moments (test_hmc.py,
shortened)."""

from __future__ import annotations

import sys
from typing import Any

import numpy
import numpy as np
import pytest

import tc as theano
from tc import function, shared
from tc import tensor as TT
from tc.random import RandomStreams as MRG_RandomStreams

sharedX = lambda X, name: shared(numpy.asarray(X, dtype=theano.config.floatX), name=name)  # noqa: E731


def kinetic_energy(vel):
    return 0.5 * (vel**2).sum(axis=1)


def hamiltonian(pos, vel, energy_fn):
    # assuming mass is 1
    return energy_fn(pos) + kinetic_energy(vel)


def metropolis_hastings_accept(energy_prev, energy_next, s_rng):
    ediff = energy_prev - energy_next
    return (TT.exp(ediff) - s_rng.uniform(size=energy_prev.shape)) >= 0


def simulate_dynamics(initial_pos, initial_vel, stepsize, n_steps, energy_fn):
    def leapfrog(pos, vel, step):
        # from pos(t) and vel(t-stepsize//2), compute vel(t+stepsize//2)
        dE_dpos = TT.grad(energy_fn(pos).sum(), pos)
        new_vel = vel - step * dE_dpos
        # from vel(t+stepsize//2) compute pos(t+stepsize)
        new_pos = pos + step * new_vel
        return [new_pos, new_vel], {}

    # compute velocity at time-step: t + stepsize//2
    initial_energy = energy_fn(initial_pos)
    dE_dpos = TT.grad(initial_energy.sum(), initial_pos)
    vel_half_step = initial_vel - 0.5 * stepsize * dE_dpos

    # compute position at time-step: t + stepsize
    pos_full_step = initial_pos + stepsize * vel_half_step

    (all_pos, all_vel), scan_updates = theano.scan(
        leapfrog,
        outputs_info=[
            dict(initial=pos_full_step),
            dict(initial=vel_half_step),
        ],
        non_sequences=[stepsize],
        n_steps=n_steps - 1,
    )
    final_pos = all_pos[-1]
    final_vel = all_vel[-1]
    assert not scan_updates

    energy = energy_fn(final_pos)
    final_vel = final_vel - 0.5 * stepsize * TT.grad(energy.sum(), final_pos)

    # return new proposal state
    return final_pos, final_vel


def hmc_move(s_rng, positions, energy_fn, stepsize, n_steps):
    # sample random velocity
    initial_vel = s_rng.normal(size=positions.shape)
    # perform simulation of particles subject to Hamiltonian dynamics
    final_pos, final_vel = simulate_dynamics(
        initial_pos=positions,
        initial_vel=initial_vel,
        stepsize=stepsize,
        n_steps=n_steps,
        energy_fn=energy_fn,
    )
    # accept/reject the proposed move based on the joint distribution
    accept = metropolis_hastings_accept(
        energy_prev=hamiltonian(positions, initial_vel, energy_fn),
        energy_next=hamiltonian(final_pos, final_vel, energy_fn),
        s_rng=s_rng,
    )
    return accept, final_pos


def hmc_updates(
    positions,
    stepsize,
    avg_acceptance_rate,
    final_pos,
    accept,
    target_acceptance_rate,
    stepsize_inc,
    stepsize_dec,
    stepsize_min,
    stepsize_max,
    avg_acceptance_slowness,
):
    # POSITION UPDATES #
    accept_matrix = accept.dimshuffle(0, *(("x",) * (final_pos.ndim - 1)))
    # if accept is True, update to `final_pos` else stay put
    new_positions = TT.switch(accept_matrix, final_pos, positions)
    # STEPSIZE UPDATES #
    _new_stepsize = TT.switch(
        avg_acceptance_rate > target_acceptance_rate, stepsize * stepsize_inc, stepsize * stepsize_dec
    )
    # maintain stepsize in [stepsize_min, stepsize_max]
    new_stepsize = TT.clip(_new_stepsize, stepsize_min, stepsize_max)
    # ACCEPT RATE UPDATES #
    mean_dtype = theano.scalar.upcast(accept.dtype, avg_acceptance_rate.dtype)
    new_acceptance_rate = TT.add(
        avg_acceptance_slowness * avg_acceptance_rate,
        (1.0 - avg_acceptance_slowness) * accept.mean(dtype=mean_dtype),
    )
    return [
        (positions, new_positions),
        (stepsize, new_stepsize),
        (avg_acceptance_rate, new_acceptance_rate),
    ]


class HMC_sampler:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    @classmethod
    def new_from_shared_positions(
        cls,
        shared_positions,
        energy_fn,
        initial_stepsize=0.01,
        target_acceptance_rate=0.9,
        n_steps=20,
        stepsize_dec=0.98,
        stepsize_min=0.001,
        stepsize_max=0.25,
        stepsize_inc=1.02,
        # used in geometric avg. 1.0 would be not moving at all
        avg_acceptance_slowness=0.9,
        seed=12345,
    ):
        # allocate shared variables
        stepsize = sharedX(initial_stepsize, "hmc_stepsize")
        avg_acceptance_rate = sharedX(target_acceptance_rate, "avg_acceptance_rate")
        s_rng = MRG_RandomStreams(seed)

        # define graph for an `n_steps` HMC simulation
        accept, final_pos = hmc_move(s_rng, shared_positions, energy_fn, stepsize, n_steps)

        # define the dictionary of updates, to apply on every `simulate` call
        simulate_updates = hmc_updates(
            shared_positions,
            stepsize,
            avg_acceptance_rate,
            final_pos=final_pos,
            accept=accept,
            stepsize_min=stepsize_min,
            stepsize_max=stepsize_max,
            stepsize_inc=stepsize_inc,
            stepsize_dec=stepsize_dec,
            target_acceptance_rate=target_acceptance_rate,
            avg_acceptance_slowness=avg_acceptance_slowness,
        )

        # compile theano function
        simulate = function([], [], updates=simulate_updates)

        # create HMC_sampler object with the following attributes ...
        return cls(
            positions=shared_positions,
            stepsize=stepsize,
            stepsize_min=stepsize_min,
            stepsize_max=stepsize_max,
            avg_acceptance_rate=avg_acceptance_rate,
            target_acceptance_rate=target_acceptance_rate,
            s_rng=s_rng,
            _updates=simulate_updates,
            simulate=simulate,
        )

    def draw(self, **kwargs):
        self.simulate()
        return self.positions.get_value(borrow=False)


# -- energies and numpy ------------------------------------------------------------------------


def _gaussian(dim: int, seed: int = 123) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """test_hmc.py's target: mu, a symmetric cov with unit diagonal and its inverse."""
    rng = numpy.random.RandomState(seed)
    mu = numpy.array(rng.rand(dim) * 10, dtype=theano.config.floatX)
    cov = numpy.array(rng.rand(dim, dim), dtype=theano.config.floatX)
    cov = (cov + cov.T) / 2.0
    cov[numpy.arange(dim), numpy.arange(dim)] = 1.0
    return mu, cov, numpy.linalg.inv(cov)


def _gaussian_energy(mu: np.ndarray, cov_inv: np.ndarray) -> tuple[Any, Any, Any]:
    def gaussian_energy(x):
        return 0.5 * (theano.tensor.dot((x - mu), cov_inv) * (x - mu)).sum(axis=1)

    def energy(x: np.ndarray) -> np.ndarray:
        return 0.5 * (((x - mu) @ cov_inv) * (x - mu)).sum(axis=1)

    def grad(x: np.ndarray) -> np.ndarray:
        return 0.5 * ((x - mu) @ cov_inv + (x - mu) @ cov_inv.T)

    return gaussian_energy, energy, grad


def _quartic_energy(A: np.ndarray) -> tuple[Any, Any, Any]:
    """Not quadratic: the leapfrog's gradient changes along the path."""

    def quartic_energy(x):
        return 0.25 * (x**4).sum(axis=1) + TT.log(TT.cosh(TT.dot(x, A))).sum(axis=1)

    def energy(x: np.ndarray) -> np.ndarray:
        return 0.25 * (x**4).sum(axis=1) + np.log(np.cosh(x @ A)).sum(axis=1)

    def grad(x: np.ndarray) -> np.ndarray:
        return x**3 + np.tanh(x @ A) @ A.T

    return quartic_energy, energy, grad


def _np_leapfrog(pos: np.ndarray, vel: np.ndarray, step: float, n_steps: int, grad: Any) -> tuple[Any, Any]:
    vel = vel - 0.5 * step * grad(pos)
    pos = pos + step * vel
    for _ in range(n_steps - 1):
        vel = vel - step * grad(pos)
        pos = pos + step * vel
    return pos, vel - 0.5 * step * grad(pos)


def _energies(name: str, dim: int) -> tuple[Any, Any, Any]:
    if name == "gaussian":
        mu, _, cov_inv = _gaussian(dim)
        return _gaussian_energy(mu, cov_inv)
    return _quartic_energy(np.random.default_rng(3).standard_normal((dim, dim)) * 0.7)


# -- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gaussian", "quartic"])
@pytest.mark.parametrize("n_steps", [2, 20])
def test_simulate_dynamics_matches_numpy_leapfrog(name: str, n_steps: int) -> None:
    dim, batch, step = 5, 4, 0.05
    tc_energy, np_energy, np_grad = _energies(name, dim)
    rng = np.random.default_rng(0)
    pos0, vel0 = rng.standard_normal((batch, dim)), rng.standard_normal((batch, dim))
    if name == "gaussian":
        pos0 += _gaussian(dim)[0]
    pos, vel = TT.matrix("pos"), TT.matrix("vel")
    stepsize = sharedX(step, "hmc_stepsize")
    final_pos, final_vel = simulate_dynamics(pos, vel, stepsize, n_steps, tc_energy)
    h0, h1 = hamiltonian(pos, vel, tc_energy), hamiltonian(final_pos, final_vel, tc_energy)
    f = function([pos, vel], [final_pos, final_vel, h0, h1, kinetic_energy(vel)])
    for s in (step, 0.5 * step):
        stepsize.set_value(s)
        got_pos, got_vel, got_h0, got_h1, got_k = f(pos0, vel0)
        want_pos, want_vel = _np_leapfrog(pos0, vel0, s, n_steps, np_grad)
        np.testing.assert_allclose(got_pos, want_pos, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got_vel, want_vel, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got_k, 0.5 * (vel0**2).sum(1), rtol=1e-12)
        np.testing.assert_allclose(got_h0, np_energy(pos0) + 0.5 * (vel0**2).sum(1), rtol=1e-12)
        np.testing.assert_allclose(got_h1, np_energy(want_pos) + 0.5 * (want_vel**2).sum(1), rtol=1e-9)
        # A leapfrog of a small step nearly conserves the Hamiltonian.
        np.testing.assert_allclose(got_h1, got_h0, rtol=0.05, atol=0.05)


class _RecordingStreams:
    """tc's RandomStreams, keeping every random variable hmc_move draws so a test can return them."""

    instances: list[_RecordingStreams] = []

    def __init__(self, seed: int) -> None:
        self.srng, self.drawn = theano.random.RandomStreams(seed), {}
        _RecordingStreams.instances.append(self)

    def normal(self, size: Any) -> Any:
        self.drawn["normal"] = self.srng.normal(size=size)
        return self.drawn["normal"]

    def uniform(self, size: Any) -> Any:
        self.drawn["uniform"] = self.srng.uniform(size=size)
        return self.drawn["uniform"]


def test_accept_reject_and_updates_from_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    dim, batch, n_steps = 3, 40, 6
    kw = dict(stepsize_dec=0.9, stepsize_min=0.05, stepsize_max=0.45, stepsize_inc=1.25)
    kw.update(target_acceptance_rate=0.9, avg_acceptance_slowness=0.5)
    tc_energy, np_energy, np_grad = _energies("quartic", dim)
    monkeypatch.setattr(sys.modules[__name__], "MRG_RandomStreams", _RecordingStreams)
    positions = shared(np.random.default_rng(1).standard_normal((batch, dim)))
    sampler = HMC_sampler.new_from_shared_positions(
        positions, tc_energy, initial_stepsize=0.3, n_steps=n_steps, seed=7, **kw
    )
    monkeypatch.undo()
    drawn = _RecordingStreams.instances[-1].drawn
    assert sampler.s_rng is _RecordingStreams.instances[-1]
    # The sampler's own updates, compiled with the draws as outputs.
    step = function([], [drawn["normal"], drawn["uniform"]], updates=sampler._updates)
    seen_accept, seen_reject, seen_branches, seen_clip = False, False, set(), False
    previous_vel = None
    for _ in range(12):
        pos0 = positions.get_value()
        s0, a0 = float(sampler.stepsize.get_value()), float(sampler.avg_acceptance_rate.get_value())
        vel, u = step()
        assert vel.shape == (batch, dim) and u.shape == (batch,) and ((u >= 0) & (u < 1)).all()
        assert previous_vel is None or not np.array_equal(vel, previous_vel)
        previous_vel = vel
        final_pos, final_vel = _np_leapfrog(pos0, vel, s0, n_steps, np_grad)
        h_prev = np_energy(pos0) + 0.5 * (vel**2).sum(1)
        h_next = np_energy(final_pos) + 0.5 * (final_vel**2).sum(1)
        accept = np.exp(h_prev - h_next) - u >= 0
        # No uniform falls so near exp(ediff) that rounding could flip the decision.
        assert np.all(np.abs(np.exp(h_prev - h_next) - u) > 1e-9)
        seen_accept, seen_reject = seen_accept or accept.any(), seen_reject or not accept.all()
        np.testing.assert_allclose(
            positions.get_value(), np.where(accept[:, None], final_pos, pos0), rtol=1e-9, atol=1e-12
        )
        up = a0 > kw["target_acceptance_rate"]
        raw = s0 * (kw["stepsize_inc"] if up else kw["stepsize_dec"])
        seen_branches.add(up)
        seen_clip = seen_clip or not kw["stepsize_min"] <= raw <= kw["stepsize_max"]
        want_step = np.clip(raw, kw["stepsize_min"], kw["stepsize_max"])
        np.testing.assert_allclose(sampler.stepsize.get_value(), want_step, rtol=1e-12)
        want_rate = 0.5 * a0 + 0.5 * accept.mean()
        np.testing.assert_allclose(sampler.avg_acceptance_rate.get_value(), want_rate, rtol=1e-12)
    assert seen_accept and seen_reject and seen_branches == {True, False} and seen_clip


def test_hmc_move_velocities_are_standard_normal() -> None:
    positions = shared(np.zeros((2000, 4)))
    s_rng = _RecordingStreams(11)
    accept, final_pos = hmc_move(s_rng, positions, _energies("quartic", 4)[0], sharedX(0.1, "s"), 3)
    vel, u, acc = function([], [s_rng.drawn["normal"], s_rng.drawn["uniform"], accept])()
    assert acc.dtype == np.bool_ and acc.shape == (2000,)
    assert abs(vel.mean()) < 0.03 and abs(vel.std() - 1) < 0.03 and abs(u.mean() - 0.5) < 0.035
    np.testing.assert_allclose(np.cov(vel.T), np.eye(4), atol=0.07)


def _sample(dim: int, batchsize: int, burnin: int, n_samples: int) -> tuple[Any, np.ndarray]:
    """test_hmc.py's sampler_on_nd_gaussian, shortened, with more particles."""
    mu, cov, cov_inv = _gaussian(dim)
    rng = numpy.random.RandomState(123)
    position = theano.shared(rng.randn(batchsize, dim).astype(theano.config.floatX))
    sampler = HMC_sampler.new_from_shared_positions(
        position, _gaussian_energy(mu, cov_inv)[0], initial_stepsize=1e-3, stepsize_max=0.5
    )
    for _ in range(burnin):
        sampler.draw()
    _samples = numpy.asarray([sampler.draw() for r in range(n_samples)])
    return sampler, _samples.T.reshape(dim, -1).T


@pytest.mark.parametrize("dim", [2, 5])
def test_samples_match_the_target_gaussian(dim: int) -> None:
    mu, cov, _ = _gaussian(dim)
    assert np.linalg.eigvalsh(cov).min() > 0
    sampler, samples = _sample(dim, batchsize=50, burnin=350, n_samples=150)
    assert abs(sampler.avg_acceptance_rate.get_value() - sampler.target_acceptance_rate) < 0.1
    assert sampler.stepsize_min <= sampler.stepsize.get_value() <= sampler.stepsize_max
    assert samples.shape == (50 * 150, dim)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(samples.mean(axis=0), mu, atol=0.15 * sd.max())
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=0.15)
