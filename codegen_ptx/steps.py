"""Import every module that registers device steps (program.STEP_BUILDERS)."""

from . import cumsum, elementwise, indexing, kernel_reduce, linalg, random, reduce, views  # noqa: F401
