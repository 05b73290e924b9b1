"""What a process loads: `import tc` stays light, and a warm compile in a new process builds
no IR from the graph, loads object code and rebuilds the optimised IR from flat records only
when it is asked for, importing no parser, no lowering module and running no pass or LLVM
step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.codegen_llvm import image_map
from tc.frontend.lower import build_function_ir
from tc.ir import TcError, print_module
from tc.ir.flat import freeze, thaw

# What neither `import tc` nor a warm start needs: LLVM, the parsers, the passes (a warm start
# runs none), the object code's linking and checks (it maps prelinked images), the cache's writing
# (tempfile) and concurrent.futures (its logging import).
_HEAVY = (
    "llvmlite",
    "lark",
    "networkx",
    "scipy",
    "tc.codegen_llvm.elfcheck",
    "tc.codegen_llvm.elfload",
    "tc.codegen_llvm.lowerings",
    "tc.ir.text_reader",
    "tc.passes.fuse",
    "tempfile",
    "logging",
)
# What `import tc` leaves for first use: scan, the printers, profiling, the datasets, the sandbox.
_LOADED_WHEN_USED = (
    "tc.frontend.scan",
    "tc.frontend.debugprint",
    "tc.printing",
    "tc.runtime.profile",
    "tc.datasets",
    "tc.sandbox",
)

_PROGRAM = """
import json, sys
import numpy as np
import tc, tc.tensor as T
import tc.passes.manager as manager
loaded_by_import = sorted(m for m in {heavy!r} + {when_used!r} if m in sys.modules)
runs, built, thawed = [], [], []
original = manager.Pass.run
manager.Pass.run = lambda self, module: (runs.append(1), original(self, module))[1]
import tc.compile, tc.pass_cache
build, thaw = tc.compile.build_function, tc.pass_cache.thaw
tc.compile.build_function = lambda *a, **k: (built.append(1), build(*a, **k))[1]
tc.pass_cache.thaw = lambda data: (thawed.append(1), thaw(data))[1]
x, W = T.matrix("x"), tc.shared(np.eye(3), name="W")
f = tc.function([x], T.tanh(T.dot(x, W)).sum(axis=1), updates=[(W, W * 0.5)])
out = f(np.ones((2, 3)))
after_compile = sorted(m for m in {heavy!r} if m in sys.modules)
jit = sys.modules.get("tc.codegen_llvm.jit")  # not even imported by a warm start, where images are mapped
counts = {{"passes": len(runs), "built": len(built), "thawed": len(thawed)}}
ir = f.ir_function("tir-opt")  # the optimised IR, rebuilt from the pass cache's records when asked for
print(json.dumps({{
    "import": loaded_by_import,
    "after_compile": after_compile,
    **counts, "thawed_for_ir": len(thawed), "ir_args": [a.name for a in ir.args],
    "llvm": jit.compile_count if jit else 0, "out": out.tolist(), "W": W.get_value().tolist(),
}}))
"""


def _run(cache: Path) -> dict[str, object]:
    env = dict(os.environ, TC_CACHE_DIR=str(cache))
    program = _PROGRAM.format(heavy=_HEAVY, when_used=_LOADED_WHEN_USED)
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_is_light_and_a_warm_compile_parses_lowers_and_optimises_nothing(tmp_path: Path) -> None:
    cold = _run(tmp_path)
    assert cold["import"] == []
    assert cold["passes"] and cold["llvm"] == 1 and cold["built"] == 1
    warm = _run(tmp_path)
    assert warm["import"] == []
    # Nothing built from the graph (function_cache.py), no pass, no LLVM; the optimised module
    # is rebuilt from its records only when its IR is asked for (tc/optimized.py).
    assert warm["passes"] == 0 and warm["llvm"] == 0 and warm["built"] == 0 and warm["thawed"] == 0
    assert warm["thawed_for_ir"] == 1 and warm["ir_args"] == cold["ir_args"] == ["x"]
    assert warm["W"] == cold["W"] == (np.eye(3) * 0.5).tolist()
    # Loading needs no LLVM where images are mapped (x86-64 Linux; elsewhere MCJIT links the
    # object), and BLAS is scipy's OpenBLAS, found without importing scipy.
    linking = ["llvmlite", "tc.codegen_llvm.elfcheck", "tc.codegen_llvm.elfload"]
    assert warm["after_compile"] == ([] if image_map.supported() else linking)
    assert warm["out"] == cold["out"]
    np.testing.assert_allclose(warm["out"], np.tanh(np.ones((2, 3))).sum(axis=1))


def test_the_names_left_for_first_use_load_when_used() -> None:
    program = (
        "import sys, tc\n"
        "assert {'scan', 'pp', 'datasets', 'load'} <= set(dir(tc))\n"
        "assert 'tc.frontend.scan' not in sys.modules\n"
        "from tc import scan\n"
        "assert scan is tc.scan is tc.scan_module.scan\n"
        "assert tc.pp is tc.printing.pp and callable(tc.printing.debugprint)\n"
        "assert issubclass(tc.TcDataError, tc.TcError) and callable(tc.datasets.load_mnist)\n"
        "assert tc.sandbox.rng_mrg.MRG_RandomStreams and callable(tc.load) and callable(tc.compile_file)\n"
        "assert not hasattr(tc, 'no_such_name')\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ok"


def test_flat_records_rebuild_the_module_as_it_prints() -> None:
    x, h0 = T.matrix("x"), T.vector("h0")
    hs, _ = tc.scan(lambda r, h: T.tanh(r + h), sequences=x, outputs_info=h0)
    built = build_function_ir("f", [x, h0], [hs, T.grad(hs.sum(), h0)])  # a region, locations
    again = thaw(freeze(built))
    assert print_module(again, locations=True) == print_module(built, locations=True)


def test_damaged_records_are_a_tc_error() -> None:
    x = T.dvector("x")
    data = freeze(build_function_ir("f", [x], [T.exp(x)]))
    with pytest.raises(TcError, match="not a saved module"):
        thaw(data[: len(data) // 2])


_DUMP = """
import json, sys
import tc, tc.tensor as T
x = T.dvector("x")
f = tc.function([x], T.exp(x) * 2)
print(json.dumps({"stages": f.stages, "llvm": f.dump("llvm-opt")[:2000]}))
"""


def test_a_warm_compile_reads_the_llvm_text_only_when_dumped(tmp_path: Path) -> None:
    env = dict(os.environ, TC_CACHE_DIR=str(tmp_path))

    def run() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", _DUMP], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    cold, warm = run(), run()
    assert warm == cold and "llvm" in warm["stages"] and "define" in warm["llvm"]  # type: ignore[operator]
    (texts,) = tmp_path.rglob("*.tcstages")
    texts.unlink()  # the object code is still there: the text says it is gone
    gone = run()
    assert gone["stages"] == cold["stages"] and "no longer in the cache" in gone["llvm"]  # type: ignore[operator]


_GRADIENT = """
import json, warnings
import numpy as np
import tc, tc.tensor as T
import tc.passes.manager as manager
runs = []
original = manager.Pass.run
manager.Pass.run = lambda self, module: (runs.append(1), original(self, module))[1]
x, W, V = T.matrix("x"), tc.shared(np.eye(3), name="W"), tc.shared(np.eye(3), name="V")
cost = T.tanh(T.dot(x, W)).sum()
g_W = T.grad(cost, W)
after_grad = len(runs)
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    T.grad(cost, [W, V], disconnected_inputs="warn")
try:
    T.grad(cost, V)
    error = None
