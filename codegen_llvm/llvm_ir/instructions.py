"""LLVM instructions, each printing its own line of IR text with one f-string.

The text is llvmlite's, byte for byte, spacing quirks included ("phi  double ..." where an
instruction has no flags): tests/codegen_llvm/test_llvm_ir.py builds the same functions
through both and compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .types import FunctionType, IntType, LiteralStructType, Type, VectorType, VoidType
from .values import AttributeSet, Block, Constant, Function, NamedValue, Value, local_reference, metadata_text

_VOID = VoidType()
_I1 = IntType(1)
_NO_METADATA: dict[str, Any] = {}


class Instruction(NamedValue):
    """An instruction `opname` of result `type` over `operands`; the generic one prints as
    `%"x" = opname flags type a, b` (the binary operations and fneg)."""

    metadata = _NO_METADATA
    flags: Any = ()

    def __init__(
        self, parent: Block, type: Type, opname: str, operands: Any, name: str = "", flags: Any = ()
    ) -> None:
        self.parent = parent
        self.type = type
        self.opname = opname
        self.operands = operands
        if flags:
            self.flags = list(flags)
        self._name = name = parent.scope.fresh(name)  # (NamedValue.name's setter, inlined)
        self.ref = local_reference(name)

    @property
    def function(self) -> Function:
        return self.parent.parent

    @property
    def module(self) -> Any:
        return self.parent.parent.parent

    def set_metadata(self, name: str, node: Any) -> None:
        if self.metadata is _NO_METADATA:
            self.metadata = {}
        self.metadata[name] = node

    def __str__(self) -> str:
        return self.text()

    def _named(self, text: str) -> str:
        if self.type is _VOID:
            return text.rstrip()
        return f"{self.ref} = {text}".rstrip()

    def text(self) -> str:
        """The instruction's line of IR (without its indentation)."""
        opname = " ".join([self.opname, *self.flags]) if self.flags else self.opname
        operands = ", ".join([op.ref for op in self.operands])
        return self._named(f"{opname} {self.type.text} {operands}{metadata_text(self.metadata)}")

    def used_values(self) -> list[Any]:
        """The values and blocks the instruction uses."""
        return list(self.operands)

    def replace_values(self, new: Mapping[int, Value]) -> None:
        """Use new[id(v)] in place of each used value v that `new` names."""
        self.operands = type(self.operands)([new.get(id(v), v) for v in self.operands])


class BinaryInstr(Instruction):
    """add, fmul, icmp's operands...: `%"x" = opname flags type a, b`."""

    def text(self) -> str:
        lhs, rhs = self.operands
        opname = " ".join([self.opname, *self.flags]) if self.flags else self.opname
        md = metadata_text(self.metadata) if self.metadata else ""
        return f"{self.ref} = {opname} {self.type.text} {lhs.ref}, {rhs.ref}{md}"


class CastInstr(Instruction):
    def __init__(self, parent: Block, opname: str, value: Value, type: Type, name: str = "") -> None:
        super().__init__(parent, type, opname, (value,), name)

    def text(self) -> str:
        (value,) = self.operands
        md = " " + metadata_text(self.metadata) if self.metadata else ""
        return f"{self.ref} = {self.opname} {value.type.text} {value.ref} to {self.type.text}{md}"


class LoadInstr(Instruction):
    align: int | None = None

    def __init__(self, parent: Block, pointer: Value, name: str = "", type: Type | None = None) -> None:
        if type is None:
            type = pointer.allocated_type if isinstance(pointer, AllocaInstr) else pointer.type.pointee  # type: ignore[attr-defined]
        super().__init__(parent, type, "load", (pointer,), name)

    def text(self) -> str:
        (pointer,) = self.operands
        align = "" if self.align is None else f", align {self.align:d}"
        md = metadata_text(self.metadata) if self.metadata else ""
        return f"{self.ref} = load {self.type.text}, {pointer.type.text} {pointer.ref}{align}{md}"


class StoreInstr(Instruction):
    align: int | None = None

    def __init__(self, parent: Block, value: Value, pointer: Value) -> None:
        super().__init__(parent, _VOID, "store", (value, pointer))

    def text(self) -> str:
        value, pointer = self.operands
        align = "" if self.align is None else f", align {self.align:d}"
        md = metadata_text(self.metadata) if self.metadata else ""
        return f"store {value.type.text} {value.ref}, {pointer.type.text} {pointer.ref}{align}{md}"


