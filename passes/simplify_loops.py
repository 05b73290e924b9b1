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

from typing import TYPE_CHECKING, Any

from ..ir import Operation, Value
from ..ir.ops.binary import Add, Mul
from ..ir.ops.builtin import Return
from ..ir.ops.linalg import Dot
from ..ir.ops.reduce import Reduce
from ..ir.ops.scan import Scan
from ..ir.ops.shape import Subtensor
from ..ir.ops.views import DimShuffle
from .rewrite import RewritePattern, Rewriter

if TYPE_CHECKING:
    from ..ir.builder import Builder
    from ..ir.core import Block


class DropUnusedOutputs(RewritePattern):
    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        states = op.layout.states
        # until's step count stays with its stop condition: without it the loop runs n steps.
        outputs = len(op.results) - (1 if op.until else 0)
        unused = [k for k in range(states, outputs) if not op.results[k].uses]
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
        if op.until:  # a scan that may stop early keeps every row (ir/ops/scan.py)
            return False
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
    """`dot(x_t, W)` in a step, x_t a vector (a sequence's row) and W a non-sequence, is row t
    of one product `dot(X, W)` computed before the loop: one large product (BLAS at full
    speed) instead of n matrix-vector products, each reading all of W, read by the step as a
    new sequence.

    A batch of rows (x_t a matrix) keeps its product in the step, where it is a small
    matrix product over W held in cache: hoisted, the stacked products are an array of
    n x batch x columns written before the loop and read back in it (16 MiB for the
    batch-32 RNN of bench/scan.py, whose forward took 10.9 ms hoisted and 6.0-6.7 ms not;
    at a batch of 2 hoisting was faster, 4.0-4.3 ms against 5.2)."""

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
            and inner.operands[0].type.rank == 1
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
    """dot of every row of the matrix `sequence` with `weight`, stacked."""
    from ..ir.builder import Builder

    b = Builder(anchor.parent, anchor=anchor)  # type: ignore[arg-type]
    product = b.op("tx.dot", sequence, weight)
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
    from ..ir.core import Block
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
    return replace_scan(op, rewriter, operands, {**op.attributes, "sequences": new_layout.sequences}, block)


def replace_scan(
    op: Scan, rewriter: Rewriter, operands: list[Value], attributes: dict[str, Any], block: Block
) -> Scan:
    """A scan of `operands` around the step `block`, before `op`, whose results replace op's
    (same count and order); erasing `op` is the caller's."""
    from ..ir.core import Region

    rewriter.touched.extend(block.ops)
    attributes = dict(attributes)
    attributes.pop("into", None)  # the buffer plan's, made again for the new scan
    new = Scan.create(operands, attributes, [Region([block])], location=op.location)
    rewriter.insert_before(op, new)
    for result, value in zip(op.results, new.results, strict=True):
        _replace(rewriter, result, value)
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


class AccumulateAfterLoop(RewritePattern):
    """A state that only accumulates, `acc' = acc + v` with nothing else reading acc (the
    gradient of a non-sequence, summed over the steps), is summed after the loop instead: the
    step returns what v is made of, stacked, and the sum is one reduction or one product. For
    an outer product a_t d_t^T (a weight's gradient at batch 1) or a_t^T d_t (batched), the
    sum over t is A^T D: one large BLAS product instead of n small ones, and the loop no longer
    reads and writes the whole accumulator at every step."""

    op_names = frozenset({Scan.name})

    def match_and_rewrite(self, op: Operation, rewriter: Rewriter) -> bool:
        assert isinstance(op, Scan)
        plans = {k: plan for k in op.last_only if (plan := _accumulation(op, k)) is not None}
        if not plans:
            return False
        _sum_after_loop(op, rewriter, plans)
        rewriter.erase(op)
        return True


def _accumulation(op: Scan, k: int) -> tuple[str, list[Value]] | None:
    """How state k accumulates: ("outer", [a, d]) for acc + a d^T, ("product", [a, d]) for
    acc + a^T d, ("rows", [d]) for acc + sum(d, axis=0), ("sum", [v]) for acc + v with v at
    most a vector; None otherwise."""
    layout = op.layout
    if layout.state_taps(k) != (-1,):
        return None
    block = op.body.block
    arg = block.args[layout.first_state_arg + sum(layout.tap_counts[:k])]
    value = block.terminator.operands[k]  # type: ignore[union-attr]
    add = value.owner
    if type(add) is not Add or len(arg.uses) != 1 or len(value.uses) != 1 or arg not in add.operands:
        return None
    v = add.operands[1] if add.operands[0] is arg else add.operands[0]
    if v is arg or v.type != value.type:
        return None
    source = v.owner
    if type(source) is Mul and all(type(o.owner) is DimShuffle for o in source.operands):
        left, right = (o.owner for o in source.operands)
        if left.pattern == (0, -1) and right.pattern == (-1, 0) and left.operands[0].type.rank == 1:
            return "outer", [left.operands[0], right.operands[0]]
    if type(source) is Dot and type(source.operands[0].owner) is DimShuffle:
        transpose = source.operands[0].owner
        if transpose.pattern == (1, 0) and source.operands[1].type.rank == 2:
            return "product", [transpose.operands[0], source.operands[1]]
    if v.type.rank <= 1:
        rows = _rows_summed(v)
        return ("rows", [rows]) if rows is not None else ("sum", [v])
    return None


