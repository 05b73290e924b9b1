"""The `tc` command line (also `python -m tc`).

    tc opt FILE.tir -p canonicalize,cse,fuse [--print-ir-after-all] [--time-passes]

`tc opt` is the mlir-opt of tc: textual IR in (`-` for stdin), textual IR out.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tc.ir import TcError, parse_module, print_module
from tc.passes import DEFAULT_PIPELINE, PASS_REGISTRY, PassManager, parse_pipeline


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except TcError as err:
        print(f"tc: error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    import tc

    parser = argparse.ArgumentParser(prog="tc", description="tc, a tensor compiler in the spirit of Theano")
    parser.add_argument("--version", action="version", version=f"tc {tc.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    opt = commands.add_parser(
        "opt",
        help="run passes over textual IR (like mlir-opt)",
        description="Read textual IR, run a pass pipeline, print the result.",
    )
    opt.add_argument("file", help="a .tir file, or - for standard input")
    opt.add_argument(
        "-p",
        "--passes",
        default="",
        help="comma-separated pass names; 'default' is tc.function's pipeline. "
        f"Known: {', '.join(sorted(PASS_REGISTRY))}",
    )
    opt.add_argument("-o", "--output", help="write the IR here instead of standard output")
    opt.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    opt.add_argument(
        "--print-ir-after",
        action="append",
        default=[],
        metavar="NAME",
        help="print the IR after the named pass (repeatable)",
    )
    opt.add_argument("--time-passes", action="store_true", help="report the time of each pass")
    opt.add_argument(
        "--verify-each",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="verify the IR after every pass (default: on)",
    )
    opt.add_argument("--locations", action="store_true", help="print op locations")
    opt.set_defaults(run=_run_opt)
    return parser


def _run_opt(args: argparse.Namespace) -> int:
    if args.file == "-":
        text, filename = sys.stdin.read(), "<stdin>"
    else:
        with open(args.file, encoding="utf-8") as handle:
            text, filename = handle.read(), args.file
    module = parse_module(text, filename)
    names = ",".join(DEFAULT_PIPELINE) if args.passes == "default" else args.passes
    print_after = {"all"} if args.print_ir_after_all else set(args.print_ir_after)
    manager = PassManager(
        parse_pipeline(names),
        verify_each=args.verify_each,
        print_after=frozenset(print_after) or None,
        out=sys.stderr,
    )
    manager.run(module)
    if args.time_passes:
        sys.stderr.write(manager.timing_report())
    text = print_module(module, locations=args.locations)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
