"""tc.function's warm start by the graph (tc/function_cache.py): a graph compiled before is
not built again, its functions use the shared variables of the graph at hand, and a record
that no longer fits sends the compile down the usual path."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

import tc
import tc.compile
from tc import function_cache, pass_cache
from tc import tensor as T


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each function tc.function builds from its graph."""
    built: list[str] = []
    build = tc.compile.build_function

    def counted(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(name)
        return build(name, *args, **kwargs)

    monkeypatch.setattr(tc.compile, "build_function", counted)
    return built


def _model(scale: float) -> tuple[tc.CompiledFunction, tc.SharedVariable]:
    """A model with shared weights and an update, compiled on the same line at every call."""
    w = tc.shared(np.full(3, scale), name="w")
    x = T.dvector("x")
    step = tc.function([x], (w * x).sum(), updates=[(w, w * 2 + x)], name="step")
    return step, w


def test_a_rebuilt_model_is_not_built_again_and_updates_its_own_variables(builds: list[str]) -> None:
    first, w1 = _model(1.0)
    second, w2 = _model(10.0)
    assert builds == ["step"]  # the second graph has the first's text: found, not built
    assert second(np.ones(3)) == 30.0
    np.testing.assert_array_equal(w2.get_value(), [21.0, 21.0, 21.0])
    np.testing.assert_array_equal(w1.get_value(), [1.0, 1.0, 1.0])  # the other model's, untouched
    assert first(np.ones(3)) == 3.0
    np.testing.assert_array_equal(w1.get_value(), [3.0, 3.0, 3.0])


def test_graphs_that_differ_are_compiled_apart(builds: list[str]) -> None:
    x = T.dvector("x")
    y = T.fvector("y")
    results = []
    for variable, constant in [(x, 2.0), (x, 3.0), (y, 2.0), (x, 2.0)]:
        f = tc.function([variable], variable * constant + 1)  # one line, four graphs (the last a repeat)
        result = f(np.ones(2, variable.type.dtype.numpy))
        results.append((result.tolist(), result.dtype))
    assert results == [
        ([3.0, 3.0], np.float64),
        ([4.0, 4.0], np.float64),
        ([3.0, 3.0], np.float32),
        ([3.0, 3.0], np.float64),
    ]
    assert len(builds) == 3


def test_the_same_graph_named_apart_or_with_other_updates_is_built_apart(builds: list[str]) -> None:
    w = tc.shared(np.zeros(2), name="w")
    x = T.dvector("x")
    for name, updates in [("f", []), ("g", []), ("f", [(w, w + x)])]:
        f = tc.function([x], x * 2, updates=updates, name=name, on_unused_input="ignore")
        f(np.ones(2))
    assert builds == ["f", "g", "f"]
    np.testing.assert_array_equal(w.get_value(), [1.0, 1.0])


def test_a_record_that_does_not_fit_the_graph_builds_it(builds: list[str]) -> None:
    x, scale = T.dvector("x"), tc.shared(np.array(2.0), name="scale")
    y = x * scale + secrets.randbelow(1000)  # a new graph: its record is made below
    f = tc.function([x], y)
    (key,) = [k for k in function_cache._MEMORY if function_cache._MEMORY[k].tir == f.dump("tir")]
    function_cache._MEMORY[key].symbols = {"scale": 0}  # variable 0 is x, not a shared variable
    g = tc.function([x], y)
    assert len(builds) == 2
    np.testing.assert_array_equal(g(np.ones(2)), f(np.ones(2)))


def test_a_record_whose_passes_are_no_longer_cached_builds_the_graph(
    builds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    x = T.dvector("x")
    y = T.exp(x) + secrets.randbelow(1000)
    f = tc.function([x], y)
    monkeypatch.setattr(pass_cache, "load", lambda key: None)  # gone from memory and disk
    g = tc.function([x], y)
    assert len(builds) == 2
    np.testing.assert_array_equal(g(np.zeros(2)), f(np.zeros(2)))


def test_an_unused_input_is_reported_when_the_graph_is_cached(builds: list[str]) -> None:
    x, unused = T.dvector("x"), T.dvector("unused")
    y = T.sin(x) + secrets.randbelow(1000)
    raised = []
    for policy in ("ignore", "raise"):  # one line: the second compile finds the first's graph
        try:
            tc.function([x, unused], y, on_unused_input=policy)
        except tc.TcValueError as error:
            raised.append((policy, str(error)))
    assert len(builds) == 1
    assert len(raised) == 1 and raised[0][0] == "raise" and "unused" in raised[0][1]


def test_a_cached_graphs_ir_is_rebuilt_when_asked_for(builds: list[str]) -> None:
    x = T.dmatrix("x")
    y = x[T.arange(2), 1] * secrets.randbelow(1000)  # an indexing op: its code checks the indices
    for _ in range(2):
        f = tc.function([x], y)
    assert len(builds) == 1
    assert [a.name for a in f.ir_function("tir-opt").args] == ["x"]
    assert "func" in f.dump("tir") and f.ir_function("tir").name == "f"
    with pytest.raises(tc.TcIndexError, match="out of bounds"):
        f(np.ones((1, 2)))


def test_random_streams_of_a_found_graph_advance_their_own_state(builds: list[str]) -> None:
    from tc.random import RandomStreams

    draws = []
    for seed in (5, 5, 6):  # one line, three streams: the second and third graphs are found
        srng = RandomStreams(seed=seed)
        f = tc.function([], srng.uniform((4,)))
        draws.append([f().tolist(), f().tolist()])
    assert len(builds) == 1
    assert draws[0] == draws[1] and draws[0][0] != draws[0][1]  # same seed, same draws; state moves
    assert draws[2] != draws[0]
