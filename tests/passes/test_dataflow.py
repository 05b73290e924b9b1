"""The passes' graph work without a graph library: dataflow order (dataflow.py) and the
buffer numbering of plan-buffers, checked against networkx's algorithms on the same input."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from tc import tensor as T
from tc.frontend.lower import build_function_ir
from tc.passes.dataflow import in_dataflow_order, order_by_dataflow
from tc.passes.plan_buffers import number_intervals


def _block():  # type: ignore[no-untyped-def]
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x) + y
    b = T.log(a) * x
    c = T.tanh(y) - a
    module = build_function_ir("f", [x, y], [b + c, a * 2, T.sum(c)])
    return module.functions[0].body


def _networkx_order(block):  # type: ignore[no-untyped-def]
    graph = nx.DiGraph()
    position = {op: i for i, op in enumerate(block.ops)}
    graph.add_nodes_from(block.ops)
    for op in block.ops:
        for value in op.operands:
            if value.owner is not None and value.owner.parent is block:
                graph.add_edge(value.owner, op)
    return list(nx.lexicographical_topological_sort(graph, key=position.__getitem__))


@pytest.mark.parametrize("seed", range(20))
def test_the_order_is_networkx_lexicographic_topological_order(seed: int) -> None:
    block = _block()
    assert in_dataflow_order(block)
    terminator = block.ops[-1]
    body = block.ops[:-1]
    random.Random(seed).shuffle(body)
    block.ops = [*body, terminator]
    want = _networkx_order(block)
    order_by_dataflow(block, "test")
    assert in_dataflow_order(block)
    assert block.ops == want
    assert block.ops[-1] is terminator


def test_an_order_that_already_is_one_stays() -> None:
    block = _block()
    before = list(block.ops)
    order_by_dataflow(block, "test")
    assert block.ops == before


def test_a_cycle_names_the_pass() -> None:
    block = _block()
    first, second = block.ops[0], next(op for op in block.ops if block.ops[0].results[0] in op.operands)
    first.set_operand(0, second.results[0])  # first now uses what second computes from it
    with pytest.raises(AssertionError, match="my-pass created a cycle"):
        order_by_dataflow(block, "my-pass")


@pytest.mark.parametrize("seed", range(30))
def test_buffer_numbers_are_networkx_greedy_coloring_of_the_interval_graph(seed: int) -> None:
    rng = random.Random(seed)
    born, last = {}, {}
    for name in range(rng.randint(0, 40)):
        start = rng.randint(0, 60)
        born[name], last[name] = start, start + rng.randint(0, 15)
    numbers = number_intervals(born, last)
    order = sorted(born, key=born.__getitem__)
    graph = nx.Graph()
    graph.add_nodes_from(order)
    graph.add_edges_from((u, v) for i, u in enumerate(order) for v in order[i + 1 :] if born[v] <= last[u])
    assert numbers == nx.greedy_color(graph, strategy=lambda g, _: iter(order))
    assert all(numbers[u] != numbers[v] for u, v in graph.edges)
