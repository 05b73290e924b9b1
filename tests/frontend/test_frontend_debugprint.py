"""debugprint in Theano's format, for builder graphs and for IR."""

from __future__ import annotations

import io

import pytest

import tc
import tc.ir as ir
from tc import tensor as T
from tc.frontend import build_function_ir
from tc.printing import debugprint

SEED = """\
tx.add [id A] 'y'
 |tx.pow [id B]
 | |tx.sin [id C]
 | | |tx.deg2rad [id D]
 | |   |x [id E]
 | |tx.constant{2.0} [id F]
 |tx.pow [id G]
   |tx.cos [id H]
   | |tx.deg2rad [id I]
   |   |x [id E]
   |tx.constant{2.0} [id J]
"""


def seed() -> tuple[T.Variable, T.Variable]:
    x = T.vector("x")
    y = T.sin(T.deg2rad(x)) ** 2 + T.cos(T.deg2rad(x)) ** 2
    y.name = "y"
    return x, y


def test_seed_graph(capsys: pytest.CaptureFixture[str]) -> None:
    _, y = seed()
    assert debugprint(y) == SEED
    assert capsys.readouterr().out == SEED


def test_file_str_only_returns_and_files_are_written(capsys: pytest.CaptureFixture[str]) -> None:
    _, y = seed()
    assert debugprint(y, file="str") == SEED
    buffer = io.StringIO()
    assert debugprint(y, file=buffer) == SEED
    assert buffer.getvalue() == SEED
    assert capsys.readouterr().out == ""


def test_ir_prints_the_same_tree() -> None:
    x, y = seed()
    module = build_function_ir("f", [x], [y])
    assert debugprint(module, file="str") == SEED
    assert debugprint(module.functions[0], file="str") == SEED
    parsed = ir.parse_module(str(module))
    assert debugprint(parsed, file="str") == SEED


def test_objects_with_ir_function() -> None:
    x, y = seed()

    class Compiled:
        def ir_function(self, stage: str = "tir-opt") -> ir.Function:
            return build_function_ir("f", [x], [y]).functions[0]

    assert debugprint(Compiled(), file="str") == SEED


def test_repeated_nodes_print_once_then_only_their_header() -> None:
    x = T.vector("x")
    s = T.sin(x)
    z = s * s
    assert debugprint(z, file="str") == ("tx.mul [id A]\n |tx.sin [id B]\n | |x [id C]\n |tx.sin [id B]\n")


def test_lists_share_ids_and_types_can_be_shown() -> None:
    x = T.vector("x")
    s = T.exp(x)
    text = debugprint([s, s + T.fscalar("f")], file="str", print_type=True)
    assert text == (
        "tx.exp [id A] <tensor<?xf64>>\n"
        " |x [id B] <tensor<?xf64>>\n"
        "tx.add [id C] <tensor<?xf64>>\n"
        " |tx.exp [id A] <tensor<?xf64>>\n"
        " |tx.cast [id D] <tensor<f64>>\n"
        "   |f [id E] <tensor<f32>>\n"
    )


def test_unnamed_inputs_show_their_type() -> None:
    assert debugprint(-T.vector(), file="str") == "tx.neg [id A]\n |<tensor<?xf64>> [id B]\n"


def test_ids_continue_past_z() -> None:
    y = T.scalar("x")
    for _ in range(30):
        y = T.exp(y)
    lines = debugprint(y, file="str").splitlines()
    assert [line.split("[id ")[1][:-1] for line in lines[25:28]] == ["Z", "BA", "BB"]


def test_deep_graphs_do_not_recurse() -> None:
    y = T.scalar("x")
    for _ in range(1500):
        y = T.neg(y)
    assert len(debugprint(y, file="str").splitlines()) == 1501


def test_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        debugprint(42)


KERNEL = """\
module {
  func @f(%x: tensor<?xf64>, %y: tensor<?xf64>) -> tensor<?xf64> {
    %k = kernel.elementwise %x, %y : tensor<?xf64> ({
    ^bb0(%a: tensor<f64>, %b: tensor<f64>):
      %s = tx.sin %a : tensor<f64>
      %m = tx.mul %s, %b : tensor<f64>
      kernel.yield %m : tensor<f64>
    })
    return %k : tensor<?xf64>
  }
}
"""


def test_kernel_bodies_print_as_inner_graphs() -> None:
    assert debugprint(ir.parse_module(KERNEL), file="str") == (
        "kernel.elementwise [id A] 'k'\n"
        " |x [id B]\n"
        " |y [id C]\n"
        "\n"
        "Inner graphs:\n"
        "\n"
        "kernel.elementwise [id A]\n"
        " >tx.mul [id D] 'm'\n"
        " > |tx.sin [id E] 's'\n"
        " > | |a [id F]\n"
        " > |b [id G]\n"
    )


def test_debugprint_of_a_function_shows_its_updates() -> None:
    state = tc.shared(0.0, name="state")
    x = T.dscalar("x")
    f = tc.function([x], x * 2, updates=[(state, state + x)])
    text = debugprint(f, file="str")
    outputs, update = text.split("Inner graphs:")[0].split("update @state:\n")
    assert "x [id B]" in outputs
    assert update.splitlines()[0].startswith("kernel.elementwise") and "tx.load [id" in update
