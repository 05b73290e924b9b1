"""One block of a reduced run (reduce_walk.py), and how reductions combine elements.

A block's float sums and products are taken in LANES explicit partial results: element
`k` of the block goes into lane `k % LANES`, in order, and the lanes are then added
pairwise (lane j with lane j + 32, then j + 16, ...). The inner loop over the lanes is an
elementwise update, which LLVM's loop vectoriser widens into vector registers without
reassociating anything (four AVX-512 accumulators for float32, the same loop LLVM made of
a reassociated sum), while the result is fixed by the IR alone: the same bits from
optimised and unoptimised code (tiered compilation, tc/tiering.py), and on every host
whatever its vector width. A run shorter than the lanes is combined in order. Filling and
folding the lanes costs a few dozen cycles a block: sums of 400,000 float32 in cache
measured 5-10% slower than the reassociated loop, sums in memory and softmax rows the
same. Other reductions (integers, max and min, whose result does not depend on the
order) are left to LLVM to reassociate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from ..ir import DType
from . import llvm_ir as ll
from .control import counted_loop
from .register_tile import register_file_bytes
from .scalar import ScalarEmitter
from .types import F64, I32, I64, register_type

LANES = 64  # 4 AVX-512 float32 vectors, 8 float64 ones: as many partial sums as LLVM kept


def in_lanes(kind: str, dtype: DType) -> bool:
    """Whether a block of a `kind` reduction in `dtype` is taken in explicit lanes: where
    the order of the additions (or multiplications) changes the result."""
    return kind in ("sum", "mean", "prod") and dtype.is_float


def lane_slots(b: ll.IRBuilder, dtypes: list[DType]) -> list[ll.Value]:
    """Each member's LANES partial results, in the entry block."""
    entry = b.function.entry_basic_block
    at_start = ll.IRBuilder(entry)
    at_start.position_at_start(entry)
    return [at_start.alloca(ll.ArrayType(register_type(d), LANES)) for d in dtypes]


def lane_block(
    e: ScalarEmitter,
    kinds: list[str],
    dtypes: list[DType],
    lanes: list[ll.Value],
    span: tuple[ll.Value, ll.Value],
    elements: Callable[[ll.Value], list[ll.Value]],
    hints: dict[str, int] | None = None,
) -> list[ll.Value]:
    """Each member's combination of the elements [start, stop) of `span` (`elements(i)`:
    every member's element i, in its accumulator's dtype), taken in `lanes`; `hints`: the
    loop options of the last, partial round of lanes (short runs)."""
    b = e.b
    start, stop = span
    members = list(zip(kinds, dtypes, lanes, strict=True))
    function, first_block = b.function, len(b.function.blocks) - 1
    first_instruction = len(b.block.instructions)
    lane_pointers: set[int] = set()

    def lane(slot: ll.Value, j: ll.Value) -> ll.Value:
        pointer = b.gep(slot, [I64(0), j])
        lane_pointers.add(id(pointer))
        return pointer

    def add(i: ll.Value, j: ll.Value, only: int | None = None) -> None:
        """Element i into lane j of every member's lanes, or of member `only`'s."""
        for index, ((kind, dtype, slot), value) in enumerate(zip(members, elements(i), strict=True)):
            if only is None or index == only:
                b.store(combine(e, kind, dtype, b.load(lane(slot, j)), value), lane(slot, j))

    vectors = [
        b.bitcast(slot, ll.VectorType(register_type(d), LANES).as_pointer())
        for d, slot in zip(dtypes, lanes, strict=True)
    ]
    # A run shorter than the lanes (a softmax's rows of ten) is combined in order in lane 0:
    # filling and folding 64 lanes cost more than the run itself.
    with b.if_else(b.icmp_unsigned("<", b.sub(stop, start), I64(LANES))) as (short, long):
        with short:
            for kind, dtype, slot in members:
                b.store(identity(kind, dtype), lane(slot, I64(0)))
            with counted_loop(b, stop, "lanes.short", start=start) as i:
                add(i, I64(0))
        with long:
            _lanes_in_order(e, members, vectors, span, add, hints, lane_pointers)
    results = [b.load(lane(slot, I64(0))) for _, _, slot in members]
    emitted = [i for block in function.blocks[first_block:] for i in block.instructions]
    _mark_lanes_apart(b.module, emitted[first_instruction:], lane_pointers)
    return results


