"""The builders generated for non-elementwise ops (frontend/generated.py), on op classes of
this file's own (unregistered: no name), and the packages whose modules are found by pkgutil."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import tc.codegen_llvm
import tc.ir.ops
import tc.tensor as T
from tc.frontend.generated import NAMESPACES, _builder
from tc.ir import Operation, Region, TcTypeError, TcValueError, TensorType
from tc.ir.attributes import Attribute, attr


class _Pair(Operation):
    """Operand 1, along an axis of it."""

    arity = 2
    frontend_name = "pair"
    axis = attr(int, axis_of=1)
    mode = attr(str)
    scale = attr(float, default=1.0)

    @classmethod
    def infer_types(
        cls,
        operand_types: Sequence[TensorType],
        attributes: dict[str, Attribute],
        regions: Sequence[Region] = (),
    ) -> list[TensorType]:
        return [operand_types[1]]


PAIR = _builder(_Pair)


def test_signature_operands_then_attributes() -> None:
    assert str(inspect.signature(PAIR)) == "(x, y, axis=None, *, mode, scale=1.0)"
    assert PAIR.__name__ == "pair" and PAIR.__doc__ == "Operand 1, along an axis of it."


def test_attributes_are_checked_and_normalised() -> None:
    x, y = T.dvector("x"), T.dmatrix("y")
    apply = PAIR(x, y, -1, mode="m").owner
    assert apply.attributes == {"axis": 1, "mode": "m", "scale": 1.0}
    assert apply.inputs == [x, y]
    with pytest.raises(TcTypeError, match="pair: mode must be str, found 3"):
        PAIR(x, y, 0, mode=3)
    with pytest.raises(TcValueError, match="axis 2 is out of range for a tensor of rank 2"):
        PAIR(x, y, 2, mode="m")
    with pytest.raises(TypeError):
        PAIR(x, y, 0)  # a required keyword is missing: Python's own error


def test_axis_none_flattens_its_operand() -> None:
    x, y = T.dvector("x"), T.dmatrix("y")
    apply = PAIR(x, y, mode="m").owner
    assert apply.attributes["axis"] == 0
    assert apply.inputs[0] is x and apply.inputs[1].type.rank == 1


def test_namespaces_are_modules_of_T() -> None:
    assert set(NAMESPACES) <= set(T.__all__)
    for name, module in NAMESPACES.items():
        assert getattr(T, name) is module and sys.modules[f"tc.tensor.{name}"] is module
        assert all(getattr(module, f) is getattr(T, f) for f in module.__all__)


@pytest.mark.parametrize("package", [tc.ir.ops, tc.codegen_llvm], ids=lambda p: p.__name__)
def test_every_module_of_the_package_is_imported(package: object) -> None:
    """A new op file (ir/ops) or lowering file (codegen_llvm) needs no edit elsewhere."""
    if package is tc.codegen_llvm:  # what a first lowering of an uncommon op does (not left to test order)
        from tc.codegen_llvm.lower import register_lowerings

        register_lowerings()
    folder = Path(package.__file__).parent  # type: ignore[attr-defined]
    for path in folder.glob("*.py"):
        if not path.stem.startswith("_"):
            assert f"{package.__name__}.{path.stem}" in sys.modules, path  # type: ignore[attr-defined]
