"""profile=True: each op's runs timed in the code, with exact bytes and flops, a table and a
timeline; failed calls counted; nothing else about the function changes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import tc
from tc import tensor as T
from tc.ir import TcShapeError, TcTypeError, TcValueError
from tc.runtime import machine_peaks as peaks_module
from tc.runtime.machine_peaks import MachinePeaks

PEAKS = MachinePeaks(20e9, {"float32": 200e9, "float64": 100e9}, "test")


def layer(profile: bool):  # type: ignore[no-untyped-def]
    """tanh(x . W + b) with W updated: a product, a fused kernel, an update."""
    rng = np.random.default_rng(0)
    w = tc.shared(rng.standard_normal((30, 40)), name="W")
    x = T.dmatrix("x")
    h = T.tanh(T.dot(x, w) + 1.0)
    f = tc.function([x], h.sum(), updates=[(w, w * 0.5)], profile=profile)
    return f, w


def op_named(profile, prefix: str):  # type: ignore[no-untyped-def]
    found = [op for op in profile.ops.values() if op.label.startswith(prefix)]
    assert found, f"no op {prefix!r} in {[op.label for op in profile.ops.values()]}"
    return found[0]


def test_profiled_function_computes_what_the_plain_one_does() -> None:
    f, w = layer(profile=True)
    g, v = layer(profile=False)
    x = np.random.default_rng(1).standard_normal((7, 30))
    for _ in range(3):
        np.testing.assert_allclose(f(x), g(x), rtol=1e-12)
    np.testing.assert_array_equal(w.get_value(), v.get_value())
    assert g.profile is None


def test_each_op_records_its_calls_time_bytes_and_flops() -> None:
    f, _ = layer(profile=True)
    x = np.ones((7, 30))
    for _ in range(5):
        f(x)
    profile = f.profile
    assert profile.calls == 5 and profile.failed == 0 and profile.dropped == 0
    dot = op_named(profile, "tx.dot")
    assert dot.calls == 5
    assert dot.flops == 5 * 2 * 7 * 30 * 40
    assert dot.bytes == 5 * 8 * (7 * 30 + 30 * 40 + 7 * 40)
    assert 0 < profile.op_nanoseconds <= profile.nanoseconds
    assert all(op.nanoseconds > 0 for op in profile.ops.values() if op.calls)
    assert str(dot.location).startswith(__file__)


def test_a_fused_kernel_counts_one_flop_per_body_op_and_element() -> None:
    x = T.dvector("x")
    f = tc.function([x], T.tanh(x) * 2.0 + 1.0, profile=True)
    f(np.zeros(1000))
    (kernel,) = [op for op in f.profile.ops.values() if op.calls and "kernel.elementwise" in op.label]
    assert "tanh" in kernel.label
    body = kernel.label[kernel.label.index("[") + 1 : kernel.label.index("]")].split(", ")
    assert kernel.flops == 1000 * len(body)
    assert kernel.bytes == 2 * 1000 * 8  # read x, write the result


def test_a_failed_call_is_counted_and_changes_nothing() -> None:
    f, w = layer(profile=True)
    before = w.get_value()
    with pytest.raises(TcShapeError):
        f(np.ones((7, 31)))
    assert f.profile.calls == 1 and f.profile.failed == 1
    np.testing.assert_array_equal(w.get_value(), before)
    text = f.profile.summary(file=io.StringIO(), peaks=PEAKS)
    assert "1 calls (1 failed)" in text and "no op has run" in text


def test_summary_and_trace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f, _ = layer(profile=True)
    f(np.ones((7, 30)))
    out = io.StringIO()
    text = f.profile.summary(file=out, peaks=PEAKS)
    assert out.getvalue().strip() == text
    assert "Function profile: 'f': 1 calls (0 failed)" in text
    assert "%copy" in text and "%blas" in text and "tx.dot" in text
    trace = tmp_path / "trace.json"
    f.profile.write_trace(str(trace))
    events = json.loads(trace.read_text())["traceEvents"]
    (call,) = [e for e in events if e.get("cat") == "call"]
    ops = [e for e in events if e.get("cat") == "op"]
    assert ops and all(call["ts"] <= e["ts"] and e["ts"] + e["dur"] <= call["ts"] + call["dur"] for e in ops)


def test_reset_forgets_the_calls() -> None:
    f, _ = layer(profile=True)
    f(np.ones((2, 30)))
    f.profile.reset()
    assert f.profile.calls == 0 and f.profile.op_nanoseconds == 0 and not f.profile.events


def test_bad_profile_arguments() -> None:
    x = T.dscalar("x")
    with pytest.raises(TcTypeError, match="profile must be True or False"):
        tc.function([x], x + 1, profile="yes")  # type: ignore[arg-type]
    with pytest.raises(TcValueError, match="CPU code"):
        tc.function([x], x + 1, profile=True, device="emulated")


def test_machine_peaks_are_cached_and_a_damaged_file_is_measured_again(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(peaks_module, "_measured", None)
    measured = []
    monkeypatch.setattr(peaks_module, "measure", lambda: measured.append(1) or PEAKS)
    assert peaks_module.machine_peaks() == PEAKS
    monkeypatch.setattr(peaks_module, "_measured", None)
    assert peaks_module.machine_peaks() == PEAKS and len(measured) == 1  # read back
    (path,) = tmp_path.glob("machine-peaks-*.json")
    path.write_text("{not json")
    monkeypatch.setattr(peaks_module, "_measured", None)
    assert peaks_module.machine_peaks() == PEAKS and len(measured) == 2


def test_flops_rules_of_the_ops() -> None:
    x = T.dmatrix("x")
    w = T.dmatrix("w")
    f = tc.function([x, w], T.dot(x, w))
    dot = next(op for op in f.ir_function("tir-opt").body.ops if op.name == "tx.dot")
    assert dot.flops([[3, 4], [4, 5]], [[3, 5]]) == 2 * 3 * 4 * 5
    assert dot.flops([[4], [4]], [[]]) == 8  # a vector product


def test_every_cell_of_the_table_stays_apart() -> None:
    """A view's bytes over its few nanoseconds give a rate far wider than its column: the
    cells must still be separate fields."""
    from tc.runtime.profile import FunctionProfile, OpProfile
    from tc.runtime.profile_report import summary_text

    view = OpProfile(30, "tx.reshape f32[?,?]", "model.py:63:0", "float32", 23, 1_932, 900_000_000_000, 0)
    product = OpProfile(31, "tx.dot f32[?,?]", "", "float32", 23, 154_700_000, 95_000_000, 9_200_000_000_000)
    profile = FunctionProfile("f", {30: view, 31: product}, calls=23, nanoseconds=160_000_000)
    rows = [line.split() for line in summary_text(profile, PEAKS).splitlines() if "#3" in line]
    assert [row[8] for row in rows] == ["#31", "#30"]  # %time ... %blas, then the op
    assert rows[1][4] == f"{900_000_000_000 / 1_932e-9 / 1e9:.2f}"
