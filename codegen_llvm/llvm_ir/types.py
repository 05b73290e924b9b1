"""LLVM types: each knows its text when it is made, and the simple ones are made once.

The interface is llvmlite.ir's (IntType(64), DoubleType(), t.as_pointer(), t(value) for a
constant), which tc's lowering was written against; the text is llvmlite's too, typed
pointers included (`double*`), so the code LLVM makes is the same.
"""

from __future__ import annotations

import struct
from typing import Any


class Type:
    """The base of every LLVM type. `text` is the type as LLVM IR writes it."""

    is_pointer = False
    null = "zeroinitializer"  # the text of the type's zero constant
    text = ""
    _pointers: dict[int, PointerType]

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.text}>"

    def __eq__(self, other: object) -> bool:
        return self is other or (
            isinstance(other, Type) and type(other) is type(self) and other.text == self.text
        )

    def __hash__(self) -> int:
        return hash(self.text)

    def as_pointer(self, addrspace: int = 0) -> PointerType:
        """The pointer to this type (made once per address space)."""
        pointers: dict[int, PointerType] | None = self.__dict__.get("_pointers")
        if pointers is None:
            pointers = {}
            self._pointers = pointers
        pointer = pointers.get(addrspace)
        if pointer is None:
            pointer = pointers[addrspace] = PointerType(self, addrspace)
        return pointer

    def format_constant(self, value: Any) -> str:
        return str(value)

    def wrap_constant_value(self, value: Any) -> Any:
        return value

    def __call__(self, value: Any) -> Any:
        from .values import Constant

        return Constant(self, value)


class _Singleton(Type):
    """A type of which there is one object (so `is` compares it)."""

    _made: Any = None

    def __new__(cls) -> Any:
        if cls.__dict__.get("_made") is None:
            cls._made = super().__new__(cls)
        return cls._made


class VoidType(_Singleton):
    text = "void"


class LabelType(_Singleton):
    text = "label"


class MetaDataType(_Singleton):
    text = "metadata"


class PointerType(Type):
    """A pointer to `pointee`: LLVM's pointers are opaque, but loads, stores and
    getelementptr take their element type from here."""

    is_pointer = True
    is_opaque = False
    null = "null"

    def __init__(self, pointee: Type, addrspace: int = 0) -> None:
        self.pointee = pointee
        self.addrspace = addrspace
        self.text = f"{pointee.text}*" if addrspace == 0 else f"{pointee.text} addrspace({addrspace})*"

    @property
    def intrinsic_name(self) -> str:
        return f"p{self.addrspace}{self.pointee.intrinsic_name}"  # type: ignore[attr-defined]

    def gep(self, index: Any) -> Type:
        return self.pointee


class IntType(Type):
    """iN; one object per width."""

    null = "0"
    _made: dict[int, IntType] = {}

    def __new__(cls, width: int) -> IntType:
        made = cls._made.get(width)
        if made is None:
            made = cls._made[width] = super().__new__(cls)
            made.width = width
            made.text = made.intrinsic_name = f"i{width}"
            made._constants = {}
        return made

    def __init__(self, width: int) -> None:
        pass

    width: int
    intrinsic_name: str
    _constants: dict[Any, Any]

    def __getnewargs__(self) -> tuple[int]:
        return (self.width,)

    def __call__(self, value: Any) -> Any:
        """The constant `value` of this type; integers' are made once (constants are never
        changed)."""
        if type(value) is int:
            constant = self._constants.get(value)
            if constant is None:
                from .values import Constant

                constant = self._constants[value] = Constant(self, value)
            return constant
        return super().__call__(value)

    def format_constant(self, value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    def wrap_constant_value(self, value: Any) -> Any:
        return 0 if value is None else value


def _hex_double(value: float) -> str:
    """A floating-point constant as LLVM reads it exactly: the double's bits in hex (padded
    with spaces to 16 characters, as llvmlite writes it)."""
    return f"{struct.unpack('Q', struct.pack('d', float(value)))[0]:#16x}"


class _FloatingType(_Singleton):
    null = "0.0"


class HalfType(_FloatingType):
    text = "half"
    intrinsic_name = "f16"

    def format_constant(self, value: Any) -> str:
        return _hex_double(struct.unpack("e", struct.pack("e", value))[0])


class FloatType(_FloatingType):
    text = "float"
    intrinsic_name = "f32"

    def format_constant(self, value: Any) -> str:
        return _hex_double(struct.unpack("f", struct.pack("f", value))[0])


class DoubleType(_FloatingType):
    text = "double"
    intrinsic_name = "f64"

    def format_constant(self, value: Any) -> str:
        return _hex_double(value)


def _elements_text(values: Any) -> str:
    return ", ".join([f"{v.type.text} {v.ref}" for v in values])


def _wrap_elements(types: Any, values: Any) -> Any:
    from .values import Constant, Value

    return [v if isinstance(v, Value) else Constant(t, v) for t, v in zip(types, values, strict=True)]


class _Repeated(Type):
    """`count` elements of one type: <4 x double>, [4 x double]."""

    brackets = "<>"

    def __init__(self, element: Type, count: int) -> None:
        self.element = element
        self.count = count
        self.text = f"{self.brackets[0]}{count} x {element.text}{self.brackets[1]}"

    @property
    def elements(self) -> list[Type]:
        return [self.element] * self.count

    def __len__(self) -> int:
        return self.count

    def format_constant(self, value: Any) -> str:
        return f"{self.brackets[0]}{_elements_text(value)}{self.brackets[1]}"


class VectorType(_Repeated):
    @property
    def intrinsic_name(self) -> str:
        return f"v{self.count}{self.element.intrinsic_name}"  # type: ignore[attr-defined]

    def wrap_constant_value(self, values: Any) -> Any:
        from .values import Constant

        if not isinstance(values, (list, tuple)):
            element = values if isinstance(values, Constant) else Constant(self.element, values)
            return (element,) * self.count
        if len(values) != self.count:
            raise ValueError(f"wrong constant size for {self.text}: got {len(values)} elements")
        return _wrap_elements(self.elements, values)


class ArrayType(_Repeated):
    brackets = "[]"

    def gep(self, index: Any) -> Type:
        return self.element

    def wrap_constant_value(self, values: Any) -> Any:
        if not isinstance(values, (list, tuple)):
            return values  # (a bytearray: a c"..." string)
        if len(values) != self.count:
            raise ValueError(f"wrong constant size for {self.text}: got {len(values)} elements")
        return _wrap_elements(self.elements, values)


class LiteralStructType(Type):
    def __init__(self, elements: Any, packed: bool = False) -> None:
        self.elements = tuple(elements)
        self.packed = packed
        body = "{" + ", ".join([e.text for e in self.elements]) + "}"
        self.text = f"<{body}>" if packed else body

    def __len__(self) -> int:
        return len(self.elements)

    def gep(self, index: Any) -> Type:
        return self.elements[index.constant]  # type: ignore[no-any-return]

    def format_constant(self, value: Any) -> str:
        body = "{" + _elements_text(value) + "}"
        return f"<{body}>" if self.packed else body

    def wrap_constant_value(self, values: Any) -> Any:
        if not isinstance(values, (list, tuple)):
            return values
        return _wrap_elements(self.elements, values)


class FunctionType(Type):
    def __init__(self, return_type: Type, args: Any, var_arg: bool = False) -> None:
        self.return_type = return_type
        self.args = tuple(args)
        self.var_arg = var_arg
        listed = ", ".join([a.text for a in self.args])
        if var_arg:
            listed = f"{listed}, ..." if listed else "..."
        self.text = f"{return_type.text} ({listed})"
