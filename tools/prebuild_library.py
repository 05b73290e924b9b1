"""Make the support library's parts for the baseline CPUs tc ships them for (tc/prebuilt/).

    python -m tc.tools.prebuild_library           # remake tc/prebuilt/ (a few seconds)
    python -m tc.tools.prebuild_library --check   # exit 1 if the code generator changed since

Run it after changing the code generator (tests/runtime/test_prebuilt_library.py fails until
then): tc/prebuilt_library.py serves a part only while every module that made it is unchanged.
Each baseline is made in a process of its own, which generates code for that CPU instead of
the host (jit.generate_for_cpu) and reports the tc modules it imported: the code generator's
modules among them are the source the parts depend on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys

from tc import prebuilt_library as prebuilt
from tc.prebuilt_library import BASELINES, FOLDER, PARTS, object_name

_SOURCE_PACKAGES = ("tc.codegen_llvm", "tc.ir")
REMAKE = "python -m tc.tools.prebuild_library"


def make_baseline(name: str) -> None:
    """In a child process: write the parts for baseline `name`; print the modules used."""
    from tc.codegen_llvm.jit import generate_for_cpu

    baseline = next(b for b in BASELINES if b.name == name)
    generate_for_cpu(baseline.name, baseline.llvm_features())
    from tc.codegen_llvm.support import support_object, support_text

    for part in PARTS:
        (FOLDER / object_name(name, part)).write_bytes(support_object(support_text(part)))
    used = [name for name, module in sys.modules.items() if name.startswith(_SOURCE_PACKAGES)]
    print(json.dumps([name for name in used if getattr(sys.modules[name], "__file__", None)]))


def make_all() -> None:
    FOLDER.mkdir(exist_ok=True)
    modules: set[str] = set()
    baselines: dict[str, dict[str, dict[str, str]]] = {}
    for baseline in BASELINES:
        command = [sys.executable, "-m", "tc.tools.prebuild_library", "--baseline", baseline.name]
        child = subprocess.run(command, check=True, capture_output=True, text=True)
        modules |= set(json.loads(child.stdout.splitlines()[-1]))
        baselines[baseline.name] = {part: {"sha256": _object_digest(baseline.name, part)} for part in PARTS}
    from tc.codegen_llvm import llvm_c

    manifest = {
        "made by": REMAKE,
        "llvm": ".".join(map(str, llvm_c.version())),
        "sources": {name: prebuilt.source_hash(name) for name in sorted(modules)},
        "baselines": baselines,
    }
    prebuilt.MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{prebuilt.MANIFEST}: {len(modules)} source modules, baselines {', '.join(baselines)}")


def _object_digest(baseline: str, part: str) -> str:
    return hashlib.sha256((FOLDER / object_name(baseline, part)).read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the prebuilt parts are stale")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.baseline:
        make_baseline(args.baseline)
    elif args.check:
        manifest = prebuilt.read_manifest()
        stale = ["(no manifest)"] if manifest is None else prebuilt.stale_sources(manifest)
        if stale:
            sys.exit(f"the prebuilt support library is stale ({', '.join(stale)}): run {REMAKE}")
        print("the prebuilt support library is current")
    else:
        make_all()


if __name__ == "__main__":
    main()
