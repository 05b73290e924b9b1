"""Import every module that registers device steps (program.STEP_BUILDERS)."""

from . import cumsum, elementwise, indexing, linalg, random, reduce, views  # noqa: F401
