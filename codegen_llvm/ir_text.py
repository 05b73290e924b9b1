"""An llvmlite module's LLVM IR text, printed faster than llvmlite prints it.

llvmlite prints each instruction through a chain of format calls, cached strings and
metadata helpers: about 5 us an instruction, 17 ms of the logistic-regression train step's
cold compile (3,400 instructions). The instructions tc's lowering emits most are printed
here with one f-string or two each, in exactly llvmlite's text, byte for byte (its spacing
included: tests/codegen_llvm/test_ir_text.py compares the two over whole train steps);
every other instruction, and everything outside function bodies, is llvmlite's own.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir as ll
from llvmlite.ir import instructions as li
from llvmlite.ir._utils import _StrCaching
from llvmlite.ir.values import NamedValue


def module_text(module: ll.Module, merge: bool = False) -> str:
    """`str(module)`, its function bodies printed here (what ll.Module.__repr__ prints);
    `merge`: internal functions identical to an earlier one printed as aliases of it
    (merge_functions.py)."""
    lines = [
        f'; ModuleID = "{module.name}"',
        f'target triple = "{module.triple}"',
        f'target datalayout = "{module.data_layout}"',
        "",
    ]
    lines += [it.get_declaration() for it in module.get_identified_types().values()]
    values = list(module.globals.values())
    texts = [function_text(v) if isinstance(v, ll.Function) else str(v) for v in values]
    metadata = module._get_metadata_lines()
    functions = [(i, v) for i, v in enumerate(values) if isinstance(v, ll.Function)]
    internal = sum(1 for _, v in functions if v.linkage == "internal" and not v.is_declaration)
    if merge and internal > 1:  # (only internal functions merge: a scalar function's has none)
        from .merge_functions import merged

        kept = merged([v for _, v in functions], [texts[i] for i, _ in functions], metadata)
        for (i, _), text in zip(functions, kept, strict=True):
            texts[i] = text
    return "\n".join([*lines, *texts, *metadata])


def function_text(function: ll.Function) -> str:
    """`str(function)` (ll.Function.descr)."""
    buf: list[str] = []
    function.descr_prototype(buf)
    if function.blocks:
        buf.append("{\n")
        for block in function.blocks:
            buf.append(f"{block._format_name()}:\n")
            for instruction in block.instructions:
                printer = _PRINTERS.get(type(instruction))
                buf.append(f"  {str(instruction) if printer is None else printer(instruction)}\n")
        buf.append("}\n")
    return "".join(buf)


def _reference(value: ll.Value) -> str:
    """`value.get_reference()`. llvmlite caches each value's reference under an attribute it
    first reads, so every value's first reference raised and caught an AttributeError: a
    sixth of the lowering's time. A named value's (an instruction's, an argument's, a
    block's, a global's) and an integer constant's are made here as llvmlite makes them."""
    cls = type(value)
    plain = _PLAIN_NAMED.get(cls)
    if plain is None:
        plain = _PLAIN_NAMED[cls] = issubclass(cls, NamedValue) and cls._get_reference is _NAMED_REFERENCE
    if plain:
        name = value._name
        if "\\" not in name and '"' not in name:
            return f'{cls.name_prefix}"{name}"'
    elif cls is ll.Constant and type(value.constant) is int and type(value.type) is ll.IntType:
        return str(value.constant)
    return value.get_reference()


_PLAIN_NAMED: dict[type, bool] = {}  # whether a class's reference is NamedValue's own
_NAMED_REFERENCE = NamedValue._get_reference


def _type_text(type_: ll.Type) -> str:
    """`str(type_)`, kept where llvmlite keeps it without its first reading raising (a new
    pointer type, as each getelementptr's result has, is printed once)."""
    text = type_.__dict__.get(_TEXT)
    if text is None:
        if type(type_).__str__ is not _StrCaching.__str__:
            return str(type_)  # (the float types: singletons that print themselves)
        text = type_.__dict__[_TEXT] = type_._to_string()
    return text  # type: ignore[no-any-return]


_TEXT = "_StrCaching__cached_str"  # (llvmlite's _StrCaching.__str__ keeps the text there)


def _typed(value: ll.Value) -> str:
    """A value as an operand: its type, then its reference."""
    return f"{_type_text(value.type)} {_reference(value)}"


def _metadata(instruction: li.Instruction) -> str:
    return instruction._stringify_metadata(leading_comma=True) if instruction.metadata else ""


def _named(instruction: li.Instruction, text: str) -> str:
    """NamedValue._to_string: the result's name first where there is a result."""
    if isinstance(instruction.type, ll.VoidType):
        return text.rstrip()
    return f"{_reference(instruction)} = {text}".rstrip()


def _operation(i: li.Instruction) -> str:
    opname = " ".join([i.opname, *i.flags]) if i.flags else i.opname
    operands = ", ".join([_reference(op) for op in i.operands])
    return _named(i, f"{opname} {_type_text(i.type)} {operands}{_metadata(i)}")


