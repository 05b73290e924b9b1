"""Control flow in .tx: `scan` with a named step function (examples/rnn.tx) and the lazy
`a if c else b`, against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tc

RNN = Path(__file__).parents[3] / "examples" / "rnn.tx"


def compile_text(tmp_path: Path, text: str) -> tc.artifact.TxModule:
    path = tmp_path / "model.tx"
    path.write_text(text)
    return tc.compile_file(path)


def _hidden(m: tc.artifact.TxModule) -> np.ndarray:
    W, U = m.shared["W"].get_value(), m.shared["U"].get_value()
    h, out = np.zeros(U.shape[0]), []
    for x in m.shared["xs"].get_value():
        h = np.tanh(x @ W + h @ U)
        out.append(h)
    return np.array(out)


def test_rnn_example_runs_the_loop_and_trains() -> None:
    m = tc.compile_file(RNN)
    np.testing.assert_allclose(m.hidden(), _hidden(m), rtol=1e-12)
    v, targets = m.shared["v"].get_value(), m.shared["targets"].get_value()
    assert m.loss() == pytest.approx(np.mean((_hidden(m) @ v - targets) ** 2), rel=1e-12)
    before = m.loss()
    for _ in range(5):
        m.train(0.2)
    assert m.loss() < 0.5 * before


def test_several_outputs_none_and_random_draws_in_the_step(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
random rng(seed = 5)

fn step(x: f64[?], h: f64[?]) -> (f64[?], f64) {
    let h2 = (h + x) * rng.binomial(shape = [3], p = 0.5)
    return h2, sum(h2)
}

fn run(xs: f64[?, ?], h0: f64[?]) -> (f64[?, ?], f64[?]) {
    let hs, totals = scan(step, sequences = [xs], outputs_info = [h0, none])
    return hs, totals
}
""",
    )
    xs = np.ones((8, 3))
    hs, totals = m.run(xs, np.zeros(3))
    np.testing.assert_allclose(hs.sum(axis=1), totals)
    again, _ = m.run(xs, np.zeros(3))
    assert not np.array_equal(hs, again)  # the stream advanced after the first call


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("scan(nope, sequences = [xs])", "unknown step function 'nope'"),
        ("scan(step2, sequences = [xs])", "takes 2 parameters but the scan passes 1"),
        ("scan(step2, sequences = [xs], outputs_info = [xs])", "step parameter .y. is declared"),
        ("scan(step, sequences = [xs], stride = 2)", "unknown scan keyword 'stride'"),
        ("scan(sequences = [xs])", "scan takes the step function first"),
    ],
)
def test_scan_errors_are_located(tmp_path: Path, body: str, message: str) -> None:
    text = f"""
fn step(x: f64[?]) -> f64[?] {{
    return x * 2
}}
fn step2(x: f64[?], y: f64[?]) -> f64[?] {{
    return x * y
}}
fn run(xs: f64[?, ?]) -> f64[?, ?] {{
    return {body}
}}
"""
    with pytest.raises(tc.TcError, match=message) as info:
        compile_text(tmp_path, text)
    assert "model.tx:" in str(info.value)


def test_let_of_several_names_needs_as_many_values(tmp_path: Path) -> None:
    with pytest.raises(tc.TcError, match="let binds 2 names but the expression gives one value"):
        compile_text(
            tmp_path,
            """
fn step(x: f64[?]) -> f64[?] {
    return x * 2
}
fn run(xs: f64[?, ?]) -> f64[?, ?] {
    let a, b = scan(step, sequences = [xs])
    return a
}
""",
        )


def test_conditional_expression_is_lazy(tmp_path: Path) -> None:
    m = compile_text(
        tmp_path,
        """
fn pick(a: f64, b: f64, x: f64[?], i: i64) -> f64 {
    return x[i] if i < 3 else a + b
}
fn clipped(x: f64[?]) -> f64[?] {
    let m = max(x)
    return x / m if m > 1.0 else x
}
""",
    )
    assert m.pick(1.0, 2.0, np.arange(3.0), 1) == 1.0
    assert m.pick(1.0, 2.0, np.arange(3.0), 7) == 3.0  # x[7] is never read
    np.testing.assert_allclose(m.clipped(np.array([1.0, 4.0])), [0.25, 1.0])
    np.testing.assert_allclose(m.clipped(np.array([0.5, 0.25])), [0.5, 0.25])


def test_conditional_branches_of_different_ranks_are_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(tc.TcError, match="model.tx:3:") as info:
        compile_text(
            tmp_path,
            """
fn bad(x: f64[?], c: bool) -> f64[?] {
    return x if c else sum(x)
}
""",
        )
    assert "rank" in str(info.value)
