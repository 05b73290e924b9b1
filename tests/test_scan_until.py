"""scan's early exit, `until`: results with one row per step run (ir/ops/head.py)."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend.lower import build_function_ir
from tc.ir import parse_module, print_module, run_function
from tc.passes import DEFAULT_PIPELINE, run_pipeline
from tc.scan_module import until


def _powers_of_two(limit: T.Variable) -> T.Variable:
    def power_of_2(previous_power, max_value):
        return previous_power * 2, until(previous_power * 2 > max_value)

    values, _ = tc.scan(power_of_2, outputs_info=T.constant(1.0), non_sequences=limit, n_steps=1024)
    return values


def test_powers_of_two_as_theano_scan_page_prints() -> None:
    max_value = T.scalar()
    f = tc.function([max_value], _powers_of_two(max_value))
    np.testing.assert_array_equal(f(45), [2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    assert f(0.5).tolist() == [2.0]
    assert len(f(1e300)) == 997  # 2**997 is the first power above 1e300


def _running_sum(xs: np.ndarray, limit: float) -> tuple[list[float], list[float]]:
    sums, doubles, acc = [], [], 0.0
    for x in xs:
        acc += x
        sums.append(acc)
        doubles.append(2 * x)
        if acc > limit:
            break
    return sums, doubles


def test_sequences_states_and_plain_outputs_stop_together() -> None:
    x, limit = T.dvector("x"), T.dscalar("limit")

    def step(x_t, acc, lim):
        total = acc + x_t
        return [total, x_t * 2], until(total > lim)

    (sums, doubles), _ = tc.scan(step, sequences=x, outputs_info=[T.constant(0.0), None], non_sequences=limit)
    f = tc.function([x, limit], [sums, doubles, sums[-1], doubles[0]])
    before_last = tc.function([x, limit], sums[-2])
    for xs, lim in [(np.arange(10.0), 10.0), (np.arange(4.0), 100.0), (np.array([50.0, 1.0]), 1.0)]:
        want_sums, want_doubles = _running_sum(xs, lim)
        got = f(xs, lim)
        np.testing.assert_array_equal(got[0], want_sums)
        np.testing.assert_array_equal(got[1], want_doubles)
        assert (got[2], got[3]) == (want_sums[-1], want_doubles[0])
        if len(want_sums) > 1:
            assert before_last(xs, lim) == want_sums[-2]
        else:
            with pytest.raises(tc.TcIndexError):
                before_last(xs, lim)
    empty = tc.function([x, limit], [sums, doubles])(np.zeros(0), 1.0)
    assert [a.shape for a in empty] == [(0,), (0,)]


def test_shared_variable_updated_in_the_step_takes_its_value_at_the_stop() -> None:
    count = tc.shared(np.int64(0), name="count")

    def step(h):
        return h + 1, {count: count + 1}, until(h + 1 >= 5)

    hs, updates = tc.scan(step, outputs_info=T.constant(np.int64(0)), n_steps=100)
    f = tc.function([], hs, updates=updates)
    np.testing.assert_array_equal(f(), [1, 2, 3, 4, 5])
    assert count.get_value() == 5
    f()
    assert count.get_value() == 10


def test_random_stream_drawn_in_the_step_advances_by_the_steps_run() -> None:
    srng = tc.tensor.shared_randomstreams.RandomStreams(seed=7)

    def step(total):
        draw = srng.uniform(())
        return total + draw, until(total + draw > 3.0)

    totals, updates = tc.scan(step, outputs_info=T.constant(0.0), n_steps=1000)
    f = tc.function([], totals, updates=updates)
    first, second = f(), f()
    assert first[-1] > 3.0 and np.all(first[:-1] <= 3.0)
    assert np.all(np.diff(first) > 0) and np.all(np.diff(first) < 1)
    assert not np.array_equal(first[: len(second)], second[: len(first)])  # the stream moved on


def test_ir_with_until_prints_parses_and_interprets_as_native_code_runs() -> None:
    limit = T.dscalar("limit")
    values = _powers_of_two(limit)
    module = build_function_ir("f", [limit], [values])
    printed = print_module(module)
    assert "until = true" in printed and "tx.head" in printed
    again = parse_module(printed)
    assert print_module(again) == printed
    run_pipeline(again, DEFAULT_PIPELINE)
    (interpreted,) = run_function(again.function("f"), np.float64(100.0))
    np.testing.assert_array_equal(interpreted, tc.function([limit], values)(100.0))


def test_a_failed_call_changes_no_shared_variable() -> None:
    count = tc.shared(np.int64(0), name="count")
    x = T.dvector("x")

    def step(x_t, acc):
        return acc + x_t, {count: count + 1}, until(acc + x_t > 2.0)

    sums, updates = tc.scan(step, sequences=x, outputs_info=T.constant(0.0))
    f = tc.function([x], sums[-1], updates=updates)
    assert f(np.ones(5)) == 3.0 and count.get_value() == 3
    with pytest.raises(tc.TcIndexError, match="out of bounds for axis 0 with size 0"):
        f(np.zeros(0))  # no step ran: there is no last row
    assert count.get_value() == 3


@pytest.mark.parametrize("index", [3, 7, -4, -10])
def test_a_row_the_scan_did_not_run_is_an_index_error_not_garbage(index: int) -> None:
    limit = T.dscalar("limit")
    values = _powers_of_two(limit)  # 1024 rows allocated, 3 run for a limit of 5
    f = tc.function([limit], values[index])
    assert tc.function([limit], values)(5.0).tolist() == [2.0, 4.0, 8.0]
    with pytest.raises(tc.TcIndexError, match="out of bounds") as info:
        f(5.0)
    assert "test_scan_until.py" in str(info.value)
    assert f(1e300) == (2.0 ** (index + 1) if index >= 0 else 2.0 ** (997 + index + 1))


def test_computing_with_the_rows_is_refused_where_the_user_wrote_it() -> None:
    limit = T.dscalar("limit")
    values = _powers_of_two(limit)
    with pytest.raises(tc.TcVerificationError, match=r"can only be a function's result.*test_scan_until.py"):
        tc.function([limit], values * 2)
    with pytest.raises(tc.TcTypeError, match="take one integer index") as info:
        values[1:]
    assert "test_scan_until.py" in str(info.value)
    with pytest.raises(tc.TcGradientError, match="gradient of a scan with until"):
        tc.grad(values[-1], limit)


def test_malformed_until_is_a_located_error() -> None:
    x = T.dvector("x")
    with pytest.raises(tc.TcTypeError, match="until takes a scalar condition") as info:
        tc.scan(lambda h: (h * 2, until(h > 1)), outputs_info=x, n_steps=3)
    assert "test_scan_until.py" in str(info.value)
    s = T.dscalar("s")
    with pytest.raises(tc.TcValueError, match="must return its until"):
        tc.scan(lambda h: (until(h > 1), h * 2), outputs_info=s, n_steps=3)
