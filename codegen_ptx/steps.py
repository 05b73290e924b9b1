"""Import every module that registers device steps (program.STEP_BUILDERS)."""

from . import elementwise  # noqa: F401