except tc.TcGradientError as caught:
    error = str(caught)
f = tc.function([x], g_W)
print(json.dumps({"after_grad": after_grad, "passes": len(runs), "warned": len(said), "error": error,
                  "out": f(np.ones((2, 3))).tolist()}))
"""


def test_a_warm_start_expands_no_gradient_it_knows_and_still_warns_and_raises(tmp_path: Path) -> None:
    env = dict(os.environ, TC_CACHE_DIR=str(tmp_path))

    def run() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", _GRADIENT], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    cold, warm = run(), run()
    assert cold["after_grad"] == 1 and warm["after_grad"] == 0  # T.grad's check: remembered
    # Expanded every time: the gradient that warns (and does), the one that raises (and does).
    assert warm["passes"] == 2 and warm["warned"] == cold["warned"] == 1
    assert warm["error"] == cold["error"] and "disconnected" in str(warm["error"])
    assert warm["out"] == cold["out"]
    np.testing.assert_allclose(warm["out"], 2 * (1 - np.tanh(1.0) ** 2) * np.ones((3, 3)))


def test_a_module_is_verified_unless_the_pass_cache_knows_its_text(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tc.compile as compile_module

    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))  # a cache that has not seen the function

    verified: list[str] = []
    original = compile_module.verify_module
    monkeypatch.setattr(
        compile_module, "verify_module", lambda m: (verified.append(m.functions[0].name), original(m))
    )
    x = T.dvector("x")
    for _ in range(2):  # the same located text twice: the second compile's passes come from the cache
        f = tc.function([x], T.exp(x) * 3, name="verified_once")
    assert verified == ["verified_once"]
    np.testing.assert_allclose(f(np.zeros(2)), [3.0, 3.0])
