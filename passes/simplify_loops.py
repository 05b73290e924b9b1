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
from ..ir.ops.linalg import Dot
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


class HoistSequenceProducts(RewritePattern):
    """`dot(x_t, W)` in a step, x_t a sequence's row and W a non-sequence, is row t of one
    product `dot(X, W)` computed before the loop: one large product (BLAS at full speed)
    instead of n small ones, read by the step as a new sequence. A batch of rows (x_t a
    matrix) is reshaped to a matrix and back."""

    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        layout = op.layout
        args = op.body.block.args
        rows = {arg: 1 + k for k, arg in enumerate(args[: layout.sequences])}
        weights = {
            arg: layout.first_nonsequence + k for k, arg in enumerate(args[layout.first_nonsequence_arg :])
        }
        found = [
            inner
            for inner in op.body.block.ops
            if type(inner) is Dot
            and inner.operands[0] in rows
            and inner.operands[1] in weights
            and inner.operands[1].type.rank == 2
            and inner.operands[0].type.rank in (1, 2)
        ]
        if not found:
            return False
        products = []
        for inner in found:
            sequence = op.operands[rows[inner.operands[0]]]
            weight = op.operands[weights[inner.operands[1]]]
            products.append(_outer_product(rewriter, op, sequence, weight))
        _add_sequences(op, rewriter, products, [inner.results[0] for inner in found])
        rewriter.erase(op)
        return True


def _outer_product(rewriter: Rewriter, anchor: Operation, sequence: Value, weight: Value) -> Value:
    """dot of every row of `sequence` (rank 2 or 3) with `weight`, stacked."""
    from ..ir.builder import Builder

    b = Builder(anchor.parent, anchor=anchor)  # type: ignore[arg-type]
    if sequence.type.rank == 2:
        product = b.op("tx.dot", sequence, weight)
    else:
        shape = b.op("tx.shape", sequence)
        steps, batch, inner = (b.op("tx.subtensor", shape, spec=(str(k),)) for k in range(3))
        del steps
        flat = b.op("tx.reshape", sequence, inner, shape=(-1, "$"))
        columns = b.op("tx.subtensor", b.op("tx.shape", weight), spec=("1",))
        product = b.op("tx.reshape", b.op("tx.dot", flat, weight), batch, columns, shape=(-1, "$", "$"))
    for op in b.created:
        rewriter.touched.append(op)
    return product


def _add_sequences(
    op: Scan,
    rewriter: Rewriter,
    sequences: list[Value],
    replaced: list[Value],
    dropped: frozenset[int] = frozenset(),
) -> Scan:
    """The scan with `sequences` added after its own and the operands `dropped` (sequences and
    non-sequences the step does not read) removed; in the step, each `replaced[k]` (a value
    computed there) becomes the row of sequences[k]. Erasing `op` is the caller's."""
    from ..ir.clone import clone_ops
    from ..ir.core import Block, Region
    from ..ir.ops.scan import ScanLayout, argument_types

    layout, old = op.layout, op.body.block
    arg_of = _argument_operands(op)  # block argument -> operand index (None: a state tap)
    keep = [a for a in old.args if arg_of[a] is None or arg_of[a] not in dropped]
    seqs = [a for a in keep if arg_of[a] is not None and arg_of[a] <= layout.sequences]
    rest = keep[len(seqs) :]
    operands = [op.operands[0], *(op.operands[arg_of[a]] for a in seqs), *sequences]  # type: ignore[index]
    operands += op.operands[layout.first_init : layout.first_nonsequence]
    operands += [op.operands[arg_of[a]] for a in rest if arg_of[a] is not None]  # type: ignore[index]
    new_layout = ScanLayout(len(seqs) + len(sequences), layout.tap_counts, layout.taps, len(operands))
    names = [a.name for a in seqs] + [None] * len(sequences) + [a.name for a in rest]
    block = Block(argument_types(new_layout, [v.type for v in operands]), names)
    added = block.args[len(seqs) : new_layout.sequences]
    mapping: dict[Value, Value] = dict(
        zip(
            [*seqs, *replaced, *rest],
            [*block.args[: len(seqs)], *added, *block.args[new_layout.sequences :]],
            strict=True,
        )
    )
    for copy in clone_ops([o for o in old.ops if not any(r in replaced for r in o.results)], mapping):
        block.append(copy)
    attributes = {**op.attributes, "sequences": new_layout.sequences}
    attributes.pop("into", None)
    new = Scan.create(operands, attributes, [Region([block])], location=op.location)
    rewriter.insert_before(op, new)
    for result, value in zip(op.results, new.results, strict=True):
        for use in list(result.uses):
            rewriter.touched.append(use.op)
        result.replace_all_uses_with(value)
    return new


def _argument_operands(op: Scan) -> dict[Value, int | None]:
    """Each step argument's operand: a sequence's or a non-sequence's index, None for a tap."""
    layout, args = op.layout, op.body.block.args
    found: dict[Value, int | None] = {arg: 1 + k for k, arg in enumerate(args[: layout.sequences])}
    found.update((arg, None) for arg in args[layout.sequences : layout.first_nonsequence_arg])
    found.update(
        (arg, layout.first_nonsequence + k) for k, arg in enumerate(args[layout.first_nonsequence_arg :])
    )
    return found


class DropUnusedArguments(RewritePattern):
    """A sequence or non-sequence the step does not read is not passed to it."""

    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        unused = frozenset(k for arg, k in _argument_operands(op).items() if k is not None and not arg.uses)
        if not unused:
            return False
        _add_sequences(op, rewriter, [], [], unused)
        rewriter.erase(op)
        return True


LOOP_PATTERNS: list[RewritePattern] = [
    DropUnusedOutputs(),
    LastRowOnly(),
    HoistSequenceProducts(),
    DropUnusedArguments(),
]
