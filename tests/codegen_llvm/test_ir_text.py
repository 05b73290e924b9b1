"""codegen_llvm/ir_text.py prints exactly what llvmlite prints, byte for byte, for every module
tc lowers: train steps, reductions, a scan, a convolution, random streams, the support
library's products, and instructions it leaves to llvmlite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from llvmlite import ir as ll

import tc
import tc.tensor as T
from tc.codegen_llvm import ir_text
from tc.codegen_llvm import module_text as module_text_module
from tc.codegen_llvm.support import support_text


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every module printed while the test runs, printed both ways: (name, characters)."""
    seen: list[tuple[str, int]] = []
    fast = ir_text.module_text

    def both(module: ll.Module, merge: bool = False) -> str:
        expected = str(module)
        text = fast(module)
        assert text == expected, _first_difference(text, expected)
        seen.append((module.name, len(text)))
        return fast(module, merge=True) if merge else text

    monkeypatch.setenv("TC_CACHE", "0")  # everything lowered here, none of it from the cache
    monkeypatch.setattr(module_text_module.ir_text, "module_text", both)
    yield seen


def _first_difference(text: str, expected: str) -> str:
    for number, (line, want) in enumerate(zip(text.splitlines(), expected.splitlines(), strict=False)):
        if line != want:
            return f"line {number + 1}:\n  fast:     {line!r}\n  llvmlite: {want!r}"
    return f"lengths differ: {len(text)} against {len(expected)}"


def _train_step(hidden: int) -> Callable[..., object]:
    x, y = T.matrix("x"), T.ivector("y")
    rng = np.random.default_rng(0)
    w1 = tc.shared(rng.standard_normal((12, hidden)), name="w1")
    w2 = tc.shared(np.zeros((hidden, 3)), name="w2")
    b = tc.shared(np.zeros(3), name="b")
    p = T.nnet.softmax(T.dot(T.tanh(T.dot(x, w1)), w2) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 0.01 * abs(w2).sum()
    grads = T.grad(cost, [w1, w2, b])
    updates = [(v, v - 0.1 * g) for v, g in zip((w1, w2, b), grads, strict=True)]
    return tc.function([x, y], cost, updates=updates)


def test_train_steps_and_reductions(compared: list[tuple[str, int]]) -> None:
    step = _train_step(7)
    step(np.ones((5, 12)), np.array([0, 1, 2, 1, 0], np.int32))
    m = T.fmatrix("m")
    f = tc.function([m], [m.max(axis=0), m.sum(axis=1), T.sqrt((m**2).sum()), m.argmax(axis=1)])
    f(np.ones((33, 70), np.float32))
    assert len(compared) >= 2 and sum(size for _, size in compared) > 50_000


def test_a_scan_a_convolution_and_random_streams(compared: list[tuple[str, int]]) -> None:
    x, h0 = T.matrix("x"), T.vector("h0")
    hs, _ = tc.scan(lambda r, h: T.tanh(r + h), sequences=x, outputs_info=h0)
    tc.function([x, h0], hs)(np.ones((4, 3)), np.zeros(3))
    images, filters = T.tensor4("images"), T.tensor4("filters")
    conv = tc.function([images, filters], T.nnet.conv2d(images, filters, border_mode="half"))
    conv(np.ones((2, 3, 8, 8)), np.ones((4, 3, 3, 3)))
    streams = tc.random.RandomStreams(seed=3)
    tc.function([], streams.normal((5,)) + streams.uniform((5,)))()
    assert len(compared) >= 3


def test_the_support_librarys_products(compared: list[tuple[str, int]]) -> None:
    assert "tc_dot_f32" in support_text("f32")
    assert compared and compared[-1][1] > 100_000


def test_instructions_left_to_llvmlite() -> None:
    """A call with attributes, a vector shuffle, an aggregate: llvmlite's own text."""
    module = ll.Module("m")
    f64, i32 = ll.DoubleType(), ll.IntType(32)
    vector = ll.VectorType(f64, 2)
    callee = ll.Function(module, ll.FunctionType(f64, [f64]), "g")
    function = ll.Function(module, ll.FunctionType(f64, [vector, f64]), "f")
    b = ll.IRBuilder(function.append_basic_block("entry"))
    swap = ll.Constant(ll.VectorType(i32, 2), [1, 0])
    shuffled = b.shuffle_vector(function.args[0], function.args[0], swap)
    called = b.call(callee, [b.extract_element(shuffled, i32(0))], fastmath=("fast",), tail=True)
    pair = b.insert_value(ll.Constant(ll.LiteralStructType([f64, f64]), None), called, 0)
    b.ret(b.fadd(b.extract_value(pair, 0), function.args[1], flags=("fast",)))
    assert ir_text.module_text(module) == str(module)
