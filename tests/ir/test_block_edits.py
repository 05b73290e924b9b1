"""Block edits are deferred (constant time each) but read back exactly as list edits would."""

from __future__ import annotations

import numpy as np
import pytest

from tc.ir import Block
from tc.ir.ops.builtin import Constant


def const(value: float) -> Constant:
    return Constant.of(np.array(value))


def values(block: Block) -> list[float]:
    return [float(op.value) for op in block.ops]  # type: ignore[attr-defined]


def test_inserts_and_erasures_read_back_in_list_order() -> None:
    block = Block()
    a, b, c = (block.append(const(v)) for v in (1.0, 2.0, 3.0))
    block.insert_before(b, const(1.5))
    block.insert_before(b, const(1.7))  # after the first insert, still before b
    inserted = block.insert_before(c, const(2.5))
    block.insert_before(inserted, const(2.2))  # an anchor that is itself a pending insert
    b.erase()
    assert values(block) == [1.0, 1.5, 1.7, 2.2, 2.5, 3.0]
    assert all(op.parent is block for op in block.ops)
    assert b.parent is None
    a.erase()
    block.append(const(4.0))
    assert values(block) == [1.5, 1.7, 2.2, 2.5, 3.0, 4.0]


def test_an_erased_anchor_keeps_what_was_inserted_before_it() -> None:
    block = Block()
    anchor = block.append(const(1.0))
    block.insert_before(anchor, const(0.5))
    anchor.erase()
    assert values(block) == [0.5]


def test_inserting_before_an_op_of_another_block_is_an_error() -> None:
    elsewhere = Block().append(const(1.0))
    with pytest.raises(ValueError):
        Block().insert_before(elsewhere, const(2.0))
