"""Differential test of the whole pipeline: random elementwise graphs (shared
subexpressions, broadcasting, several outputs, mixed dtypes) compiled by
tc.function must compute what the interpreter computes on the graph as built,
before any pass ran."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tc
from tc import tensor as T
from tc.frontend.lower import build_function_ir
from tc.ir import run_function

UNARY = [T.sin, T.tanh, T.exp, abs, lambda v: -v, T.sqr, T.sigmoid, lambda v: T.log1p(abs(v))]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a * b,
    lambda a, b: a - b,
    T.maximum,
    T.minimum,
    lambda a, b: T.switch(a > b, a, b * 0.5),
]
SHAPES = {"scalar": T.dscalar, "row": T.drow, "col": T.dcol, "matrix": T.dmatrix}
CONCRETE = {"scalar": (), "row": (1, 5), "col": (4, 1), "matrix": (4, 5)}


@st.composite
def graphs(draw):  # type: ignore[no-untyped-def]
    kinds = draw(st.lists(st.sampled_from(sorted(SHAPES)), min_size=1, max_size=3))
    inputs = [SHAPES[k](f"in{i}") for i, k in enumerate(kinds)]
    pool = list(inputs)
    for _ in range(draw(st.integers(1, 10))):
        if draw(st.booleans()):
            pool.append(draw(st.sampled_from(UNARY))(draw(st.sampled_from(pool))))
        else:
            a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
            pool.append(draw(st.sampled_from(BINARY))(a, b))
    outputs = draw(st.lists(st.sampled_from(pool[len(inputs) :]), min_size=1, max_size=3))
    return inputs, kinds, outputs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=graphs(), seed=st.integers(0, 2**16))
def test_compiled_graphs_match_the_interpreter(graph, seed) -> None:  # type: ignore[no-untyped-def]
    inputs, kinds, outputs = graph
    f = tc.function(inputs, outputs, on_unused_input="ignore")
    reference = build_function_ir("f", inputs, outputs).functions[0]
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal(CONCRETE[k]) * 3 for k in kinds]
    got = f(*args)
    with np.errstate(all="ignore"):
        want = run_function(reference, *args)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True)
