"""Golden PTX of a few kernels: what tc hands the driver, reviewed as text.

PTX depends on the LLVM inside llvmlite, so each file records the llvmlite
version it was made with, and the comparison runs only with that version.
TC_UPDATE_GOLDEN=1 rewrites the files (review the diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path

import llvmlite
import pytest

import tc
from tc import tensor as T
from tc.random import RandomStreams

from .harness import fused, needs_ptxas, ptx_of

GOLDEN = Path(__file__).parent / "golden"
HEADER = f"// llvmlite {llvmlite.__version__}\n"


def _cases() -> dict[str, object]:
    x, y = T.fvector("x"), T.fvector("y")
    m = T.dmatrix("m")
    return {
        "axpy_f32": tc.function([x, y], x * 2 + y),
        "transpose_copy_f64": tc.function([m], m.T.reshape((-1,))),
        "uniform_f32": tc.function([], RandomStreams(seed=3).uniform((1000,), dtype="float32")),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_golden_ptx(name: str) -> None:
    needs_ptxas()
    ptx = HEADER + ptx_of(fused(_cases()[name]), "sm_80")
    path = GOLDEN / f"{name}.ptx"
    if os.environ.get("TC_UPDATE_GOLDEN"):
        path.write_text(ptx)
    expected = path.read_text()
    if not expected.startswith(HEADER):
        pytest.skip(f"{path.name} was made with {expected.splitlines()[0][3:]}; this is {HEADER[3:].strip()}")
    assert ptx == expected
