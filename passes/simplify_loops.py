"""Canonicalization patterns for loops: a scan computes only what is used.

- An output that is not fed back (Theano's None in outputs_info) and that nothing uses is
  dropped: the step stops returning it, and the ops that computed it are dead (the gradient
  of a scan computes every sequence's gradient; most are not asked for).
- A state whose stacked values are used only through their last row (`hs[-1]`) becomes
  `last_only`: the loop keeps two rows of it instead of all n. (Where the scan runs no step,
  `hs[-1]` then gives the initial value instead of failing on an empty axis.)

Both rebuild the tx.scan around the same step region.
"""

from __future__ import annotations

from ..ir import Operation, Value
from ..ir.ops.builtin import Return
from ..ir.ops.scan import Scan
from ..ir.ops.shape import Subtensor
from .rewrite import RewritePattern, Rewriter


class DropUnusedOutputs(RewritePattern):
    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        states = op.layout.states
        unused = [k for k in range(states, len(op.results)) if not op.results[k].uses]
        if not unused:
            return False
        keep = [k for k in range(len(op.results)) if k not in unused]
        _rebuild(op, rewriter, keep, op.last_only)
        rewriter.erase(op)
        return True


class LastRowOnly(RewritePattern):
    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        layout = op.layout
        found = [
            k
            for k in range(layout.states)
            if k not in op.last_only
            and layout.state_taps(k) == (-1,)
            and op.results[k].uses
            and all(_is_last_row(use.op) for use in op.results[k].uses)
        ]
        if not found:
            return False
        last_rows = {k: [use.op for use in op.results[k].uses] for k in found}
        new = _rebuild(op, rewriter, list(range(len(op.results))), tuple(sorted({*op.last_only, *found})))
        for k, readers in last_rows.items():
            for reader in readers:
                rewriter.replace_op(reader, [new.results[k]])
        rewriter.erase(op)
        return True


def _is_last_row(op: Operation) -> bool:
    return type(op) is Subtensor and op.attributes.get("spec") == ("-1",) and len(op.operands) == 1


def _rebuild(op: Scan, rewriter: Rewriter, keep: list[int], last_only: tuple[int, ...]) -> Scan:
    """The scan returning results `keep` (states first, all of them), with `last_only`; its
    results replace the old ones where the types agree (the caller replaces the others' uses,
    then erases `op`)."""
    region = op.regions[0]
    ret = region.block.terminator
    assert ret is not None
    if len(keep) != len(ret.operands):
        region.block.insert_before(ret, Return.create([ret.operands[k] for k in keep]))
        ret.erase()
    op.regions = []  # the region moves to the new op; erasing the old one must not touch it
    attributes = {**op.attributes, "last_only": last_only}
    attributes.pop("into", None)
    new = Scan.create(list(op.operands), attributes, [region], location=op.location)
    rewriter.insert_before(op, new)
    old_results: list[Value] = [op.results[k] for k in keep]
    for old, result in zip(old_results, new.results, strict=True):
        if old.type == result.type:
            for use in list(old.uses):
                rewriter.touched.append(use.op)
            old.replace_all_uses_with(result)
    return new


LOOP_PATTERNS: list[RewritePattern] = [DropUnusedOutputs(), LastRowOnly()]
