"""`tc.scalar`: the helpers of Theano's `theano.scalar` that tutorial code uses.

tc.scalar.upcast("int8", "float32")   # 'float32'
"""

from __future__ import annotations

import numpy as np

from .frontend.graph import DTypeSpec, parse_dtype


def upcast(dtype: DTypeSpec, *dtypes: DTypeSpec) -> str:
    """The dtype that holds every value of each of `dtypes` (numpy's rule, as Theano's)."""
    kinds = [parse_dtype(d).numpy for d in (dtype, *dtypes)]  # an unknown name is a TcTypeError
    return str(np.result_type(*kinds))


__all__ = ["upcast"]