def _rows_summed(v: Value) -> Value | None:
    """d where v = sum(d, axis=0), d a matrix (a bias's gradient over a batch): the loop then
    returns d (stacked, often already returned for the weight's gradient) instead of
    reducing over the batch at every step, which keeps the step's rows apart (ir/scan_rows.py)."""
    reduce, pattern = v.owner, None
    if type(reduce) is DimShuffle:
        pattern, reduce = reduce.pattern, reduce.operands[0].owner
    if type(reduce) is not Reduce or reduce.kind != "sum" or reduce.axes != (0,):
        return None
    d = reduce.operands[0]
    if d.type.rank != 2 or reduce.keepdims != (pattern == (1,)) or v.type.rank != 1:
        return None
    return d


def _sum_after_loop(op: Scan, rewriter: Rewriter, plans: dict[int, tuple[str, list[Value]]]) -> None:
    """The scan without the accumulating states of `plans`, returning their parts stacked; each
    accumulator's final value is its initial row plus the sum of its parts, after the loop."""
    from ..ir.builder import Builder
    from ..ir.clone import clone_ops
    from ..ir.core import Block, Region
    from ..ir.ops.scan import ScanLayout, argument_types

    layout, old = op.layout, op.body.block
    ret = old.terminator
    assert ret is not None
    kept = [k for k in range(layout.states) if k not in plans]
    state_args, position = [], layout.first_state_arg
    for count in layout.tap_counts:
        state_args.append(old.args[position : position + count])
        position += count
    inits = op.operands[layout.first_init : layout.first_nonsequence]
    operands = [*op.operands[: layout.first_init], *(inits[k] for k in kept)]
    operands += op.operands[layout.first_nonsequence :]
    taps = tuple(t for k in kept for t in layout.state_taps(k))
    counts = tuple(layout.tap_counts[k] for k in kept)
    arguments = [*old.args[: layout.sequences], *(a for k in kept for a in state_args[k])]
    arguments += old.args[layout.first_nonsequence_arg :]
    new_layout = ScanLayout(layout.sequences, counts, taps, len(operands))
    block = Block(argument_types(new_layout, [v.type for v in operands]), [a.name for a in arguments])
    mapping: dict[Value, Value] = dict(zip(arguments, block.args, strict=True))
    adds = {ret.operands[k].owner for k in plans}
    for copy in clone_ops([o for o in old.ops[:-1] if o not in adds], mapping):
        block.append(copy)
    # A part that is a sequence's row is that sequence itself (its first n rows): not stacked again.
    rows_of = {arg: 1 + k for k, arg in enumerate(old.args[: layout.sequences])}
    # Each part once, however many accumulators use it (a delta feeds a weight's and a bias's).
    extra = list(dict.fromkeys(v for k in sorted(plans) for v in plans[k][1] if v not in rows_of))
    returned = [ret.operands[k] for k in kept] + list(ret.operands[layout.states :]) + extra
    block.append(Return.create([mapping.get(v, v) for v in returned]))
    rewriter.touched.extend(block.ops)  # what the parts no longer need is dead: revisit it
    last_only = tuple(kept.index(k) for k in op.last_only if k not in plans)
    attributes = {**op.attributes, "taps": taps, "tap_counts": counts, "last_only": last_only}
    attributes.pop("into", None)
    new = Scan.create(operands, attributes, [Region([block])], location=op.location)
    rewriter.insert_before(op, new)
    results = iter(new.results)
    for old_result in [*(op.results[k] for k in kept), *op.results[layout.states :]]:
        _replace(rewriter, old_result, next(results))
    b = Builder(op.parent, anchor=op)  # type: ignore[arg-type]
    stacked = dict(zip(extra, results, strict=True))
    for v in {v for k in plans for v in plans[k][1] if v in rows_of}:
        stacked[v] = b.op("tx.subtensor", op.operands[rows_of[v]], op.operands[0], spec=(":$",))
    for k in sorted(plans):
        kind, parts = plans[k]
        total = _total_of(b, kind, [stacked[v] for v in parts])
        final = b.op("tx.add", b.op("tx.subtensor", inits[k], spec=("0",)), total)
        _replace(rewriter, op.results[k], b.retype(final, op.results[k].type))
    rewriter.touched.extend(b.created)


def _total_of(b: Builder, kind: str, stacks: list[Value]) -> Value:
    """The sum over the steps of what an accumulator added, from its stacked parts."""
    if kind in ("sum", "rows"):
        return b.reduce("sum", stacks[0], [0] if kind == "sum" else [0, 1], keepdims=False)
    a, d = stacks
    if kind == "product":  # rows of every step's batch together
        a, d = _rows_of_batches(b, a), _rows_of_batches(b, d)
    return b.op("tx.dot", b.dimshuffle(a, [1, 0]), d)


def _rows_of_batches(b: Builder, stacked: Value) -> Value:
    """(n, batch, k) as (n * batch, k). The row count is given, not inferred (-1): with k = 0
    it cannot be inferred."""
    shape = b.op("tx.shape", stacked)
    steps, batch, columns = (b.op("tx.subtensor", shape, spec=(str(axis),)) for axis in range(3))
    return b.op("tx.reshape", stacked, b.op("tx.mul", steps, batch), columns, shape=("$", "$"))


def _replace(rewriter: Rewriter, old: Value, new: Value) -> None:
    for use in list(old.uses):
        rewriter.touched.append(use.op)
    old.replace_all_uses_with(new)


LOOP_PATTERNS: list[RewritePattern] = [
    DropUnusedOutputs(),
    LastRowOnly(),
    HoistSequenceProducts(),
    DropUnusedArguments(),
    AccumulateAfterLoop(),
]
