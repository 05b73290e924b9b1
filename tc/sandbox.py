"""`tc.sandbox.rng_mrg.MRG_RandomStreams`: where Theano programs (hmc.py, the dA tutorials)
find their random streams. tc has one kind, Philox-based `tc.random.RandomStreams`; this is
that class under Theano's name."""

from __future__ import annotations

import sys
from types import ModuleType

from .random import RandomStreams

rng_mrg = ModuleType(f"{__name__}.rng_mrg", "Theano's `theano.sandbox.rng_mrg`: `MRG_RandomStreams`.")
rng_mrg.MRG_RandomStreams = RandomStreams  # type: ignore[attr-defined]
rng_mrg.__all__ = ["MRG_RandomStreams"]  # type: ignore[attr-defined]
sys.modules.setdefault(rng_mrg.__name__, rng_mrg)

__all__ = ["rng_mrg"]
