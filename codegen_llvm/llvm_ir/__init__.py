"""tc's LLVM IR builder: the part of llvmlite.ir's interface tc's lowering uses (types,
values, IRBuilder, Module), making the text as it builds.

llvmlite.ir spent most of a lowering in its own bookkeeping: a reference and a type's text
made on first use through an attribute lookup that raised, a chain of format calls per
instruction, name scopes, metadata helpers (py-spy: 57-62% of the logistic-regression
step's lowering), and importing it took 3.8 ms of every cold compile. Here each value knows
its reference and each type its text from the start, and each instruction prints itself
with one f-string, in the same text byte for byte (typed pointers, quoted names), so LLVM
gets the module it got before. llvmlite is still how tc reaches LLVM (its shared library,
through llvm_c.py).
"""

from . import instructions, values
from .builder import IRBuilder
from .instructions import (
    AllocaInstr,
    CallInstr,
    Instruction,
    LoadInstr,
    PhiInstr,
    Ret,
    StoreInstr,
    SwitchInstr,
)
from .module import Module
from .types import (
    ArrayType,
    DoubleType,
    FloatType,
    FunctionType,
    HalfType,
    IntType,
    LabelType,
    LiteralStructType,
    MetaDataType,
    PointerType,
    Type,
    VectorType,
    VoidType,
)
from .values import (
    Argument,
    Block,
    Constant,
    Function,
    GlobalVariable,
    MetaDataString,
    Undefined,
    Value,
)

__all__ = [
    "AllocaInstr",
    "Argument",
    "ArrayType",
    "Block",
    "CallInstr",
    "Constant",
    "DoubleType",
    "FloatType",
    "Function",
    "FunctionType",
    "GlobalVariable",
    "HalfType",
    "IRBuilder",
    "Instruction",
    "IntType",
    "LabelType",
    "LiteralStructType",
    "LoadInstr",
    "MetaDataString",
    "MetaDataType",
    "Module",
    "PhiInstr",
    "PointerType",
    "Ret",
    "StoreInstr",
    "SwitchInstr",
    "Type",
    "Undefined",
    "Value",
    "VectorType",
    "VoidType",
    "instructions",
    "values",
]
