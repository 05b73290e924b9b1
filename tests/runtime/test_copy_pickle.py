"""Copying and pickling compiled functions (Theano's `f.copy()`, `copy.deepcopy`, `pickle`)."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tc
from tc import tensor as T

ROOT = Path(__file__).resolve().parents[2]


class Model:
    """The shape of the tutorial's rnnslu.py model: shared parameters, a classifier and a
    training function with a learning-rate input, kept as `best = copy.deepcopy(model)`."""

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self.W = tc.shared(rng.normal(size=(3, 2)), "W")
        self.b = tc.shared(np.zeros(2), "b")
        self.params = [self.W, self.b]
        x, y, lr = T.dmatrix("x"), T.lvector("y"), T.dscalar("lr")
        p_y = T.nnet.softmax(T.dot(x, self.W) + self.b)
        nll = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
        grads = T.grad(nll, self.params)
        self.classify = tc.function([x], T.argmax(p_y, axis=1))
        self.train = tc.function(
            [x, y, tc.In(lr, value=0.5)],
            nll,
            updates=[(p, p - lr * g) for p, g in zip(self.params, grads, strict=True)],
        )


X = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [1.0, 1.0, 0.0], [-1.0, 0.5, 1.0]])
Y = np.array([0, 1, 1, 0])


def test_deepcopy_of_a_model_copies_its_functions_with_its_parameters() -> None:
    model = Model()
    model.train(X, Y)
    best = copy.deepcopy(model)
    assert best.train._shared[0] is best.W.container and best.W.container is not model.W.container
    snapshot = [p.get_value() for p in model.params]
    for _ in range(20):
        model.train(X, Y, lr=1.0)
    for kept, param in zip(snapshot, best.params, strict=True):
        np.testing.assert_array_equal(param.get_value(), kept)  # the copy did not move
    assert model.classify(X).tolist() == Y.tolist()
    # The copy's functions read and update the copy's parameters only.
    before = model.W.get_value()
    cost = best.train(X, Y)
    assert not np.array_equal(best.W.get_value(), snapshot[0])
    np.testing.assert_array_equal(model.W.get_value(), before)
    reference = copy.deepcopy(best)
    assert float(reference.train(X, Y, 0.5)) < float(cost)


def test_deepcopy_of_a_function_alone_updates_its_own_copies() -> None:
    acc = tc.shared(np.zeros(2), "acc")
    step = T.dvector("step")
    add = tc.function([step], acc.sum(), updates=[(acc, acc + step)])
    twin = copy.deepcopy(add)
    twin([1.0, 2.0])
    twin([1.0, 2.0])
    assert acc.get_value().tolist() == [0.0, 0.0]
    assert float(twin([0.0, 0.0])) == 6.0
    assert float(add([1.0, 1.0])) == 0.0 and acc.get_value().tolist() == [1.0, 1.0]
    copied = copy.deepcopy({"add": add, "acc": acc})  # the function first: the memo links them
    copied["add"]([2.0, 2.0])
    assert copied["acc"].get_value().tolist() == [3.0, 3.0] and acc.get_value().tolist() == [1.0, 1.0]


def test_copy_shares_swaps_or_drops_updates() -> None:
    W, V = tc.shared(np.ones(2), "W"), tc.shared(np.full(2, 10.0), "V")
    x = T.dvector("x")
    f = tc.function([x], T.dot(W, x), updates=[(W, W * 2)])
    shared_copy = f.copy()
    assert float(shared_copy([1.0, 1.0])) == 2.0 and W.get_value().tolist() == [2.0, 2.0]
    assert float(f([1.0, 0.0])) == 2.0 and W.get_value().tolist() == [4.0, 4.0]
    frozen = f.copy(delete_updates=True, name="frozen")
    assert float(frozen([1.0, 1.0])) == 8.0 and W.get_value().tolist() == [4.0, 4.0]
    assert "frozen" in repr(frozen)
    swapped = f.copy(swap={W: V})
    assert float(swapped([1.0, 0.0])) == 10.0
    assert V.get_value().tolist() == [20.0, 20.0] and W.get_value().tolist() == [4.0, 4.0]
    with pytest.raises(tc.TcTypeError, match="can only be swapped for one of the same dtype and rank"):
        f.copy(swap={W: tc.shared(np.ones((2, 2)), "M")})
    with pytest.raises(tc.TcValueError, match="does not use shared variable 'U'"):
        f.copy(swap={tc.shared(np.ones(2), "U"): V})
    with pytest.raises(tc.TcTypeError, match="expected shared variables"):
        f.copy(swap={W: np.ones(2)})


def test_scalar_copies_keep_the_fast_path_semantics() -> None:
    acc = tc.shared(0.0, "acc")
    step = T.dscalar("step")
    bump = tc.function([tc.In(step, value=1.0)], acc, updates=[(acc, acc + step)])
    peek = bump.copy(delete_updates=True)
    assert [float(bump()), float(peek(5.0)), float(peek()), float(bump(step=2.0))] == [0.0, 1.0, 1.0, 1.0]
    assert acc.get_value() == 3.0
    other = tc.shared(100.0, "other")
    assert float(bump.copy(swap={acc: other})()) == 100.0 and other.get_value() == 101.0


def test_pickle_keeps_values_defaults_keywords_and_the_link_to_shared_variables() -> None:
    model = Model()
    model.train(X, Y)
    train, W, b = pickle.loads(pickle.dumps((model.train, model.W, model.b)))
    assert train._shared[0] is W.container and W.name == "W" and W.get_value().dtype == np.float64
    np.testing.assert_array_equal(W.get_value(), model.W.get_value())
    expected = float(model.train(X, Y, lr=0.25))
    assert float(train(X, Y, lr=0.25)) == expected
    np.testing.assert_array_equal(W.get_value(), model.W.get_value())
    np.testing.assert_array_equal(b.get_value(), model.b.get_value())
    assert float(train(x=X, y=Y)) == float(model.train(X, Y))  # the default lr=0.5 survived
    with pytest.raises(tc.TcTypeError, match="has no input named 'rate'"):
        train(X, Y, rate=0.1)


def test_pickled_copies_keep_their_name_and_dropped_updates() -> None:
    W = tc.shared(np.ones(2, np.float32), "W")
    x = T.fvector("x")
    f = tc.function([x], T.dot(W, x), updates=[(W, W + 1)])
    frozen, W2 = pickle.loads(pickle.dumps((f.copy(delete_updates=True, name="peek"), W)))
    assert float(frozen(np.ones(2, np.float32))) == 2.0 and W2.get_value().tolist() == [1.0, 1.0]
    assert "peek" in repr(frozen) and W2.get_value().dtype == np.float32


def test_pickled_scalar_function_is_rebuilt_with_its_native_entry() -> None:
    x, y = T.dscalar("x"), T.lscalar("y")
    f = tc.function([x, tc.In(y, value=2)], x**y)
    g = pickle.loads(pickle.dumps(f))
    assert g.scalar_only and g.__call__ is not g._call
    assert [float(g(3.0)), float(g(3.0, 3)), float(g(x=2.0, y=5))] == [9.0, 27.0, 32.0]


def test_gpu_functions_copy_and_pickle_on_the_emulated_device() -> None:
    W = tc.shared(np.zeros(2), "W")
    x, lr = T.dvector("x"), T.dscalar("lr")
    f = tc.function([x, tc.In(lr, value=0.1)], T.sum(W * x), updates=[(W, W + lr * x)], device="emulated")
    assert float(f([1.0, 1.0])) == 0.0
    g, W2 = pickle.loads(pickle.dumps((f, W)))
    assert float(g([1.0, 1.0], lr=1.0)) == pytest.approx(0.2)
    assert W2.get_value().tolist() == pytest.approx([1.1, 1.1]) and W.get_value().tolist() == [0.1, 0.1]
    frozen = f.copy(delete_updates=True)
    assert float(frozen([1.0, 0.0])) == pytest.approx(0.1) and W.get_value().tolist() == [0.1, 0.1]
    h, W3 = copy.deepcopy((f, W))
    h(lr=1.0, x=[2.0, 0.0])
    assert W3.get_value().tolist() == pytest.approx([2.1, 0.1]) and W.get_value().tolist() == [0.1, 0.1]


def test_a_function_without_a_recipe_says_it_cannot_be_pickled() -> None:
    x = T.dvector("x")
    f = copy.copy(tc.function([x], x * 2))
    f._rebuild = None  # as a CompiledFunction made by hand, outside tc.function
    with pytest.raises(tc.TcValueError, match="'f' cannot be pickled: it was not made by tc.function"):
        pickle.dumps(f)
    assert copy.deepcopy(f)([1.0]).tolist() == [2.0]


CHILD = """
import json, pickle, sys
import numpy as np
with open(sys.argv[1], "rb") as handle:
    saved = pickle.load(handle)
first = saved["train"](saved["x"], saved["y"])
second = saved["train"](saved["x"], saved["y"], lr=0.1)
print(json.dumps({"costs": [float(first), float(second)], "W": saved["W"].get_value().tolist(),
                  "classes": saved["classify"](saved["x"]).tolist()}))
"""


def test_a_pickled_model_works_in_a_fresh_process(tmp_path: Path) -> None:
    model = Model()
    path = tmp_path / "model.pkl"
    saved = {"train": model.train, "classify": model.classify, "W": model.W, "x": X, "y": Y}
    path.write_bytes(pickle.dumps(saved))
    costs = [float(model.train(X, Y)), float(model.train(X, Y, lr=0.1))]
    # An empty compile cache: the child compiles the pickled IR itself.
    env = {**os.environ, "TC_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, check=True
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["costs"] == pytest.approx(costs, rel=1e-12)
    np.testing.assert_allclose(child["W"], model.W.get_value(), rtol=1e-12)
    assert child["classes"] == model.classify(X).tolist()
