"""LLVM values: constants, globals, functions, arguments, blocks and metadata.

Every value carries `type` and `ref`, its reference as an operand (`%"x"`, `@"f"`, `42`),
made when the value is made (llvmlite made and cached it on first use, through an
attribute lookup that raised for every value). The names are llvmlite's: a value named ""
in a function is numbered (".4"), a repeated name gets a suffix ("i.1").
"""

from __future__ import annotations

from typing import Any

from .types import (
    FunctionType,
    LabelType,
    MetaDataType,
    Type,
)


class NameScope:
    """The names used in a function (or a module): each is registered once."""

    def __init__(self) -> None:
        self._used = {""}
        self._last: dict[str, int] = {}

    def register(self, name: str, deduplicate: bool = False) -> str:
        if deduplicate:
            return self.fresh(name)
        if name in self._used:
            raise NameError(f"duplicated name {name!r}")
        self._used.add(name)
        return name

    def deduplicate(self, name: str) -> str:
        """`name`, or `name.N` with the next N for which that is unused."""
        base = name
        while name in self._used:
            number = self._last[base] = self._last.get(base, 0) + 1
            name = f"{base}.{number}"
        return name

    def fresh(self, name: str) -> str:
        """`name` registered, made unique first (instructions call it directly: there are
        many)."""
        used = self._used
        if name not in used:
            used.add(name)
            return name
        name = self.deduplicate(name)
        used.add(name)
        return name


def local_reference(name: str) -> str:
    """%"name", escaped as LLVM reads it."""
    return f'%"{name}"' if "\\" not in name and '"' not in name else "%" + _quoted(name)


def _quoted(name: str) -> str:
    if "\\" in name or '"' in name:
        name = name.replace("\\", "\\5c").replace('"', "\\22")
    return f'"{name}"'


class Value:
    """Anything an instruction may take as an operand."""

    type: Type
    ref: str

    def get_reference(self) -> str:
        return self.ref

    def __str__(self) -> str:
        return f"{self.type.text} {self.ref}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type.text} {self.ref}>"


class _Undefined:
    """`undef`, as a constant's value: Constant(type, Undefined)."""