def _lanes_in_order(
    e: ScalarEmitter,
    members: list[tuple[str, DType, ll.Value]],
    vectors: list[ll.Value],
    span: tuple[ll.Value, ll.Value],
    add: Callable[[ll.Value, ll.Value, int | None], None],
    hints: dict[str, int] | None,
    lane_pointers: set[int],
) -> None:
    """Element k of the span into lane k % LANES, then the lanes folded pairwise into lane 0.
    Several members take the span together where their lanes fill at most half the vector
    registers (AVX-512: the L1 and L2 norms of a 784 x 500 float32 matrix, 23.5 -> 20.5 us),
    else one after another (its second reading hits the L1 cache): two float32 members
    in AVX2's registers spilled, and took 2.4x the time of one."""
    b = e.b
    start, stop = span
    for (kind, dtype, _), vector in zip(members, vectors, strict=True):
        start_value = identity(kind, dtype)
        # Sums start from the null vector (zeroinitializer): the same bits in half the text.
        lanes = None if start_value.constant == 0 else [start_value] * LANES
        b.store(ll.Constant(vector.type.pointee, lanes), vector, align=dtype.itemsize)
    rounds = b.udiv(b.sub(stop, start), I64(LANES))
    whole = b.add(start, b.mul(rounds, I64(LANES)))
    lane_bytes = sum(LANES * dtype.itemsize for _, dtype, _ in members)
    together = len(members) == 1 or 2 * lane_bytes <= register_file_bytes()
    for only in [None] if together else range(len(members)):
        with counted_loop(b, rounds, "lanes.round") as r:
            base = b.add(start, b.mul(r, I64(LANES)))
            with counted_loop(b, I64(LANES), "lanes", hints={"llvm.loop.interleave.count": 4}) as j:
                add(b.add(base, j), j, only)
    with counted_loop(b, stop, "lanes.rest", start=whole, hints=hints) as i:
        add(i, b.sub(i, whole), None)
    for (kind, dtype, slot), vector in zip(members, vectors, strict=True):
        # Pairwise, as whole vectors: lanes j and j + width for width 32, 16, ..., 1.
        folded = b.load(vector, align=dtype.itemsize)  # the array's alignment, not a vector's
        lane_pointers.add(id(vector))
        width = LANES // 2
        while width:
            low_lanes, high_lanes = _halves(width)
            low = b.shuffle_vector(folded, folded, low_lanes)
            high = b.shuffle_vector(folded, folded, high_lanes)
            folded = combine(e, kind, dtype, low, high)
            width //= 2
        pointer = b.gep(slot, [I64(0), I64(0)])
        lane_pointers.add(id(pointer))
        b.store(b.extract_element(folded, I32(0)), pointer)


@functools.cache
def _halves(width: int) -> tuple[ll.Constant, ll.Constant]:
    """The shuffle masks of a vector's low and high `width` lanes, made once: a mask is 32
    constants, and each new one was printed lane by lane again."""
    lanes = ll.VectorType(I32, width)
    return ll.Constant(lanes, list(range(width))), ll.Constant(lanes, list(range(width, 2 * width)))


def _mark_lanes_apart(module: ll.Module, instructions: list[ll.Instruction], lanes: set[int]) -> None:
    """Tell LLVM that the lanes' loads and stores touch no memory the block's other loads and
    stores do (scoped alias metadata): without it, the vectoriser guarded the lanes loop with
    a run-time overlap check against the operands and kept the lanes in memory."""
    domain = _Distinct(module, [])
    scope = _Distinct(module, [domain])
    scopes = module.add_metadata([scope])
    for instruction in instructions:
        if isinstance(instruction, ll.LoadInstr):
            pointer = instruction.operands[0]
        elif isinstance(instruction, ll.StoreInstr):
            pointer = instruction.operands[1]
        else:
            continue
        instruction.set_metadata("alias.scope" if id(pointer) in lanes else "noalias", scopes)