class LoadAtomicInstr(Instruction):
    def __init__(self, parent: Block, pointer: Value, ordering: str, align: int, name: str = "") -> None:
        super().__init__(parent, pointer.type.pointee, "load atomic", (pointer,), name)  # type: ignore[attr-defined]
        self.ordering, self.align = ordering, align

    def text(self) -> str:
        (p,) = self.operands
        md = metadata_text(self.metadata)
        return self._named(
            f"load atomic {self.type.text}, {p.type.text} {p.ref} {self.ordering}, align {self.align}{md}"
        )


class StoreAtomicInstr(Instruction):
    def __init__(self, parent: Block, value: Value, pointer: Value, ordering: str, align: int) -> None:
        super().__init__(parent, _VOID, "store atomic", (value, pointer))
        self.ordering, self.align = ordering, align

    def text(self) -> str:
        v, p = self.operands
        where = f"{self.ordering}, align {self.align}{metadata_text(self.metadata)}"
        return f"store atomic {v.type.text} {v.ref}, {p.type.text} {p.ref} {where}"


class AllocaInstr(Instruction):
    align: int | None = None

    def __init__(self, parent: Block, type: Type, count: Value | None, name: str = "") -> None:
        super().__init__(parent, type.as_pointer(), "alloca", (count,) if count else (), name)
        self.allocated_type = type

    def text(self) -> str:
        text = f"alloca {self.allocated_type.text}"
        if self.operands:
            (count,) = self.operands
            text += f", {count.type.text} {count.ref}"
        if self.align is not None:
            text += f", align {self.align}"
        return self._named(text + metadata_text(self.metadata))


class GEPInstr(Instruction):
    """getelementptr: the result's type follows the indices through the pointee types."""

    def __init__(self, parent: Block, pointer: Value, indices: Any, inbounds: bool, name: str = "") -> None:
        element = pointer.type
        for index in indices:
            element = element.gep(index)  # type: ignore[attr-defined]
        addrspace = pointer.type.addrspace  # type: ignore[attr-defined]
        super().__init__(parent, element.as_pointer(addrspace), "getelementptr", (pointer, *indices), name)
        self.source_etype = pointer.type.pointee  # type: ignore[attr-defined]
        self.inbounds = inbounds

    @property
    def pointer(self) -> Value:
        return self.operands[0]  # type: ignore[no-any-return]

    @property
    def indices(self) -> Any:
        return self.operands[1:]

    def text(self) -> str:
        pointer, *indices = self.operands
        op = "getelementptr inbounds" if self.inbounds else "getelementptr"
        listed = ", ".join([f"{i.type.text} {i.ref}" for i in indices])
        md = " " + metadata_text(self.metadata) if self.metadata else ""
        return f"{self.ref} = {op} {self.source_etype.text}, {pointer.type.text} {pointer.ref}, {listed}{md}"


class PhiInstr(Instruction):
    def __init__(self, parent: Block, type: Type, name: str = "", flags: Any = ()) -> None:
        super().__init__(parent, type, "phi", (), name, flags)
        self.incomings: list[tuple[Value, Block]] = []
        parent.parent.phis.append(self)

    def add_incoming(self, value: Value, block: Block) -> None:
        self.incomings.append((value, block))

    def text(self) -> str:
        incoming = ", ".join([f"[{v.ref}, {b.ref}]" for v, b in self.incomings])
        md = metadata_text(self.metadata)
        return self._named(f"phi {' '.join(self.flags)} {self.type.text} {incoming} {md}")

    def used_values(self) -> list[Any]:
        return [x for pair in self.incomings for x in pair]

    def replace_values(self, new: Mapping[int, Value]) -> None:
        self.incomings = [(new.get(id(v), v), b) for v, b in self.incomings]


class SelectInstr(Instruction):
    def __init__(
        self, parent: Block, cond: Value, lhs: Value, rhs: Value, name: str = "", flags: Any = ()
    ) -> None:
        super().__init__(parent, lhs.type, "select", (cond, lhs, rhs), name, flags)

    def text(self) -> str:
        c, a, b = self.operands
        md = " " + metadata_text(self.metadata) if self.metadata else ""
        values = f"{c.type.text} {c.ref}, {a.type.text} {a.ref}, {b.type.text} {b.ref}"
        return f"{self.ref} = select {' '.join(self.flags)} {values}{md}"


class CompareInstr(Instruction):
    def __init__(
        self, parent: Block, opname: str, op: str, lhs: Value, rhs: Value, name: str = "", flags: Any = ()
    ) -> None:
        result = VectorType(_I1, lhs.type.count) if isinstance(lhs.type, VectorType) else _I1
        super().__init__(parent, result, opname, (lhs, rhs), name, flags)
        self.op = op

    def text(self) -> str:
        lhs, rhs = self.operands
        flags = "".join([" " + flag for flag in self.flags]) if self.flags else ""
        md = " " + metadata_text(self.metadata) if self.metadata else ""
        return f"{self.ref} = {self.opname}{flags} {self.op} {lhs.type.text} {lhs.ref}, {rhs.ref}{md}"


