"""Native code from the compile cache: object code keyed by the optimised IR, the host and
the code generator's own source, loaded without running LLVM when it is there."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tc.frontend.config import config
from tc.ir import TcCompilationError
from tc.runtime.cache import CompileCache, cache_directory, cache_key, source_digest

from . import compile_log

if TYPE_CHECKING:
    from tc.codegen_llvm import EntryPoint, NativeModule
    from tc.codegen_llvm.image_map import Image
    from tc.codegen_llvm.objectcode import Lowered, ObjectCode

    from . import tiering
    from .optimized import OptimizedModule


def native_code(
    optimized: OptimizedModule, optimized_ir: str, opt_level: int = 3, profile: bool = False
) -> NativeModule:
    """Native code for the fused module `optimized` (of text `optimized_ir`), from the compile
    cache when it is there; `profile`: code that records each op's runs (codegen_llvm/profile.py)."""
    from tc import __version__
    from tc.codegen_llvm.loader import load_object
    from tc.codegen_llvm.symbols import EntryPoint, entry_symbol

    fingerprint = compiler_fingerprint()
    key = cache_key(
        optimized_ir,
        *host_key(),
        __version__,
        fingerprint,
        str(opt_level),
        *(["profile"] if profile else []),
    )
    cache = CompileCache(cache_directory())
    from . import tiering

    hooks = _cache_hooks(cache, key)
    hit = cache.get(key)
    if hit is not None and hit[0].get("quick") is True and config.tiered not in ("always", "large"):
        hit = None  # parked quick code, where code is to be optimised before its first call
    stages = _cached_stages(hit[0], key) if hit is not None else None
    if hit is not None and stages is not None:
        # The entry points follow from the module, so a header cannot misdirect a call.
        entries = {f.name: EntryPoint(entry_symbol(f.name), f.slot_ranks) for f in optimized.functions}
        try:
            with compile_log.stage("load"):
                if hit[0].get("quick") is True:
                    loaded = _parked(hit[1], entries, stages, hooks)
                else:
                    loaded = load_code(hit[1], entries, stages, digest=hit[0]["sha256"])
            compile_log.note("cache hit")
            return loaded
        except TcCompilationError:
            pass  # object code that fails its check is rebuilt below (and its entry replaced)
    compile_log.note("cache miss")
    caching = cache_directory() is not None  # (TC_CACHE=0: every compile makes its code)
    made = _QUICK_MADE.get(key) if caching else None
    if made is not None and tiering.wanted(made[0], opt_level, profile):
        return tiering.quick_code(*made, hooks)[0]
    from tc.codegen_llvm.objectcode import lower, optimized_object

    lowered = lower(optimized.module, profile)
    if tiering.wanted(lowered, opt_level, profile):
        native, code = tiering.quick_code(lowered, None, hooks)
        if caching:
            _QUICK_MADE[key] = (lowered, code)
            while len(_QUICK_MADE) > QUICK_MADE_KEPT:
                _QUICK_MADE.pop(next(iter(_QUICK_MADE)))
        return native
    code = optimized_object(lowered, opt_level)
    for name, seconds in code.seconds.items():
        compile_log.record(name, seconds)
    hooks.store(code)
    with compile_log.stage("load"):
        return load_object(code.data, code.entry_points, code.stages, check=False)


