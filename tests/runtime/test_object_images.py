"""Object code in the compile cache keeps its prelinked image (tc/object_cache.py): a warm
load maps the image without checking or relinking the object, computes what the object
code computes, and an image that is damaged, foreign or not linkable here sends the load to
the object code instead, never to a crash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tc
from tc import object_cache
from tc import tensor as T
from tc.codegen_llvm import elfcheck, elfload, image_map

pytestmark = pytest.mark.skipif(not image_map.supported(), reason="images are mapped on x86-64 Linux")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of the test's own; code optimised at once, so that it is in the cache when the
    first compile returns (tiered code would be written later)."""
    monkeypatch.setenv("TC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tc.config, "tiered", "never")


def _compile() -> Any:
    """A function whose code calls libm (tanh's fixups: a linkage entry) and has constants."""
    x = T.dvector("x")
    return tc.function([x], T.tanh(x) * 3 + T.exp(-x).sum())


X = np.linspace(-2.0, 2.0, 37)
EXPECTED = np.tanh(X) * 3 + np.exp(-X).sum()


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often object code is checked (read from its tables) from now on."""
    checks: list[int] = []
    original = elfcheck.check_object

    def counted(*args: Any, **kwargs: Any) -> None:
        checks.append(1)
        original(*args, **kwargs)

    monkeypatch.setattr(elfcheck, "check_object", counted)  # (loader imports it when it checks)
    return checks


def _image_entry(tmp_path: Path) -> Path:
    """The cache file of the image of the function's object code."""
    (entry,) = tmp_path.rglob("*.tcobj")
    payload = entry.read_bytes().split(b"\n", 1)[1]
    key = object_cache._image_key(hashlib.sha256(payload).hexdigest())
    path = tmp_path / key[:2] / f"{key}.tcimage"
    assert path.is_file(), "storing object code did not keep its image"
    return path


def test_a_warm_load_maps_the_image_without_checking_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _compile()
    np.testing.assert_allclose(first(X), EXPECTED, rtol=1e-12)
    checks = _count_checks(monkeypatch)

    def no_prelink(data: bytes) -> None:
        raise AssertionError("a warm load prelinked the object again")

    monkeypatch.setattr(elfload, "prelink", no_prelink)
    again = _compile()
    assert checks == [], "the object code was checked although its image was in the cache"
    assert type(again._code_owner.engine) is image_map.LoadedImage
    np.testing.assert_array_equal(again(X), first(X))


def test_the_cache_gives_back_the_image_prelink_made(tmp_path: Path) -> None:
    """What the cache keeps (a JSON header and the code's bytes) reads back as the image
    prelink makes of the object code, field for field."""
    _compile()
    (entry,) = tmp_path.rglob("*.tcobj")
    data = entry.read_bytes().split(b"\n", 1)[1]
    kept = object_cache._cached_image(hashlib.sha256(data).hexdigest())
    assert kept == elfload.prelink(data)
    assert kept.fixups, "no fixup to read back: a call out of the code was expected"


DAMAGE = {
    "a size beyond any object": lambda h: h.update(size=1 << 40),
    "a fixup outside the image": lambda h: h.update(fixups=[[1, 1 << 30, "", 0]]),
    "a fixup of no known type": lambda h: h.update(fixups=[[26, 0, "", 0]]),
    "a fixup naming a symbol the process lacks": lambda h: h.update(fixups=[[1, 0, "tc_no_such_symbol", 0]]),
    "a region off its page": lambda h: h.update(regions=[[1, 4096, 5]]),
    "a writable and executable region": lambda h: h.update(regions=[[0, 4096, 7]]),
    "symbols that are not a mapping": lambda h: h.update(symbols=[1, 2]),
    "a symbol outside the image": lambda h: h.update(symbols={"tc_f": 1 << 30}),
    "a field missing": lambda h: h.pop("fixups"),
    "fields of other types": lambda h: h.update(regions="code", functions=7),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_an_image_that_is_not_sound_sends_the_load_to_the_object_code(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compile()
    path = _image_entry(tmp_path)
    line, code = path.read_bytes().split(b"\n", 1)
    header = json.loads(line)
    DAMAGE[damage](header)
    header["sha256"] = hashlib.sha256(code).hexdigest()  # a consistent checksum: the cache serves it
    path.write_bytes(json.dumps(header).encode() + b"\n" + code)
    checks = _count_checks(monkeypatch)
    np.testing.assert_allclose(_compile()(X), EXPECTED, rtol=1e-12)
    assert checks, "the object code was not loaded instead of the damaged image"


def test_a_truncated_image_sends_the_load_to_the_object_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compile()
    path = _image_entry(tmp_path)
    line, code = path.read_bytes().split(b"\n", 1)
    header = json.loads(line)
    header["sha256"] = hashlib.sha256(code[:64]).hexdigest()
    path.write_bytes(json.dumps(header).encode() + b"\n" + code[:64])
    checks = _count_checks(monkeypatch)
    np.testing.assert_allclose(_compile()(X), EXPECTED, rtol=1e-12)
    assert checks
