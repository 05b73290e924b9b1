"""frontend/graph_key.py: the text by which T.grad's early check remembers a scratch graph
that expanded, made without lowering the graph."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.frontend import gradient
from tc.frontend.graph_key import graph_text


def _graph(scale: float = 2.0, axis: int = 0, dtype: str = "float64"):  # type: ignore[no-untyped-def]
    x = T.matrix("x", dtype=dtype)
    return x, (T.tanh(x) * scale).sum(axis=axis)


def test_the_same_graph_built_twice_has_one_text() -> None:
    texts = set()
    for _ in range(2):
        x, y = _graph()
        texts.add(graph_text([x], [y]))
    assert len(texts) == 1 and None not in texts


@pytest.mark.parametrize("change", [{"scale": 3.0}, {"axis": 1}, {"dtype": "float32"}])
def test_a_constant_an_attribute_or_a_type_changes_the_text(change: dict[str, object]) -> None:
    x, y = _graph()
    other_x, other_y = _graph(**change)  # type: ignore[arg-type]
    assert graph_text([x], [y]) != graph_text([other_x], [other_y])


def test_the_inputs_order_and_a_shared_variable_count() -> None:
    a, b = T.vector("a"), T.vector("b")
    y = a * 2 + b
    assert graph_text([a, b], [y]) != graph_text([b, a], [y])
    w = tc.shared(np.zeros(3), name="w")
    v = tc.shared(np.zeros(3), name="w")  # the same name and type, another variable
    assert graph_text([a], [a * w + w]) != graph_text([a], [a * w + v])


def test_a_graph_with_a_region_has_no_text() -> None:
    x = T.vector("x")
    steps, _ = tc.scan(lambda v: v * 2, sequences=[x])
    assert graph_text([x], [steps.sum()]) is None


class _Known:
    def __init__(self) -> None:
        self.texts: set[str] = set()

    def __contains__(self, text: object) -> bool:
        return text in self.texts

    def add(self, text: str) -> None:
        self.texts.add(text)


def test_a_remembered_gradient_is_not_lowered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    known = _Known()
    monkeypatch.setattr(gradient, "expanded_gradients", known)
    lowered = []
    build = gradient.build_function
    monkeypatch.setattr(gradient, "build_function", lambda *a, **k: lowered.append(a[0]) or build(*a, **k))
    for _ in range(2):  # the same graph, built on the same lines
        w = tc.shared(np.ones(3), name="w")
        x = T.vector("x")
        T.grad(((x * w) ** 2).sum(), w)
    assert lowered == ["grad_check"] and len(known.texts) == 1
    with pytest.raises(tc.TcError):  # a gradient that fails is still reported at T.grad
        T.grad(T.argmax(x * w), w)
