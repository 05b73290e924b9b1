"""passes.NEEDED_OPS: a pass skipped for want of its ops must be one that would have changed
nothing. Over every golden input (tests/passes/golden) and a set of tc.function graphs (a
product, a softmax, a gradient, givens, a scan), the default pipeline run with the skips
(`run_needed`) prints what it prints run in full, and each gated pass leaves a module that
lacks its ops as it was, but for dead ops it drops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.frontend.lower import build_function
from tc.ir import Module, parse_module, print_module
from tc.passes import DEFAULT_PIPELINE, NEEDED_OPS, run_needed, run_pipeline
from tc.passes.manager import pass_named

GOLDEN = Path(__file__).parent / "golden"


def _graphs() -> dict[str, Module]:
    x, y, i = T.dmatrix("x"), T.lvector("y"), T.lscalar("i")
    w = tc.shared(np.ones((3, 2)), name="w")
    data = tc.shared(np.ones((8, 3)), name="data")
    cost = -T.mean(T.log(T.nnet.softmax(T.dot(x, w)))[T.arange(y.shape[0]), y])
    step = [(w, w - 0.1 * T.grad(cost, w))]
    seq = T.dvector("seq")
    scanned, _ = tc.scan(lambda v, acc: acc + T.exp(v), sequences=[seq], outputs_info=[T.constant(0.0)])
    built = {
        "seed": build_function("f", [i], [T.sin(T.cast(i, "float64")) ** 2]),
        "train_step": build_function("f", [x, y], [cost], step),
        "givens": build_function("f", [i, y], [cost], step, [(x, data[i * 2 : (i + 1) * 2])]),
        "stopped": build_function("f", [x], [T.grad(T.sum(T.zero_grad(x) * x), x)]),
        "scan": build_function("f", [seq], [scanned[-1]]),
        "ratio": build_function("f", [x], [T.exp(x) / T.exp(x).sum(axis=1, keepdims=True)]),
    }
    return {name: b.module for name, b in built.items()}


def _modules() -> list[tuple[str, Module]]:
    cases = sorted(p for p in GOLDEN.glob("*.tir") if not p.name.endswith(".expected.tir"))
    return [(p.stem, parse_module(p.read_text(), str(p))) for p in cases] + list(_graphs().items())


@pytest.mark.parametrize("case", range(len(_modules())), ids=[name for name, _ in _modules()])
def test_the_pipeline_with_skips_prints_what_it_prints_in_full(case: int) -> None:
    _, module = _modules()[case]
    text = print_module(module)
    full, skipping = parse_module(text), parse_module(text)
    try:
        run_pipeline(full, DEFAULT_PIPELINE, verify_each=False)
    except tc.TcError as error:  # (a golden input meant for another pipeline may not get through)
        with pytest.raises(type(error)):
            run_needed(skipping, DEFAULT_PIPELINE)
        return
    run_needed(skipping, DEFAULT_PIPELINE)
    assert print_module(skipping) == print_module(full)


@pytest.mark.parametrize("name", sorted(NEEDED_OPS))
def test_a_gated_pass_changes_nothing_without_its_ops(name: str) -> None:
    checked = 0
    for _, module in _modules():
        # The module at each point of the pipeline where this pass could come.
        for stop in range(len(DEFAULT_PIPELINE) + 1):
            state = parse_module(print_module(module))
            try:
                run_pipeline(state, DEFAULT_PIPELINE[:stop], verify_each=False)
            except tc.TcError:
                break
            if any(op.name in NEEDED_OPS[name] for f in state.functions for op in f.walk()):
                continue
            # (Rewriting passes also drop dead ops, as the later cse and canonicalize do.)
            before = print_module(run_pipeline(parse_module(print_module(state)), "dce"))
            pass_named(name)().run(state)
            assert print_module(run_pipeline(state, "dce")) == before, (name, stop)
            checked += 1
    assert checked > 10
