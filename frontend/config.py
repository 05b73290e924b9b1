"""tc's configuration: one shared object, re-exported as `tc.config`.

Kept in the frontend because the builder is the first thing that reads it
(`T.matrix()` takes its dtype from `floatX`); every later stage sees the same
object through `tc.config`.
"""

from __future__ import annotations

import os
from typing import Any

from ..ir.errors import TcValueError

_FLOAT_DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
TIERED = ("library", "large", "always", "never")


class Section:
    """A group of Theano flags tc has no use for (`config.warn.sum_div_dimshuffle_bug = False`):
    any flag may be set and read back; one never set reads as False."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return False

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()) if k != "_name")
        return f"config.{self._name}({items})"


class Config:
    """Theano's `config`: attributes that change defaults, validated on assignment."""

    floatX: str
    device: str  # where tc.function and tc.shared place code and data by default (TC_DEVICE)
    cuda_tf32: bool  # float32 products on the GPU may use TF32 tensor cores (TC_CUDA_TF32=1)
    log_compiles: bool  # print each compile's time per stage to stderr (TC_LOG_COMPILES=1)
    # Tiered compilation (tc/tiering.py): quick code first, optimised code made in the
    # background then taking the calls over, with the same results bit for bit. "always" (the
    # default): every module and the support library's products; "large": the products and
    # the modules whose LLVM IR is long; "library": the products only; "never". TC_TIERED.
    tiered: str
    # The support library's parts may come prebuilt with tc for a baseline CPU like the host
    # (tc/prebuilt_library.py) instead of being made for the host. TC_PREBUILT_LIBRARY=0: never.
    prebuilt_library: bool

    def __init__(self) -> None:
        self.floatX = "float64"
        self.device = os.environ.get("TC_DEVICE", "cpu") or "cpu"
        self.cuda_tf32 = os.environ.get("TC_CUDA_TF32", "0") == "1"
        self.log_compiles = os.environ.get("TC_LOG_COMPILES", "") not in ("", "0")
        self.tiered = os.environ.get("TC_TIERED", "always") or "always"
        self.prebuilt_library = os.environ.get("TC_PREBUILT_LIBRARY", "1") != "0"
        self.warn = Section("warn")  # Theano's warning flags: accepted, nothing to warn about

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "floatX" and value not in _FLOAT_DTYPES:
            raise TcValueError(f"config.floatX must be one of {_FLOAT_DTYPES}, found {value!r}")
        if key == "device" and value not in DEVICES:
            raise TcValueError(f"config.device must be one of {DEVICES}, found {value!r} (TC_DEVICE)")
        if key == "tiered" and value not in TIERED:
            raise TcValueError(f"config.tiered must be one of {TIERED}, found {value!r} (TC_TIERED)")
        super().__setattr__(key, value)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"Config({items})"


config = Config()

__all__ = ["DEVICES", "Config", "Section", "config"]
