"""Passes over the IR, each registered under a kebab-case name (see manager.py).

Imports only tc.ir. Importing the package imports no pass: its names are looked up when
first used (`__getattr__`), and the pass manager imports a pass's module when a pipeline
first names it (`fuse-gemm` is in fuse_gemm.py; a name found in no such module makes it
import them all). `import tc` and a warm start, which run no pass, then skip the passes' 20
modules (6 ms), and a compile imports only the passes it runs.
"""

import importlib

# What `tc.function` runs, and `tc opt` with `-p default`: the optimisations, then (once the
# shape plans are derived, so that a shape error names the user's op, not a kernel) the
# lowering to kernels, a weight update by a product made one tx.gemm, and the buffer plan.
# expand-nnet comes before the shape plans too: the max inside a softmax needs a non-empty axis.
OPTIMIZE_PIPELINE = (
    "stabilize",
    "grad",
    "substitute-givens",
    "canonicalize",
    "cse",
    "canonicalize",
    "expand-nnet",
    "cse",
)
LOWER_PIPELINE = ("fuse", "cse", "fuse-gemm", "plan-buffers")
DEFAULT_PIPELINE = OPTIMIZE_PIPELINE + LOWER_PIPELINE

# The ops without which a pass changes nothing (the roots of its patterns, the ops it
# replaces): `run_needed` skips such a pass, and leaves its module unimported, when the module
# has none of them as the pass's turn comes. A scalar function's cold compile imported and ran
# five passes for nothing. tests/passes/test_needed_ops.py checks each set.
NEEDED_OPS = {
    "stabilize": frozenset({"tx.log", "tx.div"}),
    "grad": frozenset({"tx.grad", "tx.stop_gradient"}),
    "substitute-givens": frozenset({"tx.given"}),
    "expand-nnet": frozenset({"tx.softmax", "tx.log_softmax"}),
    "fuse-gemm": frozenset({"tx.dot"}),
}

_MANAGER_NAMES = (
    "PASS_REGISTRY",
    "Pass",
    "PassManager",
    "TcPassError",
    "parse_pipeline",
    "run_needed",
    "run_pipeline",
)


def __getattr__(name: str) -> object:
    """The pass manager's names (with every pass registered), and the pass modules."""
    if name in _MANAGER_NAMES:
        from . import manager

        manager.register_all()
        return getattr(manager, name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = [
    "DEFAULT_PIPELINE",
    "LOWER_PIPELINE",
    "NEEDED_OPS",
    "OPTIMIZE_PIPELINE",
    "PASS_REGISTRY",
    "Pass",
    "PassManager",
    "TcPassError",
    "canonicalize",
    "cse",
    "dce",
    "expand_nnet",
    "fold",
    "fuse",
    "fuse_gemm",
    "grad",
    "parse_pipeline",
    "plan_buffers",
    "run_needed",
    "run_pipeline",
    "simplify",
    "stabilize",
    "substitute_givens",
]
