"""A module: its globals and functions in order, its metadata, and its text."""

from __future__ import annotations

from typing import Any

from .types import FunctionType, IntType, MetaDataType, Type, VoidType
from .values import Constant, Function, MDValue, MetaDataString, NamedMetaData, NameScope, Value

_METADATA = MetaDataType()


class Module:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.triple = "unknown-unknown-unknown"
        self.data_layout = ""
        self.scope = NameScope()
        self.globals: dict[str, Any] = {}
        self.metadata: list[MDValue] = []
        self.namedmetadata: dict[str, NamedMetaData] = {}
        self._uniqued: dict[tuple[Any, ...], MDValue] = {}

    @property
    def functions(self) -> list[Function]:
        return [v for v in self.globals.values() if isinstance(v, Function)]

    def add_global(self, value: Any) -> None:
        assert value.name not in self.globals, value.name
        self.globals[value.name] = value

    def get_global(self, name: str) -> Any:
        return self.globals[name]

    def get_unique_name(self, name: str = "") -> str:
        """`name`, or `name.N` where globals already use it."""
        return self.scope.deduplicate(name)

    def add_metadata(self, operands: Any) -> MDValue:
        """The uniqued node `!{ operands }` (strings become metadata strings, lists nodes)."""
        fixed = tuple(self._metadata_operand(op) for op in operands)
        node = self._uniqued.get(fixed)
        if node is None:
            node = self._uniqued[fixed] = MDValue(self, fixed, str(len(self.metadata)))
        return node

    def _metadata_operand(self, op: Any) -> Value:
        if op is None:
            return Constant(_METADATA, None)
        if isinstance(op, str):
            return MetaDataString(self, op)
        if isinstance(op, (list, tuple)):
            return self.add_metadata(op)
        return op  # type: ignore[no-any-return]

    def add_named_metadata(self, name: str, element: Any = None) -> NamedMetaData:
        named = self.namedmetadata.get(name)
        if named is None:
            named = self.namedmetadata[name] = NamedMetaData()
        if element is not None:
            named.add(element if isinstance(element, Value) else self.add_metadata(element))
        return named

    def get_named_metadata(self, name: str) -> NamedMetaData:
        return self.namedmetadata[name]

    def declare_intrinsic(
        self, intrinsic: str, types: Any = (), function_type: FunctionType | None = None
    ) -> Function:
        """The declaration of `intrinsic` overloaded on `types` (llvm.fabs.f64), made once."""
        name = ".".join([intrinsic, *(t.intrinsic_name for t in types)])
        if name in self.globals:
            return self.globals[name]  # type: ignore[no-any-return]
        if function_type is None:
            function_type = _intrinsic_type(intrinsic, list(types))
        return Function(self, function_type, name)

    def header_lines(self) -> list[str]:
        return [
            f'; ModuleID = "{self.name}"',
            f'target triple = "{self.triple}"',
            f'target datalayout = "{self.data_layout}"',
            "",
        ]

    def metadata_lines(self) -> list[str]:
        named = [
            f"!{k} = !{{ {', '.join([n.ref for n in v.operands])} }}" for k, v in self.namedmetadata.items()
        ]
        return [*named, *(str(node) for node in self.metadata)]

    def __str__(self) -> str:
        texts = [v.text() for v in self.globals.values()]
        return "\n".join([*self.header_lines(), *texts, *self.metadata_lines()])

    __repr__ = __str__


def _intrinsic_type(intrinsic: str, types: list[Type]) -> FunctionType:
    """The signature of an intrinsic overloaded on `types`, for the few tc declares by
    overload (the rest are declared with their signature)."""
    if intrinsic in ("llvm.memcpy", "llvm.memmove") and len(types) == 3:
        return FunctionType(VoidType(), [*types, IntType(1)])
    if len(types) == 1:
        return FunctionType(types[0], types)
    raise NotImplementedError(f"the signature of intrinsic {intrinsic!r} over {len(types)} types")