class CallAttributes(AttributeSet):
    known = frozenset("convergent noreturn nounwind readonly readnone noinline alwaysinline".split())


class FastMathFlags(AttributeSet):
    known = frozenset("fast nnan ninf nsz arcp contract afn reassoc".split())


class CallInstr(Instruction):
    def __init__(
        self,
        parent: Block,
        callee: Any,
        args: Any,
        name: str = "",
        cconv: str | None = None,
        tail: Any = False,
        fastmath: Any = (),
        attrs: Any = (),
        arg_attrs: Any = None,
    ) -> None:
        function_type: FunctionType = callee.function_type
        expected = function_type.args
        if len(args) < len(expected) or (len(args) > len(expected) and not function_type.var_arg):
            raise TypeError(f"{callee.ref} takes {len(expected)} arguments, got {len(args)}")
        for i, (arg, want) in enumerate(zip(args, expected, strict=False)):  # (variadic: more args)
            if arg.type is not want and arg.type != want:
                raise TypeError(f"Type of #{i + 1} arg mismatch: {want} != {arg.type}")
        super().__init__(parent, function_type.return_type, "call", (callee, *args), name)
        self.cconv = callee.calling_convention if cconv is None and isinstance(callee, Function) else cconv
        self.tail = tail if tail in ("tail", "musttail", "notail") else ("tail" if tail else "")
        self.fastmath = FastMathFlags(fastmath) if fastmath else _NO_FLAGS
        self.attributes = CallAttributes(attrs) if attrs else _NO_FLAGS
        self.arg_attributes = {}
        if arg_attrs:
            from .values import ArgumentAttributes

            self.arg_attributes = {i: ArgumentAttributes(a) for i, a in arg_attrs.items()}

    @property
    def callee(self) -> Any:
        return self.operands[0]

    @property
    def args(self) -> Any:
        return self.operands[1:]

    def text(self) -> str:
        callee, *args = self.operands
        function_type = callee.function_type
        if self.arg_attributes:
            listed = ", ".join([self._argument(n, a) for n, a in enumerate(args)])
        else:
            listed = ", ".join([f"{a.type.text} {a.ref}" for a in args])
        shown = function_type if function_type.var_arg else function_type.return_type
        target = f"{shown.text} {callee.ref}"
        if self.cconv:
            target = f"{self.cconv} {target}"
        tail = f"{self.tail} " if self.tail else ""
        attributes = " " + " ".join(self.attributes._to_list(shown)) if self.attributes else ""
        fastmath = " " + " ".join(self.fastmath._to_list(shown)) if self.fastmath else ""
        md = metadata_text(self.metadata) if self.metadata else ""
        return self._named(f"{tail}call{fastmath} {target}({listed}){attributes}{md}")

    def _argument(self, n: int, value: Value) -> str:
        attributes = self.arg_attributes.get(n)
        shown = " ".join(attributes._to_list(value.type)) + " " if attributes is not None else ""
        return f"{value.type.text} {shown}{value.ref}"


_NO_FLAGS = FastMathFlags()


class Terminator(Instruction):
    """br (its operands: a block, or a condition and two blocks)."""

    def __init__(self, parent: Block, opname: str, operands: Any) -> None:
        super().__init__(parent, _VOID, opname, operands)

    def text(self) -> str:
        operands = ", ".join([f"{op.type.text} {op.ref}" for op in self.operands])
        return f"{self.opname} {operands}{metadata_text(self.metadata) if self.metadata else ''}"

    def set_weights(self, weights: list[int]) -> None:
        """Branch weights (!prof): how likely each way is."""
        from .values import MetaDataString

        module = self.module
        node = module.add_metadata(
            [MetaDataString(module, "branch_weights"), *(IntType(32)(w) for w in weights)]
        )
        self.set_metadata("prof", node)


Branch = ConditionalBranch = Terminator


class Ret(Terminator):
    @property
    def return_value(self) -> Value | None:
        return self.operands[0] if self.operands else None

    def text(self) -> str:
        md = metadata_text(self.metadata)
        if not self.operands:
            return f"{self.opname}{md}"
        (value,) = self.operands
        return f"{self.opname} {value.type.text} {value.ref}{md}"


