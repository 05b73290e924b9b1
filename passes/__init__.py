"""Passes over the IR, each registered under a kebab-case name (see manager.py).

Imports only tc.ir.
"""

from . import canonicalize, cse, dce, expand_nnet, fold, fuse, givens, grad, plan_buffers, simplify, stabilize
from .manager import PASS_REGISTRY, Pass, PassManager, TcPassError, parse_pipeline, run_pipeline

# What `tc.function` runs, and `tc opt` with `-p default`: the optimisations, then (once the
# shape plans are derived, so that a shape error names the user's op, not a kernel) the
# lowering to kernels and the buffer plan. expand-nnet comes before the shape plans too: the
# max inside a softmax needs a non-empty axis.
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
LOWER_PIPELINE = ("fuse", "cse", "plan-buffers")
DEFAULT_PIPELINE = OPTIMIZE_PIPELINE + LOWER_PIPELINE

__all__ = [
    "DEFAULT_PIPELINE",
    "LOWER_PIPELINE",
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
    "givens",
    "grad",
    "parse_pipeline",
    "plan_buffers",
    "run_pipeline",
    "simplify",
    "stabilize",
]
