"""The pass manager verifies the IR its passes leave: after every pass (`tc opt`'s default,
naming the pass that broke it) or once after the last (tc.function's pipelines)."""

from __future__ import annotations

import pytest

from tc.ir import Function, parse_module
from tc.passes import PassManager, TcPassError, parse_pipeline
from tc.passes.manager import Pass

IR = """module {
  func @f(%x: tensor<?xf64>) -> tensor<?xf64> {
    %y = tx.exp %x : tensor<?xf64>
    %z = tx.sin %y : tensor<?xf64>
    return %z : tensor<?xf64>
  }
}
"""


class _FirstOpLast(Pass):
    """Moves the first op of each function after its users (a broken pass)."""

    name = "first-op-last"

    def run_on_function(self, function: Function) -> None:
        ops = function.body.ops
        ops.insert(len(ops) - 1, ops.pop(0))


@pytest.mark.parametrize("verify_each", [True, False])
def test_a_pass_that_breaks_the_ir_is_reported(verify_each: bool) -> None:
    passes = [*parse_pipeline("cse"), _FirstOpLast(), *parse_pipeline("canonicalize")]
    with pytest.raises(TcPassError) as raised:
        PassManager(passes, verify_each=verify_each).run(parse_module(IR))
    if verify_each:
        assert "pass 'first-op-last' produced invalid IR" in str(raised.value)
    else:
        assert "the pipeline 'cse,first-op-last,canonicalize' produced invalid IR" in str(raised.value)
        assert "--verify-each" in str(raised.value)


def test_a_sound_pipeline_verifies_once() -> None:
    module = parse_module(IR)
    PassManager(parse_pipeline("cse,canonicalize"), verify_each=False).run(module)
    assert [op.name for op in module.functions[0].body.ops] == ["tx.exp", "tx.sin", "return"]
