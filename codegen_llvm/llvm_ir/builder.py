"""IRBuilder: appends instructions to a block, as llvmlite.ir.IRBuilder does (the same
methods and arguments, so tc's lowering reads as it did)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import instructions as li
from .types import FunctionType, IntType, LiteralStructType, Type, VectorType
from .values import Block, Constant, Function, Value

_COMPARISONS = {">": "gt", "<": "lt", "==": "eq", "!=": "ne", ">=": "ge", "<=": "le"}
_I1 = IntType(1)
_I32 = IntType(32)


class IRBuilder:
    def __init__(self, block: Block | None = None) -> None:
        self._block: Block = block  # type: ignore[assignment]
        self._anchor = len(block.instructions) if block is not None else 0

    @property
    def block(self) -> Any:
        return self._block

    @property
    def function(self) -> Function:
        return self._block.parent

    @property
    def module(self) -> Any:
        return self._block.parent.parent

    # --- where instructions go -------------------------------------------------------------

    def position_at_start(self, block: Block) -> None:
        self._block, self._anchor = block, 0

    def position_at_end(self, block: Block) -> None:
        self._block, self._anchor = block, len(block.instructions)

    def position_before(self, instruction: li.Instruction) -> None:
        self._block = instruction.parent
        self._anchor = self._block.instructions.index(instruction)

    def append_basic_block(self, name: str = "") -> Any:
        return self.function.append_basic_block(name)

    @contextmanager
    def goto_block(self, block: Block) -> Iterator[None]:
        """Emit at the end of `block` (before its terminator), then come back to the end of the
        block the builder was in."""
        old = self._block
        if block.terminator is not None:
            self.position_before(block.terminator)
        else:
            self.position_at_end(block)
        try:
            yield
        finally:
            self.position_at_end(old)

    @contextmanager
    def goto_entry_block(self) -> Iterator[None]:
        with self.goto_block(self.function.blocks[0]):
            yield

    @contextmanager
    def _branch_helper(self, enter: Block, exit: Block) -> Iterator[Block]:
        self.position_at_end(enter)
        yield exit
        if self._block.terminator is None:
            self.branch(exit)

    @contextmanager
    def if_then(self, predicate: Value, likely: bool | None = None) -> Iterator[Block]:
        name = self._block.name
        then = self.append_basic_block(_suffixed(name, ".if"))
        end = self.append_basic_block(_suffixed(name, ".endif"))
        branch = self.cbranch(predicate, then, end)
        if likely is not None:
            branch.set_weights([99, 1] if likely else [1, 99])
        with self._branch_helper(then, end):
            yield end
        self.position_at_end(end)

    @contextmanager
    def if_else(self, predicate: Value, likely: bool | None = None) -> Iterator[tuple[Any, Any]]:
        name = self._block.name
        then = self.append_basic_block(_suffixed(name, ".if"))
        otherwise = self.append_basic_block(_suffixed(name, ".else"))
        end = self.append_basic_block(_suffixed(name, ".endif"))
        branch = self.cbranch(predicate, then, otherwise)
        if likely is not None:
            branch.set_weights([99, 1] if likely else [1, 99])
        yield self._branch_helper(then, end), self._branch_helper(otherwise, end)
        self.position_at_end(end)

    def _insert(self, instruction: Any) -> Any:
        block = self._block
        if self._anchor == len(block.instructions):
            block.instructions.append(instruction)
        else:
            block.instructions.insert(self._anchor, instruction)
        self._anchor += 1
        return instruction

    def _terminate(self, terminator: Any) -> Any:
        assert self._block.terminator is None, "the block is already terminated"
        self._insert(terminator)
        self._block.terminator = terminator
        return terminator

    # --- arithmetic ------------------------------------------------------------------------

    def _binary(self, opname: str, lhs: Value, rhs: Value, name: str, flags: Any) -> Any:
        if lhs.type is not rhs.type and lhs.type != rhs.type:
            raise ValueError(f"Operands must be the same type, got ({lhs.type}, {rhs.type})")
        return self._insert(li.BinaryInstr(self._block, lhs.type, opname, (lhs, rhs), name, flags))

    def add(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("add", lhs, rhs, name, flags)

    def sub(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("sub", lhs, rhs, name, flags)

    def mul(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("mul", lhs, rhs, name, flags)

    def sdiv(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("sdiv", lhs, rhs, name, flags)

    def udiv(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("udiv", lhs, rhs, name, flags)

    def srem(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("srem", lhs, rhs, name, flags)

    def urem(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("urem", lhs, rhs, name, flags)

    def shl(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("shl", lhs, rhs, name, flags)

    def lshr(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("lshr", lhs, rhs, name, flags)

    def ashr(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("ashr", lhs, rhs, name, flags)

    def and_(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("and", lhs, rhs, name, flags)

    def or_(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("or", lhs, rhs, name, flags)

    def xor(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("xor", lhs, rhs, name, flags)

    def fadd(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("fadd", lhs, rhs, name, flags)

    def fsub(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("fsub", lhs, rhs, name, flags)

    def fmul(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("fmul", lhs, rhs, name, flags)

    def fdiv(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("fdiv", lhs, rhs, name, flags)

    def frem(self, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._binary("frem", lhs, rhs, name, flags)

    def fneg(self, value: Value, name: str = "", flags: Any = ()) -> Any:
        return self._insert(li.Instruction(self._block, value.type, "fneg", (value,), name, flags))

    def not_(self, value: Value, name: str = "") -> Any:
        count = value.type.count if isinstance(value.type, VectorType) else None
        return self.xor(value, Constant(value.type, -1 if count is None else (-1,) * count), name)

    def neg(self, value: Value, name: str = "") -> Any:
        return self.sub(Constant(value.type, 0), value, name)

    def smul_with_overflow(self, lhs: Value, rhs: Value, name: str = "") -> Any:
        """{result, overflowed} of the signed product (llvm.smul.with.overflow)."""
        if lhs.type != rhs.type or not isinstance(lhs.type, IntType):
            raise TypeError(f"expected two operands of one integer type, got {lhs.type} and {rhs.type}")
        ty = lhs.type
        function_type = FunctionType(LiteralStructType([ty, _I1]), [ty, ty])
        intrinsic = self.module.declare_intrinsic("llvm.smul.with.overflow", [ty], function_type)
        return self.call(intrinsic, [lhs, rhs], name=name)

    # --- comparisons and selection ------------------------------------------------------------

    def _compare(self, opname: str, op: str, lhs: Value, rhs: Value, name: str, flags: Any = ()) -> Any:
        return self._insert(li.CompareInstr(self._block, opname, op, lhs, rhs, name, flags))

    def icmp_signed(self, cmpop: str, lhs: Value, rhs: Value, name: str = "") -> Any:
        op = _COMPARISONS[cmpop]
        return self._compare("icmp", op if cmpop in ("==", "!=") else "s" + op, lhs, rhs, name)

    def icmp_unsigned(self, cmpop: str, lhs: Value, rhs: Value, name: str = "") -> Any:
        op = _COMPARISONS[cmpop]
        return self._compare("icmp", op if cmpop in ("==", "!=") else "u" + op, lhs, rhs, name)

    def fcmp_ordered(self, cmpop: str, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        op = "o" + _COMPARISONS[cmpop] if cmpop in _COMPARISONS else cmpop
        return self._compare("fcmp", op, lhs, rhs, name, flags)

    def fcmp_unordered(self, cmpop: str, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        op = "u" + _COMPARISONS[cmpop] if cmpop in _COMPARISONS else cmpop
        return self._compare("fcmp", op, lhs, rhs, name, flags)

    def select(self, cond: Value, lhs: Value, rhs: Value, name: str = "", flags: Any = ()) -> Any:
        return self._insert(li.SelectInstr(self._block, cond, lhs, rhs, name, flags))

    # --- casts -----------------------------------------------------------------------------

    def _cast(self, opname: str, value: Value, type: Type, name: str) -> Any:
        if value.type is type or value.type == type:
            return value
        return self._insert(li.CastInstr(self._block, opname, value, type, name))

    def trunc(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("trunc", value, type, name)

    def zext(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("zext", value, type, name)

    def sext(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("sext", value, type, name)

    def fptrunc(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("fptrunc", value, type, name)

    def fpext(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("fpext", value, type, name)

    def bitcast(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("bitcast", value, type, name)

    def fptosi(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("fptosi", value, type, name)

    def sitofp(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("sitofp", value, type, name)

    def uitofp(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("uitofp", value, type, name)

    def ptrtoint(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("ptrtoint", value, type, name)

    def inttoptr(self, value: Value, type: Type, name: str = "") -> Any:
        return self._cast("inttoptr", value, type, name)

    # --- memory ----------------------------------------------------------------------------

    def alloca(self, type: Type, size: Any = None, name: str = "") -> Any:
        if size is not None and not isinstance(size, Value):
            size = Constant(_I32, size)
        return self._insert(li.AllocaInstr(self._block, type, size, name))

    def load(self, pointer: Value, name: str = "", align: int | None = None, typ: Type | None = None) -> Any:
        if not pointer.type.is_pointer:
            raise TypeError(f"cannot load from value of type {pointer.type}: not a pointer")
        load = li.LoadInstr(self._block, pointer, name, typ)
        load.align = align
        return self._insert(load)

    def store(self, value: Value, pointer: Value, align: int | None = None) -> Any:
        pointee = getattr(pointer.type, "pointee", None)
        if pointee is None:
            raise TypeError(f"cannot store to value of type {pointer.type}: not a pointer")
        if pointee is not value.type and pointee != value.type:
            raise TypeError(f"cannot store {value.type} to {pointer.type}: mismatching types")
        store = li.StoreInstr(self._block, value, pointer)
        store.align = align
        return self._insert(store)

    def load_atomic(self, pointer: Value, ordering: str, align: int, name: str = "") -> Any:
        return self._insert(li.LoadAtomicInstr(self._block, pointer, ordering, align, name))

    def store_atomic(self, value: Value, pointer: Value, ordering: str, align: int) -> Any:
        if getattr(pointer.type, "pointee", None) != value.type:
            raise TypeError(f"cannot store {value.type} to {pointer.type}: mismatching types")
        return self._insert(li.StoreAtomicInstr(self._block, value, pointer, ordering, align))

    def gep(self, pointer: Value, indices: Any, inbounds: bool = False, name: str = "") -> Any:
        return self._insert(li.GEPInstr(self._block, pointer, indices, inbounds, name))

    def atomic_rmw(self, op: str, pointer: Value, value: Value, ordering: str, name: str = "") -> Any:
        return self._insert(li.AtomicRMW(self._block, op, pointer, value, ordering, name))

    def cmpxchg(
        self,
        pointer: Value,
        cmp: Value,
        value: Value,
        ordering: str,
        failordering: str | None = None,
        name: str = "",
    ) -> Any:
        fail = ordering if failordering is None else failordering
        return self._insert(li.CmpXchg(self._block, pointer, cmp, value, ordering, fail, name))

    # --- vectors and aggregates ---------------------------------------------------------------

    def extract_element(self, vector: Value, index: Value, name: str = "") -> Any:
        element = vector.type.element  # type: ignore[attr-defined]
        return self._insert(
            li.VectorElementInstr(self._block, element, "extractelement", (vector, index), name)
        )

    def insert_element(self, vector: Value, value: Value, index: Value, name: str = "") -> Any:
        operands = (vector, value, index)
        return self._insert(li.VectorElementInstr(self._block, vector.type, "insertelement", operands, name))

    def shuffle_vector(self, first: Value, second: Value, mask: Constant, name: str = "") -> Any:
        return self._insert(li.ShuffleVector(self._block, first, second, mask, name))

    def extract_value(self, aggregate: Value, index: Any, name: str = "") -> Any:
        indices = list(index) if isinstance(index, (tuple, list)) else [index]
        return self._insert(li.ExtractValue(self._block, aggregate, indices, name))

    def insert_value(self, aggregate: Value, value: Value, index: Any, name: str = "") -> Any:
        indices = list(index) if isinstance(index, (tuple, list)) else [index]
        return self._insert(li.InsertValue(self._block, aggregate, value, indices, name))

    # --- control ---------------------------------------------------------------------------

    def phi(self, type: Type, name: str = "", flags: Any = ()) -> Any:
        return self._insert(li.PhiInstr(self._block, type, name, flags))

    def call(self, function: Any, args: Any, name: str = "", **options: Any) -> Any:
        """`function`(args); options as llvmlite's: cconv, tail, fastmath, attrs, arg_attrs."""
        return self._insert(li.CallInstr(self._block, function, list(args), name, **options))

    def branch(self, target: Block) -> Any:
        return self._terminate(li.Terminator(self._block, "br", (target,)))

    def cbranch(self, cond: Value, then: Block, otherwise: Block) -> Any:
        return self._terminate(li.Terminator(self._block, "br", (cond, then, otherwise)))

    def switch(self, value: Value, default: Block) -> Any:
        return self._terminate(li.SwitchInstr(self._block, value, default))

    def ret(self, value: Value) -> Any:
        return self._terminate(li.Ret(self._block, "ret", (value,)))

    def ret_void(self) -> Any:
        return self._terminate(li.Ret(self._block, "ret void", ()))

    def unreachable(self) -> Any:
        return self._terminate(li.Unreachable(self._block))


def _suffixed(label: str, suffix: str) -> str:
    """label + suffix, a long label cut (as llvmlite names if_then's blocks)."""
    return f"{label[:25]}..{suffix}" if len(label) > 50 else label + suffix
