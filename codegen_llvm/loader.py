"""Load object code (objectcode.emit_object's, from the compile cache or an artifact)
into the process; compiles nothing.

On x86-64 Linux, elfload.py links it by hand, without loading LLVM (a warm start spent
most of its time importing it), and image_map.py maps the image it makes. Elsewhere, or for
an object that loader does not handle, a fresh MCJIT engine (built on an empty module) takes
the bytes. Either way no compiler and no system linker is needed on the loading machine, no
LLVM optimisation or code generation runs (`jit.compile_count` does not move), and external
symbols (libm, pthreads, malloc) are resolved against the running process. The bytes come
from files, so their structure is checked first (elfcheck.py): a damaged object raises, never crashes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..ir import TcCompilationError
from . import image_map
from .native_module import CodeHolder, NativeModule, default_num_threads
from .symbols import EntryPoint


def load_object(
    data: bytes, entry_points: dict[str, EntryPoint], stages: Mapping[str, str], check: bool = True
) -> NativeModule:
    """A NativeModule over previously emitted object code.

    Raises elfcheck.ObjectCodeError (a TcCompilationError) for object code that is
    not a sound relocatable object defining every entry point. `check=False` is
    for bytes that LLVM has just emitted in this process, not read from a file.
    """
    start = time.perf_counter()
    if check:
        from .elfcheck import check_object  # (mapping an image, a warm start's load, checks none)

        check_object(data, [e.symbol for e in entry_points.values()])
    return _native_module(load_holder(data), entry_points, stages, start)


def load_holder(data: bytes) -> CodeHolder:
    """Object code that LLVM has just emitted in this process, loaded: linked by elfload, or
    where it cannot be, by MCJIT."""
    if image_map.supported():
        from . import elfload  # (mapping an image, a warm start's load, links no object)

        try:
            return elfload.load(data)
        except image_map.NotLoadable:
            pass
    return _mcjit(data)


def load_image(
    image: image_map.Image, entry_points: dict[str, EntryPoint], stages: Mapping[str, str]
) -> NativeModule:
    """A NativeModule over object code's prelinked image (elfload.prelink's, kept in the compile
    cache): ObjectCodeError for an image that is not one, image_map.NotLoadable for one this
    process cannot link (a symbol it lacks: the object code itself then goes to MCJIT)."""
    start = time.perf_counter()
    holder = image_map.map_image(image)
    if not all(holder.runs(holder.get_global_value_address(e.symbol)) for e in entry_points.values()):
        from .elfcheck import ObjectCodeError

        raise ObjectCodeError("an image whose entry points are not in its code")
    return _native_module(holder, entry_points, stages, start)


def _native_module(
    holder: CodeHolder, entry_points: dict[str, EntryPoint], stages: Mapping[str, str], start: float
) -> NativeModule:
    addresses = {name: holder.get_global_value_address(e.symbol) for name, e in entry_points.items()}
    missing = [entry_points[name].symbol for name, address in addresses.items() if not address]
    if missing:
        raise TcCompilationError(f"the object code has no entry point {', '.join(missing)}")
    native = NativeModule(entry_points, addresses, stages, time.perf_counter() - start, holder)
    native.set_num_threads(default_num_threads())
    return native


def _mcjit(data: bytes) -> CodeHolder:
    import llvmlite.binding as llvm

    from .jit import LLVM_LOCK, mcjit_target_machine

    tm = mcjit_target_machine()
    with LLVM_LOCK:
        empty = llvm.parse_assembly("")
        empty.triple = tm.triple
        engine = llvm.create_mcjit_compiler(empty, tm)  # takes ownership of `tm`
        engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        engine.finalize_object()
    return engine  # type: ignore[no-any-return]