def _cast(i: li.CastInstr) -> str:
    (value,) = i.operands
    return _named(i, f"{i.opname} {_typed(value)} to {_type_text(i.type)} {_metadata(i)}")


def _load(i: li.LoadInstr) -> str:
    (pointer,) = i.operands
    align = "" if i.align is None else f", align {i.align:d}"
    return _named(i, f"load {_type_text(i.type)}, {_typed(pointer)}{align}{_metadata(i)}")


def _store(i: li.StoreInstr) -> str:
    value, pointer = i.operands
    align = "" if i.align is None else f", align {i.align:d}"
    text = f"store {_typed(value)}, {_typed(pointer)}"
    return f"{text}{align}{_metadata(i)}".rstrip()


def _gep(i: li.GEPInstr) -> str:
    indices = ", ".join([_typed(index) for index in i.indices])
    op = "getelementptr inbounds" if i.inbounds else "getelementptr"
    pointer = _typed(i.pointer)
    return _named(i, f"{op} {_type_text(i.source_etype)}, {pointer}, {indices} {_metadata(i)}")


def _compare(i: li.CompareInstr) -> str:
    lhs, rhs = i.operands
    flags = "".join([" " + flag for flag in i.flags])
    text = f"{i.opname}{flags} {i.op} {_typed(lhs)}, {_reference(rhs)} {_metadata(i)}"
    return _named(i, text)


def _select(i: li.SelectInstr) -> str:
    values = ", ".join([_typed(op) for op in i.operands])  # condition, then values
    return _named(i, f"select {' '.join(i.flags)} {values} {_metadata(i)}")


def _phi(i: li.PhiInstr) -> str:
    incoming = ", ".join([f"[{_reference(v)}, {_reference(b)}]" for v, b in i.incomings])
    return _named(i, f"phi {' '.join(i.flags)} {_type_text(i.type)} {incoming} {_metadata(i)}")


def _branch(i: li.Terminator) -> str:
    operands = ", ".join([_typed(op) for op in i.operands])
    return f"{i.opname} {operands}{_metadata(i)}".rstrip()


def _return(i: li.Ret) -> str:
    value = i.return_value
    if value is None:
        return f"{i.opname}{_metadata(i)}".rstrip()
    return f"{i.opname} {_typed(value)}{_metadata(i)}".rstrip()


def _call(i: li.CallInstr) -> str:
    args = ", ".join([_argument(i, n, a) for n, a in enumerate(i.args)])
    function_type = i.callee.function_type
    shown = function_type if function_type.var_arg else function_type.return_type
    callee = f"{shown} {_reference(i.callee)}"
    if i.cconv:
        callee = f"{i.cconv} {callee}"
    tail = f"{i.tail} " if i.tail else ""
    attributes = " " + " ".join(i.attributes._to_list(function_type.return_type)) if i.attributes else ""
    fastmath = " " + " ".join(i.fastmath._to_list(function_type.return_type)) if i.fastmath else ""
    return _named(i, f"{tail}{i.opname}{fastmath} {callee}({args}){attributes}{_metadata(i)}")


def _argument(i: li.CallInstr, n: int, value: ll.Value) -> str:
    attributes = i.arg_attributes.get(n)
    shown = " ".join(attributes._to_list(value.type)) + " " if attributes is not None else ""
    return f"{_type_text(value.type)} {shown}{_reference(value)}"


def _alloca(i: li.AllocaInstr) -> str:
    text = f"{i.opname} {_type_text(i.allocated_type)}"
    if i.operands:
        (count,) = i.operands
        text += f", {_typed(count)}"
    if i.align is not None:
        text += f", align {i.align}"
    return _named(i, text + _metadata(i))


def _shuffle(i: li.ShuffleVector) -> str:
    operands = ", ".join([_typed(op) for op in i.operands])
    return _named(i, f"shufflevector {operands} {_metadata(i)}")


def _extract_value(i: li.ExtractValue) -> str:
    indices = ", ".join([str(index) for index in i.indices])
    return _named(i, f"extractvalue {_typed(i.aggregate)}, {indices} {_metadata(i)}")


# By exact class: a subclass may print itself otherwise.
_PRINTERS: dict[type, Callable[..., str]] = {
    li.Instruction: _operation,
    li.CastInstr: _cast,
    li.LoadInstr: _load,
    li.StoreInstr: _store,
    li.GEPInstr: _gep,
    li.ICMPInstr: _compare,
    li.FCMPInstr: _compare,
    li.SelectInstr: _select,
    li.PhiInstr: _phi,
    li.Branch: _branch,
    li.ConditionalBranch: _branch,
    li.Ret: _return,
    li.CallInstr: _call,
    li.AllocaInstr: _alloca,
    li.ShuffleVector: _shuffle,
    li.ExtractValue: _extract_value,
}