class SwitchInstr(Terminator):
    def __init__(self, parent: Block, value: Value, default: Block) -> None:
        super().__init__(parent, "switch", (value,))
        self.default = default
        self.cases: list[tuple[Value, Block]] = []

    def add_case(self, value: Any, block: Block) -> None:
        if not isinstance(value, Value):
            value = Constant(self.operands[0].type, value)
        self.cases.append((value, block))

    def text(self) -> str:
        (value,) = self.operands
        cases = " ".join([f"{v.type.text} {v.ref}, label {b.ref}" for v, b in self.cases])
        md = metadata_text(self.metadata)
        return f"switch {value.type.text} {value.ref}, label {self.default.ref} [{cases}]  {md}".rstrip()

    def used_values(self) -> list[Any]:
        return [*self.operands, self.default, *(x for case in self.cases for x in case)]

    def replace_values(self, new: Mapping[int, Value]) -> None:
        super().replace_values(new)
        self.cases = [(new.get(id(v), v), b) for v, b in self.cases]


class Unreachable(Instruction):
    def __init__(self, parent: Block) -> None:
        super().__init__(parent, _VOID, "unreachable", ())

    def text(self) -> str:
        return "unreachable"


class VectorElementInstr(Instruction):
    """extractelement and insertelement: their operands, typed."""

    def text(self) -> str:
        return self._named(
            f"{self.opname} " + ", ".join([f"{op.type.text} {op.ref}" for op in self.operands])
        )


class ShuffleVector(Instruction):
    def __init__(self, parent: Block, first: Value, second: Value, mask: Constant, name: str = "") -> None:
        result = VectorType(first.type.element, mask.type.count)  # type: ignore[attr-defined]
        super().__init__(parent, result, "shufflevector", (first, second, mask), name)

    def text(self) -> str:
        operands = ", ".join([f"{op.type.text} {op.ref}" for op in self.operands])
        return self._named(f"shufflevector {operands} {metadata_text(self.metadata)}")


class ExtractValue(Instruction):
    def __init__(self, parent: Block, aggregate: Value, indices: list[int], name: str = "") -> None:
        result = aggregate.type
        for index in indices:
            result = result.elements[index]  # type: ignore[attr-defined]
        super().__init__(parent, result, "extractvalue", (aggregate,), name)
        self.indices = indices

    def text(self) -> str:
        (aggregate,) = self.operands
        indices = ", ".join([str(i) for i in self.indices])
        md = metadata_text(self.metadata)
        return self._named(f"extractvalue {aggregate.type.text} {aggregate.ref}, {indices} {md}")


class InsertValue(Instruction):
    def __init__(
        self, parent: Block, aggregate: Value, value: Value, indices: list[int], name: str = ""
    ) -> None:
        super().__init__(parent, aggregate.type, "insertvalue", (aggregate, value), name)
        self.indices = indices

    def text(self) -> str:
        aggregate, value = self.operands
        indices = ", ".join([str(i) for i in self.indices])
        md = metadata_text(self.metadata)
        inserted = f"{value.type.text} {value.ref}"
        return self._named(f"insertvalue {aggregate.type.text} {aggregate.ref}, {inserted}, {indices} {md}")


class AtomicRMW(Instruction):
    def __init__(
        self, parent: Block, op: str, pointer: Value, value: Value, ordering: str, name: str = ""
    ) -> None:
        super().__init__(parent, value.type, "atomicrmw", (pointer, value), name)
        self.operation, self.ordering = op, ordering

    def text(self) -> str:
        p, v = self.operands
        md = metadata_text(self.metadata)
        return self._named(
            f"atomicrmw {self.operation} {p.type.text} {p.ref}, {v.type.text} {v.ref} {self.ordering} {md}"
        )


class CmpXchg(Instruction):
    def __init__(
        self,
        parent: Block,
        pointer: Value,
        cmp: Value,
        value: Value,
        ordering: str,
        fail: str,
        name: str = "",
    ) -> None:
        result = LiteralStructType([value.type, _I1])
        super().__init__(parent, result, "cmpxchg", (pointer, cmp, value), name)
        self.ordering, self.failordering = ordering, fail

    def text(self) -> str:
        p, c, v = self.operands
        md = metadata_text(self.metadata)
        orderings = f"{self.ordering} {self.failordering}"
        return self._named(
            f"cmpxchg {p.type.text} {p.ref}, {c.type.text} {c.ref}, {c.type.text} {v.ref} {orderings} {md}"
        )


def function_body(function: Function) -> str:
    """A definition's body, `{` to `}`, each instruction on a line of its own ("" for a
    declaration)."""
    if not function.blocks:
        return ""
    lines = ["{"]
    for block in function.blocks:
        lines.append(f"{block.label()}:")
        lines += [f"  {instruction.text()}" for instruction in block.instructions]
    lines.append("}\n")
    return "\n".join(lines)
