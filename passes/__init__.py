"""Passes over the IR, each registered under a kebab-case name (see manager.py).

Imports only tc.ir.
"""

from . import canonicalize, cse, dce, expand_nnet, fold, fuse, givens, grad, simplify, stabilize
from .manager import PASS_REGISTRY, Pass, PassManager, TcPassError, parse_pipeline, run_pipeline

# What `tc.function` runs by default, and `tc opt` with `-p default`.
DEFAULT_PIPELINE = (
    "stabilize",
    "grad",
    "substitute-givens",
    "canonicalize",
    "cse",
    "canonicalize",
    "expand-nnet",
    "cse",
    "fuse",
    "cse",
)

__all__ = [
    "DEFAULT_PIPELINE",
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
    "run_pipeline",
    "simplify",
    "stabilize",
]