def _cache_hooks(cache: CompileCache, key: str) -> tiering.CacheHooks:
    """How code of `key` meets the compile cache `cache`: stored once optimised, parked as
    quick code at the process's end, found optimised by another module of the key."""
    from . import tiering

    def store(code: ObjectCode) -> None:
        with compile_log.stage("cache write"):
            # The stages' text (most of an entry's bytes) in an entry of its own, read when asked for.
            CompileCache(cache_directory(), suffix="tcstages").put(key, {}, json.dumps(code.stages).encode())
            put_object(cache, key, {"stages": list(code.stages)}, code.data)
        _QUICK_MADE.pop(key, None)  # a later compile finds the optimised code in the cache

    def park(code: ObjectCode) -> None:
        """Quick code cached as it is, where nothing is cached yet (tiering._at_exit)."""
        if not cache.has(key):
            CompileCache(cache_directory(), suffix="tcstages").put(key, {}, json.dumps(code.stages).encode())
            put_object(cache, key, {"stages": list(code.stages), "quick": True}, code.data)

    def optimised() -> tuple[bytes, Mapping[str, str]] | None:
        """The optimised code cached under this key (another module's of the same code)."""
        found = cache.get(key)
        if found is None or found[0].get("quick") is True:
            return None
        texts = _cached_stages(found[0], key)
        return None if texts is None else (found[1], texts)

    return tiering.CacheHooks(store, park, optimised)


# Quick code made in this process, by key, until its optimised code is cached: the same
# graph compiled again while its first code waits to be optimised (a model rebuilt, a test's
# functions) reloads it (1.3 ms) instead of lowering and emitting it again (11 ms for
# tanh(x) * 3 + exp(-x)).
_QUICK_MADE: dict[str, tuple[Lowered, ObjectCode]] = {}
QUICK_MADE_KEPT = 16


def _parked(
    data: bytes, entries: dict[str, EntryPoint], stages: Mapping[str, str], hooks: tiering.CacheHooks
) -> NativeModule:
    """Quick code an earlier process cached at its end (tiering._at_exit), loaded; optimised
    from its LLVM IR (read from the cache when needed) once its calls pay for that."""
    from . import tiering

    def lowered() -> Lowered:
        from tc.codegen_llvm.objectcode import Lowered  # (LLVM: loaded when the job runs)

        return Lowered(stages["llvm"], entries, 0.0)

    compile_log.note("quick code from the cache")
    return tiering.cached_quick_code(data, entries, lowered, hooks)


@functools.cache
def host_key() -> tuple[str, ...]:
    """What the cache keys say of the host: a fingerprint of the CPU as the operating system
    describes it (code compiled for one CPU is reused only on the same), or, where it
    describes nothing we read, the CPU as LLVM names it. Asking LLVM means loading it, which
    a warm start otherwise never does."""
    from tc.codegen_llvm.host import cpu_fingerprint

    fingerprint = cpu_fingerprint()
    if fingerprint is not None:
        return ("cpu", fingerprint)
    from tc.codegen_llvm.target import host_target

    host = host_target()
    return (host.triple, host.cpu, host.features)


def _cached_stages(header: dict[str, object], key: str) -> Mapping[str, str] | None:
    """The stages' text of a cache entry, read when first asked for; None if the header is
    not what we write."""
    names = header.get("stages")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    return CachedStages(names, key)


class CachedStages(Mapping[str, str]):
    """The LLVM stages of code from the cache ("llvm", "llvm-opt"), read from their own entry
    when first asked for (`f.dump("llvm")`): parsing them cost a warm start 1-2 ms. If that
    entry is gone or damaged, the stages say so instead of their text."""

    def __init__(self, names: list[str], key: str) -> None:
        self.names, self.key = names, key
        self._texts: dict[str, str] | None = None

    def __getitem__(self, name: str) -> str:
        if name not in self.names:
            raise KeyError(name)
        if self._texts is None:
            self._texts = self._read()
        return self._texts.get(name, f"; the {name} text of this cached code is no longer in the cache\n")

    def _read(self) -> dict[str, str]:
        hit = CompileCache(cache_directory(), suffix="tcstages").get(self.key)
        try:
            texts = json.loads(hit[1]) if hit is not None else {}
        except (ValueError, RecursionError):
            return {}
        if not isinstance(texts, dict):
            return {}
        return {k: v for k, v in texts.items() if isinstance(k, str) and isinstance(v, str)}

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def compiler_fingerprint(gpu: bool = False) -> str:
    """A hash of the code generator's own source, so a changed compiler never reuses old code:
    the CPU's (codegen_llvm, ir), or with `gpu` the GPU's, which also lowers through
    codegen_llvm."""
    return source_digest("codegen_llvm", "codegen_ptx", "ir") if gpu else source_digest("codegen_llvm", "ir")