class _Distinct(ll.values.MDValue):
    """A distinct metadata node whose first operand is itself (alias domains and scopes),
    which the uniqued `add_metadata` nodes cannot express."""

    def __init__(self, module: ll.Module, operands: list[ll.values.MDValue]) -> None:
        super().__init__(module, operands, name=str(len(module.metadata)))

    def descr(self, buf: list[str]) -> None:
        refs = ", ".join([self.get_reference(), *(op.get_reference() for op in self.operands)])
        buf += (f"distinct !{{ {refs} }}", "\n")

    __hash__ = object.__hash__


def identity(kind: str, dtype: DType) -> ll.Constant:
    ty = register_type(dtype)
    if kind in ("sum", "mean"):
        return ll.Constant(ty, 0.0 if dtype.is_float else 0)
    if kind == "prod":
        return ll.Constant(ty, 1.0 if dtype.is_float else 1)
    largest = kind in ("min", "argmin")  # start from the far end of the ordering
    if dtype.is_float:
        return ll.Constant(ty, float("inf") if largest else float("-inf"))
    if dtype.is_bool:
        return ll.Constant(ty, int(largest))
    info = np.iinfo(dtype.numpy)
    return ll.Constant(ty, int(info.max if largest else info.min))


def combine(
    e: ScalarEmitter, kind: str, dtype: DType, acc: ll.Value, value: ll.Value, reassociate: bool = False
) -> ll.Value:
    """`acc` combined with `value`; `reassociate`: LLVM may reorder a run of them (never
    for float sums and products, see the module's docstring)."""
    b = e.b
    if kind in ("sum", "mean", "prod") and dtype.is_float:
        return b.fadd(acc, value) if kind != "prod" else b.fmul(acc, value)
    if kind in ("sum", "mean"):
        return b.add(acc, value)
    if kind == "prod":
        return b.mul(acc, value)
    if reassociate and dtype.is_float:
        # IEEE maximum/minimum propagate nan as numpy does, and LLVM vectorises their
        # reductions; the select of `better` it does not (rows of 64: 1.7 ns an element).
        name = f"llvm.{'maximum' if kind == 'max' else 'minimum'}"
        extremum = b.module.declare_intrinsic(name, [acc.type], ll.FunctionType(acc.type, [acc.type] * 2))
        return b.call(extremum, [acc, value])
    take = better(e, "argmax" if kind == "max" else "argmin", dtype, value, acc)
    return b.select(take, value, acc)


def better(e: ScalarEmitter, kind: str, dtype: DType, value: ll.Value, best: ll.Value) -> ll.Value:
    """Whether `value` replaces `best`: strictly better, or the first nan (which then stays)."""
    b = e.b
    strictly = e.cmp(dtype, ">" if kind == "argmax" else "<", value, best)
    if not dtype.is_float:
        return strictly
    first_nan = b.and_(e.isnan(value), b.not_(e.isnan(best)))
    return b.and_(b.or_(strictly, first_nan), b.not_(e.isnan(best)))


def add_compensated(b: ll.IRBuilder, total: ll.Value, error: ll.Value, value: ll.Value) -> None:
    """total += value, keeping the rounding error of the addition in `error` (Neumaier's
    variant of Kahan's summation, right whichever of the two is larger)."""
    before = b.load(total)
    after = b.fadd(before, value)
    fabs = b.module.declare_intrinsic("llvm.fabs", [F64])
    larger = b.fcmp_ordered(">=", b.call(fabs, [before]), b.call(fabs, [value]))
    lost = b.select(larger, b.fadd(b.fsub(before, after), value), b.fadd(b.fsub(value, after), before))
    b.store(b.fadd(b.load(error), lost), error)
    b.store(after, total)


def wide_dtype(kind: str, dtype: DType) -> DType:
    """Where block partials of a `kind` reduction in `dtype` are added up: float sums in
    float64 (a float32 total of many blocks loses digits as the total grows)."""
    return DType.F64 if kind in ("sum", "mean") and dtype.is_float else dtype
