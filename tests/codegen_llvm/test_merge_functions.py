"""Identical internal functions are printed once, the others as aliases of it
(codegen_llvm/merge_functions.py): never two that differ in code or in the shape of their
metadata, never an external one, and the merged code computes what it did."""

from __future__ import annotations

import numpy as np
import pytest

import tc
import tc.tensor as T
from tc.codegen_llvm import llvm_ir as ll
from tc.codegen_llvm.module_text import printed as module_text

JOB = ll.FunctionType(ll.IntType(32), [ll.DoubleType().as_pointer()])


def _job(module: ll.Module, name: str, scoped: bool, linkage: str = "internal", add: float = 1.0) -> str:
    """`*p + add`, its load in an alias scope of its own when `scoped`; its name."""
    function = ll.Function(module, JOB, module.get_unique_name(name))
    function.linkage = linkage
    builder = ll.IRBuilder(function.append_basic_block("entry"))
    loaded = builder.load(function.args[0])
    if scoped:
        domain = module.add_metadata([])
        domain.distinct = True  # type: ignore[attr-defined]
        loaded.set_metadata("alias.scope", module.add_metadata([module.add_metadata([domain])]))
    builder.store(builder.fadd(loaded, ll.Constant(ll.DoubleType(), add)), function.args[0])
    builder.ret(ll.Constant(ll.IntType(32), 0))
    return function.name


def _aliases(module: ll.Module) -> list[str]:
    return [line for line in module_text(module, merge=True).splitlines() if " alias " in line]


def test_functions_alike_but_for_their_names_and_metadata_numbers_merge() -> None:
    module = ll.Module()
    for _ in range(3):
        _job(module, "job", scoped=True)
    assert _aliases(module) == [
        '@"job.1" = internal alias i32 (double*), i32 (double*)* @"job"',
        '@"job.2" = internal alias i32 (double*), i32 (double*)* @"job"',
    ]


def test_functions_that_call_merged_functions_merge_next() -> None:
    module = ll.Module()
    jobs = [module.get_global(_job(module, "job", scoped=True)) for _ in range(2)]
    for job in jobs:  # each calls its own job: alike once the jobs are
        caller = ll.Function(module, JOB, module.get_unique_name("caller"))
        caller.linkage = "internal"
        builder = ll.IRBuilder(caller.append_basic_block("entry"))
        builder.ret(builder.call(job, [caller.args[0]]))
    assert _aliases(module) == [
        '@"job.1" = internal alias i32 (double*), i32 (double*)* @"job"',
        '@"caller.1" = internal alias i32 (double*), i32 (double*)* @"caller"',
    ]


@pytest.mark.parametrize(
    "second",
    [
        {"scoped": False},  # the same code, one load in an alias scope, the other not
        {"scoped": True, "add": 2.0},  # another constant
        {"scoped": True, "linkage": "external"},  # an entry point is never an alias
    ],
)
def test_functions_that_differ_do_not_merge(second: dict) -> None:  # type: ignore[type-arg]
    module = ll.Module()
    _job(module, "job", scoped=True)
    _job(module, "job", **second)
    assert _aliases(module) == []


def test_two_softmaxes_of_one_shape_share_their_row_reduction() -> None:
    """Two kernels of the same shape outline the same parallel row reduction: LLVM gets it
    once, and both results are right."""
    a, b = T.fmatrix("a"), T.fmatrix("b")
    f = tc.function([a, b], [T.nnet.softmax(a), T.nnet.softmax(b * 2)])
    assert " alias " in f.dump("llvm")
    x, y = np.random.default_rng(0).normal(size=(2, 300, 50)).astype("float32")
    for got, z in zip(f(x, y), (x, y * 2), strict=True):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