# Object code in the compile cache keeps its prelinked image beside it, so a warm start maps
# code without reading, checking and relocating the object's tables. elfload.prelink lays an
# object out and writes every relocation that no address of the process changes
# (codegen_llvm/image_map.py's Image); what is left are a few fixups (the addresses of libm's and
# libc's functions in the linkage entries). Checking and linking the MLP train step's four
# objects (its kernels, the float32 products, the thread pool and the packed call) took its
# warm start 1.9 ms; mapping their images takes 0.2 ms. An image is kept under the SHA-256 of
# its object code and the code generator's source (prelink's own among it), written whenever
# object code goes into the cache (`put_object`), and read by `load_code` for object code
# read from a file. Its fields are checked before it is mapped (image_map.map_image); an image
# that is missing, damaged or not linkable here sends the load to the object code, checked
# and linked as before. Every object has one, small ones too: mapping the seed's function and
# the packed call (1-2 KB each) from images, not checking and linking them, took its warm
# start from 4.09 to 4.00 ms (medians of 10 alternating runs), the second file read included.


def put_object(cache: CompileCache, key: str, header: dict[str, Any], data: bytes) -> None:
    """Store object code `data` in `cache` under `key`, and its prelinked image."""
    cache.put(key, header, data)
    store_image(data)


def store_image(data: bytes, digest: str | None = None) -> None:
    """Keep the prelinked image of object code `data` (of SHA-256 `digest`), where it is worth
    one and can be prelinked: an object elfload does not link is loaded by MCJIT, without."""
    from tc.codegen_llvm import elfload

    if not elfload.supported():
        return
    images = CompileCache(cache_directory(), suffix="tcimage")
    if images.directory is None:
        return
    try:
        image = elfload.prelink(data)
    except (elfload.NotLoadable, TcCompilationError):
        return
    header = {
        "size": image.size,
        "regions": image.regions,
        "symbols": image.symbols,
        "fixups": image.fixups,
        "functions": image.functions,
    }
    images.put(_image_key(digest or hashlib.sha256(data).hexdigest()), header, image.code)


def load_code(
    data: bytes,
    entries: dict[str, EntryPoint],
    stages: Mapping[str, str],
    check: bool = True,
    digest: str | None = None,
) -> NativeModule:
    """loader.load_object's NativeModule over object code `data` (of SHA-256 `digest`), from
    its prelinked image where the cache has a sound one for this process. `check=False`: code
    LLVM just made, which has no image yet."""
    from tc.codegen_llvm.loader import load_image, load_object

    if check:
        image = _cached_image(digest or hashlib.sha256(data).hexdigest())
        if image is not None:
            from tc.codegen_llvm.image_map import NotLoadable

            try:
                return load_image(image, entries, stages)
            except (NotLoadable, TcCompilationError):
                pass  # the object code itself, checked and linked
    return load_object(data, entries, stages, check=check)


def _cached_image(digest: str) -> Image | None:
    """The image kept for object code of SHA-256 `digest`, or None."""
    hit = CompileCache(cache_directory(), suffix="tcimage").get(_image_key(digest))
    if hit is None:
        return None
    from tc.codegen_llvm.image_map import Image

    header, code = hit
    try:
        return Image(
            header["size"],
            [tuple(region) for region in header["regions"]],
            code,
            dict(header["symbols"]),
            [tuple(fixup) for fixup in header["fixups"]],
            [tuple(function) for function in header["functions"]],
        )
    except (KeyError, TypeError, ValueError):
        return None  # (map_image checks the fields' values)


def _image_key(digest: str) -> str:
    return cache_key("prelinked image", digest, compiler_fingerprint())