Undefined = _Undefined()
_PRINTABLE = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()*+,-./:;<=>?@[]^_`{|}~"
)


def _escaped(data: bytes | bytearray | str) -> str:
    """Bytes as an LLVM string constant's body: printable ASCII as is, the rest as \\xx."""
    if isinstance(data, str):
        data = data.encode()
    return "".join([chr(c) if c in _PRINTABLE else f"\\{c:02x}" for c in data])


class Constant(Value):
    """A constant of `type`: a number, a sequence of constants (vectors, arrays, structures),
    a bytearray (a c"..." string), None (zero or null) or Undefined."""

    def __init__(self, type: Type, constant: Any) -> None:
        self.type = type
        self.constant = constant = type.wrap_constant_value(constant)
        if constant is None:
            self.ref = type.null
        elif constant is Undefined:
            self.ref = "undef"
        elif isinstance(constant, bytearray):
            self.ref = f'c"{_escaped(constant)}"'
        else:
            self.ref = type.format_constant(constant)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constant) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class _ConstantExpression(Constant):
    """A constant made by an operation on constants (`bitcast (T* @x to i8*)`)."""

    def __init__(self, type: Type, text: str) -> None:
        self.type, self.constant, self.ref = type, text, text


class NamedValue(Value):
    """A value with a name in its parent's scope."""

    prefix = "%"
    deduplicate = True
    _name = ""
    scope: NameScope

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        self._name = self._scope().register(name, self.deduplicate)
        self.ref = self.prefix + _quoted(self._name)

    def _scope(self) -> NameScope:
        return self.parent.scope  # type: ignore[attr-defined,no-any-return]

    @property
    def function_type(self) -> FunctionType:
        pointee = getattr(self.type, "pointee", self.type)
        if not isinstance(pointee, FunctionType):
            raise TypeError(f"not a function: {self.type}")
        return pointee


class GlobalValue(NamedValue):
    prefix = "@"
    deduplicate = False
    linkage = ""
    section = ""
    metadata: dict[str, Any] = {}  # (replaced by a dict of its own when set)

    def set_metadata(self, name: str, node: Any) -> None:
        if not self.metadata:
            self.metadata = {}
        self.metadata[name] = node

    def bitcast(self, type: Type) -> Constant | GlobalValue:
        """This global's address as a `type` constant."""
        if type == self.type:
            return self
        return _ConstantExpression(type, f"bitcast ({self.type.text} {self.ref} to {type.text})")


class GlobalVariable(GlobalValue):
    """A global of `value_type` (its value is its address, of the pointer type)."""

    def __init__(self, module: Any, value_type: Type, name: str, addrspace: int = 0) -> None:
        self.parent = module
        self.type = value_type.as_pointer(addrspace)
        self.name = name
        self.value_type = value_type
        self.initializer: Constant | None = None
        self.unnamed_addr = False
        self.global_constant = False
        self.addrspace = addrspace
        self.align: int | None = None
        module.add_global(self)

    def text(self) -> str:
        linkage = self.linkage or ("external" if self.initializer is None else "")
        parts = [linkage] if linkage else []
        if self.unnamed_addr:
            parts.append("unnamed_addr")
        if self.addrspace:
            parts.append(f"addrspace({self.addrspace:d})")
        parts.append(f"{'constant' if self.global_constant else 'global'} {self.value_type.text}")
        text = f"{self.ref} = {' '.join(parts)}"
        if self.initializer is not None:
            if self.initializer.type != self.value_type:
                raise TypeError(
                    f"an initializer of type {self.initializer.type} for a global of {self.value_type}"
                )
            text += " " + self.initializer.ref
        elif linkage not in ("external", "extern_weak"):
            text += " undef"
        if self.section:
            text += f', section "{self.section}"'
        if self.align is not None:
            text += f", align {self.align:d}"
        return text + metadata_text(self.metadata)


def metadata_text(metadata: dict[str, Any]) -> str:
    """A value's attached metadata, each slot after a comma (", !prof !3")."""
    return "".join([f", !{k} {v.ref}" for k, v in metadata.items()]) if metadata else ""


class AttributeSet(set):  # type: ignore[type-arg]
    """Keyword attributes, printed in sorted order."""

    known: frozenset[str] | dict[str, bool] = frozenset()

    def __init__(self, names: Any = ()) -> None:
        super().__init__()
        for name in [names] if isinstance(names, str) else names:
            self.add(name)

    def add(self, name: str) -> None:
        if name not in self.known:
            raise ValueError(f"unknown attribute {name!r} for {type(self).__name__}")
        super().add(name)

    def _to_list(self, type: Type) -> list[str]:
        return sorted(self)


class FunctionAttributes(AttributeSet):
    known = frozenset(
        "argmemonly alwaysinline builtin cold convergent inaccessiblememonly "
        "inaccessiblemem_or_argmemonly inlinehint jumptable minsize naked nobuiltin noduplicate "
        "noimplicitfloat noinline nonlazybind norecurse noredzone noreturn nounwind optnone optsize "
        "readnone readonly returns_twice sanitize_address sanitize_memory sanitize_thread ssp sspreg "
        "sspstrong uwtable".split()
    )


class ArgumentAttributes(AttributeSet):
    # Whether the attribute is written with the pointee's type (byval(T)).
    known = {
        **dict.fromkeys("byref byval elementtype inalloca preallocated sret".split(), True),
        **dict.fromkeys(
            "immarg inreg nest noalias nocapture nofree nonnull noundef returned signext "
            "swiftasync swifterror swiftself zeroext".split(),
            False,
        ),
    }
    align = 0

    def _to_list(self, type: Type) -> list[str]:
        names = [f"{n}({type.pointee})" if self.known[n] else n for n in sorted(self)]  # type: ignore[attr-defined]
        return [*names, f"align {self.align:d}"] if self.align else names


class Argument(NamedValue):
    def __init__(self, function: Function, type: Type, name: str = "") -> None:
        self.parent = function
        self.type = type
        self.name = name
        self.attributes = ArgumentAttributes()

    def add_attribute(self, name: str) -> None:
        self.attributes.add(name)

    def __str__(self) -> str:
        attributes = self.attributes._to_list(self.type) if self.attributes else ()
        return " ".join([self.type.text, *attributes, self.ref])


class ReturnValue(Argument):
    def __str__(self) -> str:
        return " ".join([*self.attributes._to_list(self.type), self.type.text])


_LABEL = LabelType()
_DIGITS = "0123456789"
# The characters of a label that needs no quotes ([-a-zA-Z$._][-a-zA-Z$._0-9]*): tested with
# str.lstrip, as compiling that regular expression cost an empty cache's first compile 0.13 ms.
_NAME_CHARACTERS = "-$._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS


class Block(NamedValue):
    """A basic block of `function`; its instructions in order, the terminator last."""

    def __init__(self, function: Function, name: str = "") -> None:
        self.parent = function
        self.scope = function.scope
        self.type = _LABEL
        self.name = name
        self.instructions: list[Any] = []
        self.terminator: Any = None

    @property
    def is_terminated(self) -> bool:
        return self.terminator is not None

    @property
    def function(self) -> Function:
        return self.parent

    @property
    def module(self) -> Any:
        return self.parent.parent

    def label(self) -> str:
        """The block's label as its first line writes it (quoted only where it must be)."""
        name = self._name
        simple = name != "" and name[0] not in _DIGITS and not name.lstrip(_NAME_CHARACTERS)
        return name if simple else _quoted(name)


class Function(GlobalValue):
    """A function of `module`: a definition once it has a block, else a declaration."""

    calling_convention = ""

    def __init__(self, module: Any, ftype: FunctionType, name: str) -> None:
        self.parent = module
        self.type = ftype.as_pointer()
        self.name = name
        self.ftype = ftype
        self.scope = NameScope()
        self.blocks: list[Block] = []
        self.phis: list[Any] = []  # (each is in a reference cycle with a value it takes in)
        self.attributes = FunctionAttributes()
        self.args = tuple([Argument(self, t) for t in ftype.args])
        self.return_value = ReturnValue(self, ftype.return_type)
        module.add_global(self)

    @property
    def module(self) -> Any:
        return self.parent

    @property
    def entry_basic_block(self) -> Block:
        return self.blocks[0]

    @property
    def is_declaration(self) -> bool:
        return not self.blocks

    def append_basic_block(self, name: str = "") -> Block:
        block = Block(self, name)
        self.blocks.append(block)
        return block

    def prototype(self) -> str:
        """The function's first line: `define ... @"f"(...)` (or `declare`)."""
        head = " ".join(
            [x for x in ("define" if self.blocks else "declare", self.linkage, self.calling_convention) if x]
        )
        args = ", ".join([str(a) for a in self.args])
        if self.ftype.var_arg:
            args += ", ..." if self.args else "..."
        attributes = self.attributes._to_list(self.ftype.return_type) if self.attributes else ()
        attributes_text = " " + " ".join(attributes) if attributes else ""
        section = f' section "{self.section}"' if self.section else ""
        metadata = metadata_text(self.metadata).replace(", ", " ", 1)  # (no leading comma)
        return f"{head} {self.return_value} {self.ref}({args}){attributes_text}{section}{metadata}\n"

    def text(self) -> str:
        from .instructions import function_body

        return self.prototype() + function_body(self)

    def __str__(self) -> str:
        return self.text()


class MetaDataString(NamedValue):
    """!"text", an operand of a metadata node."""

    def __init__(self, module: Any, string: str) -> None:
        self.type = _METADATA
        self.string = string
        self.ref = f'!"{_escaped(string)}"'

    def __str__(self) -> str:
        return self.ref

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MetaDataString) and other.string == self.string

    def __hash__(self) -> int:
        return hash(self.string)


_METADATA = MetaDataType()


class MDValue(NamedValue):
    """A metadata node `!N = !{ ... }` of `module` (Module.add_metadata makes uniqued ones)."""

    def __init__(self, module: Any, operands: Any, name: str) -> None:
        self.type = _METADATA
        self.operands = tuple(operands)
        self._name = name
        self.ref = f"!{name}"
        module.metadata.append(self)

    def descr(self, buf: list[str]) -> None:
        operands = []
        for op in self.operands:
            if isinstance(op.type, MetaDataType):
                operands.append("null" if isinstance(op, Constant) and op.constant is None else op.ref)
            else:
                operands.append(f"{op.type.text} {op.ref}")
        buf += (f"!{{ {', '.join(operands)} }}", "\n")

    def get_reference(self) -> str:
        return self.ref

    def __str__(self) -> str:
        buf: list[str] = []
        self.descr(buf)
        return f"{self.ref} = {''.join(buf)}".rstrip()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MDValue) and other.operands == self.operands

    def __hash__(self) -> int:
        return hash(self.operands)


class NamedMetaData:
    """!name = !{ ... }: a module-level list of metadata nodes."""

    def __init__(self) -> None:
        self.operands: list[Any] = []

    def add(self, node: Any) -> None:
        self.operands.append(node)
