"""A networkx view of a block's dataflow, for the graph-shaped analyses.

Nodes are the block's ops; an edge p -> c means c uses a result of p. The
IR stays the source of truth: the view is rebuilt whenever a pass needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir import Block

if TYPE_CHECKING:  # networkx is imported when a pass first needs it: `import tc` stays fast
    import networkx as nx


def dataflow_graph(block: Block) -> nx.DiGraph:
    import networkx as nx

    graph = nx.DiGraph()
    for index, op in enumerate(block.ops):
        graph.add_node(op, index=index)
    for op in block.ops:
        for value in op.operands:
            producer = value.owner
            if producer is not None and producer.parent is block:
                graph.add_edge(producer, op)
    return graph


def reorder_topologically(block: Block, graph: nx.DiGraph) -> None:
    """Put the block's ops in an order that respects `graph`, as close to the old one as possible.

    The terminator stays last.
    """
    import networkx as nx

    position = {op: i for i, op in enumerate(block.ops)}
    terminator = block.terminator
    order = [
        op
        for op in nx.lexicographical_topological_sort(graph, key=lambda op: position.get(op, 0))
        if op is not terminator
    ]
    block.ops = order + ([terminator] if terminator is not None else [])
