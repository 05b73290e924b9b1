"""The CPU backend and the shape plan stay mechanical: ops are lowered (and their shapes
derived) through registries keyed by op class (codegen_llvm/context.py, ir/shape_state.py),
never through isinstance or op-name chains, every op that can
reach the backend has an entry (file sizes and function lengths: tests/test_source_shape.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tc.codegen_llvm.lower  # noqa: F401  (registers every entry)
from tc.codegen_llvm.context import LOWERINGS
from tc.codegen_llvm.lower import register_lowerings
from tc.ir import OP_REGISTRY, Operation
from tc.ir.ops.builtin import Constant, Return, Shape, Size
from tc.ir.ops.elementwise_base import ElementwiseOp
from tc.ir.ops.indexing import Gather, ScatterAdd
from tc.ir.ops.kernel import KernelElementwise
from tc.ir.ops.linalg import BatchedDot, Dot
from tc.ir.ops.random import RandomOp
from tc.ir.ops.reduce import Reduce
from tc.ir.ops.shape import Alloc, Arange, Concatenate, IncSubtensor, Reshape, Subtensor
from tc.ir.ops.state import Load, Store
from tc.ir.ops.views import DimShuffle

register_lowerings()  # the registry is filled before the first lowering, not on import

CODEGEN = Path(tc.codegen_llvm.lower.__file__).parent

# isinstance on an op (or an op's owner, or a region's inner op), and dispatch on op names.
_OP = r"(op|inner|owner|kernel|producer|source\.owner|value\.owner|\w+\.owner)"
OP_ISINSTANCE = re.compile(rf"isinstance\(\s*{_OP}\b")
NAME_DISPATCH = re.compile(rf"\b{_OP}\.name\s*(==|!=|(not\s+)?in\b)")

# (file, stripped line): why the line may stay.
ALLOWED = {
    (
        "scalar.py",
        "if isinstance(op, ew.Cast):  # the one op whose body needs two dtypes",
    ): "the scalar registry maps an op class to an emitter of one dtype; Cast alone needs two",
}


IR = CODEGEN.parent / "ir"


def _sources() -> list[Path]:
    """The CPU backend, and the shape plan (ir/shapes.py and its ir/shape_*.py modules)."""
    return sorted(CODEGEN.glob("*.py")) + [IR / "shapes.py", *sorted(IR.glob("shape_*.py"))]


def test_no_op_dispatch_by_isinstance_or_name() -> None:
    offenders = []
    for path in _sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if not (OP_ISINSTANCE.search(code) or NAME_DISPATCH.search(code)):
                continue
            if (path.name, line.strip()) in ALLOWED:
                continue
            offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "dispatch through the LOWERINGS registry instead:\n" + "\n".join(offenders)


def _class_names(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Tuple):
        return [name for element in node.elts for name in _class_names(element)]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return [node.id] if isinstance(node, ast.Name) else []


def test_no_isinstance_on_op_classes() -> None:
    """Whatever the variable is called: isinstance(x, SomeOp) is op dispatch."""
    op_classes = {cls.__name__ for cls in _all_subclasses(Operation)}
    offenders = []
    for path in _sources():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance"):
                continue
            if len(node.args) == 2 and op_classes & set(_class_names(node.args[1])):
                if (path.name, lines[node.lineno - 1].strip()) not in ALLOWED:
                    offenders.append(f"{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not offenders, "dispatch through the LOWERINGS registry instead:\n" + "\n".join(offenders)


def test_allowed_lines_still_exist() -> None:
    """A stale exception would hide a new one on a line that happens to read the same."""
    files = {path.name: path for path in _sources()}
    for name, line in ALLOWED:
        assert line in {raw.strip() for raw in files[name].read_text().splitlines()}, (name, line)


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


# The ops that never reach the backend, and the pass (or op) that removes them first; every
# other registered op that is not elementwise (fuse turns those into kernels) needs an entry.
REMOVED_BEFORE_CODEGEN = {
    "tx.grad": "the grad pass",
    "tx.given": "substitute-givens",
    "tx.stop_gradient": "the grad pass",
    "tx.softmax": "expand-nnet",
    "tx.log_softmax": "expand-nnet",
    "kernel.yield": "lowered as part of its kernel.elementwise",
}
REACHABLE_AFTER_FUSE = sorted(
    (
        cls
        for name, cls in OP_REGISTRY.items()
        if not issubclass(cls, ElementwiseOp) and name not in REMOVED_BEFORE_CODEGEN
    ),
    key=lambda cls: cls.name,
)


def test_reachable_ops_include_the_known_families() -> None:
    families = {KernelElementwise, Reduce, Dot, BatchedDot, Gather, ScatterAdd, *_all_subclasses(RandomOp)}
    families |= {Subtensor, IncSubtensor, Reshape, Concatenate, Arange, Alloc, DimShuffle}
    families |= {Constant, Shape, Size, Load, Store, Return}
    assert families <= set(REACHABLE_AFTER_FUSE)
    assert set(REMOVED_BEFORE_CODEGEN) <= set(OP_REGISTRY)


@pytest.mark.parametrize("cls", REACHABLE_AFTER_FUSE, ids=lambda cls: cls.__name__)
def test_every_op_after_fuse_has_a_lowering(cls: type) -> None:
    assert cls in LOWERINGS, f"{cls.__name__} ('{cls.name}') has no @lowering entry"


def test_random_ops_are_all_covered() -> None:
    assert len(_all_subclasses(RandomOp)) >= 6
