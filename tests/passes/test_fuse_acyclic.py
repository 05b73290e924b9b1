"""Fusion never creates a cycle of kernels: two ops unrelated as ops can still make
their kernels depend on each other through a third group (found by the fuzzer:
networkx.NetworkXUnfeasible from the fuse pass)."""

from __future__ import annotations

import networkx as nx
import numpy as np

import tc
from tc import tensor as T
from tc.frontend.lower import build_function_ir
from tc.passes import DEFAULT_PIPELINE, run_pipeline
from tc.passes.fuse import fusion_groups


def program():  # type: ignore[no-untyped-def]
    x = T.tensor("float64", (), name="x")
    shifted = T.argmax(x) + 2  # an integer from a reduction, cast to float below
    wrapped = (x + 0.5) % (x + 0.5)
    spread = T.std(wrapped)
    return [x], [shifted**spread, T.arccos(spread), T.sgn(wrapped + shifted) / T.arcsin(shifted)]


def test_groups_form_no_cycle_of_kernels() -> None:
    inputs, outputs = program()
    module = build_function_ir("f", inputs, outputs)
    run_pipeline(module, list(DEFAULT_PIPELINE[: DEFAULT_PIPELINE.index("fuse")]))
    block = module.functions[0].body
    group_of = {op: k for k, group in enumerate(fusion_groups(block)) for op in group}
    kernels = nx.DiGraph()
    for op in block.ops:
        for result in op.results:
            for use in result.uses:
                source, target = group_of.get(op, op), group_of.get(use.op, use.op)
                if source != target:
                    kernels.add_edge(source, target)
    assert nx.is_directed_acyclic_graph(kernels)


def test_the_program_compiles_and_matches_numpy() -> None:
    inputs, outputs = program()
    power, arccos, ratio = tc.function(inputs, outputs)(0.3)
    spread = np.std(np.array([(0.3 + 0.5) % (0.3 + 0.5)]))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose([power, arccos, ratio], [2.0**spread, np.arccos(spread), np.nan])
