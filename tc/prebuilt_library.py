"""The support library prebuilt for baseline x86-64 CPUs, shipped with tc (tc/prebuilt/).

An empty compile cache's first compile used to make the support library's parts for the host
(codegen_llvm/support.py): a dtype's products are 0.07 s of Python and 0.08 s of LLVM made
quick, 0.9 s optimised, and the packed call every call runs 0.02 s optimised. tc carries them
optimised for two baselines, made by `python -m tc.tools.prebuild_library` from this code
generator: x86-64-v4 (AVX-512) and x86-64-v3 (AVX2, FMA). A missing part is loaded from
there, optimised for the baseline, when

- the code generator's source that made the parts is this one, module for module (the
  SHA-256 of each file the maker's process imported from tc.codegen_llvm and tc.ir is in
  manifest.json): a changed kernel is never served by old code;
- the baseline's vectors are the host's (the kernels' IR depends on the host only through its
  vector width, register_tile.py and control.py, and the modules' code calls the tiles with
  that geometry) and the host has every feature of the baseline: the code is then what the
  host would make but for LLVM's scheduling model (x86-64-v4's, not this CPU's);
- `config.prebuilt_library` (TC_PREBUILT_LIBRARY=0 makes every part for the host).

The packed call and the pool are then final (cached as the host's own); a dtype's products
are quick code, optimised for the host in the background (library_parts._prebuilt).

Anything else (another CPU, a stale or damaged file) falls back to making the part.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from tc.frontend.config import config
from tc.runtime.cache import recorded_hashes, recorded_sha256

FOLDER = Path(__file__).parent / "prebuilt"
MANIFEST = FOLDER / "manifest.json"
PARTS = ("call", "pool", "f32", "f64")
_V3 = "avx,avx2,bmi,bmi2,cx16,f16c,fma,lzcnt,movbe,popcnt,sahf,sse3,sse4.1,sse4.2,ssse3,xsave"
_V4 = f"{_V3},avx512bw,avx512cd,avx512dq,avx512f,avx512vl"


class Baseline:
    """A CPU the library is prebuilt for: LLVM's name for it and the features it has. (A plain
    class: defining a typing.NamedTuple cost an empty cache's first compile 0.08 ms.)"""

    __slots__ = ("name", "features")

    def __init__(self, name: str, features: tuple[str, ...]) -> None:
        self.name, self.features = name, features

    @property
    def wide(self) -> bool:
        """Whether its vectors are AVX-512's (the kernels' register tiles follow)."""
        return "avx512f" in self.features

    def llvm_features(self) -> str:
        return ",".join(f"+{feature}" for feature in self.features)


BASELINES = (Baseline("x86-64-v4", tuple(_V4.split(","))), Baseline("x86-64-v3", tuple(_V3.split(","))))


def object_name(baseline: str, part: str) -> str:
    return f"{baseline}-{part}.o"


def serves(part: str) -> bool:
    """Whether `part` is prebuilt for a baseline this host runs as its own (see the module's
    docstring; the object's own check is prebuilt_part's)."""
    from tc.library_parts import FINAL_PARTS
    from tc.tiering import library_wanted

    if not config.prebuilt_library or (part not in FINAL_PARTS and not library_wanted()):
        return False  # (without tiering, a dtype's products are optimised for the host first)
    chosen = _usable_baseline()
    return chosen is not None and isinstance(chosen[1]["baselines"][chosen[0].name].get(part), dict)


def prebuilt_part(part: str) -> tuple[str, bytes] | None:
    """(the baseline, the object code) of `part` prebuilt for a baseline this host runs as
    its own, or None."""
    if not serves(part):
        return None
    baseline, manifest = _usable_baseline()  # type: ignore[misc]
    entry = manifest["baselines"][baseline.name][part]
    try:
        data = (FOLDER / object_name(baseline.name, part)).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return None
    return baseline.name, data


@functools.cache
def _usable_baseline() -> tuple[Baseline, dict] | None:  # type: ignore[type-arg]
    """The baseline this host takes the library of, with the manifest; asked once."""
    manifest = read_manifest()
    if manifest is None or stale_sources(manifest):
        return None
    from tc.codegen_llvm.jit import host_cpu
    from tc.codegen_llvm.register_tile import vector_bytes

    host = {f[1:] for f in host_cpu()[1].split(",") if f.startswith("+")}
    wide = vector_bytes() == 64
    for baseline in BASELINES:
        runs = baseline.wide == wide and set(baseline.features) <= host
        if runs and baseline.name in manifest["baselines"]:
            return baseline, manifest
    return None


def read_manifest() -> dict | None:  # type: ignore[type-arg]
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sources"), dict):
        return None
    return manifest if isinstance(manifest.get("baselines"), dict) else None


def stale_sources(manifest: dict) -> list[str]:  # type: ignore[type-arg]
    """The modules of `manifest` whose source is not the one the parts were made from."""
    recorded = recorded_hashes(os.path.dirname(os.path.dirname(__file__)))
    return [
        name
        for name, digest in manifest["sources"].items()
        if not _recorded_as(recorded, name, digest) and source_hash(name) != digest
    ]


def _recorded_as(recorded: dict[str, str], module: str, digest: str) -> bool:
    """Whether the installed wheel's RECORD lists `module`'s source with `digest` (its SHA-256
    as RECORD writes it, the manifest's form): pip checked each file against it as it
    installed them, and reading and hashing the 81 sources cost an empty cache's first
    compile 0.9 ms (an editable install has no RECORD)."""
    if not recorded or not isinstance(digest, str):
        return False  # (a damaged manifest's entry: the source is hashed, and found stale)
    path = module.replace(".", "/")
    return digest in (recorded.get(f"{path}.py"), recorded.get(f"{path}/__init__.py"))


def source_hash(module: str) -> str | None:
    """The SHA-256 of tc module `module`'s source file (found, not imported) as a wheel's
    RECORD writes it, or None."""
    try:
        path = _source_file(module)
        if path is None:
            return None
        with open(path, "rb") as source:
            return recorded_sha256(source.read())
    except (ImportError, OSError, ValueError):
        return None


def _source_file(module: str) -> str | None:
    """Where `module` is loaded from, or would be: found beside its package where that is
    loaded (an empty cache's first compile asked importlib for 79 modules: 0.65 ms)."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        return getattr(loaded, "__file__", None)
    package, _, name = module.rpartition(".")
    folders = getattr(sys.modules.get(package), "__path__", None)
    if folders:
        found = os.path.join(folders[0], f"{name}.py")
        if os.path.isfile(found):
            return found
    spec = importlib.util.find_spec(module)
    return None if spec is None else spec.origin
