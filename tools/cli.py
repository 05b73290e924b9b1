"""The `tc` command line (also `python -m tc`).

    tc compile model.tx [-o build/model] [-O3] [--emit tir|tir-opt|llvm|llvm-opt|asm]
    tc run model.tx FUNCTION [ARGS...] [--repeat N]    (or an artifact directory for model.tx)
    tc run model.tx --script 'accumulator 1; accumulator 3; state'
    tc opt FILE.tir -p canonicalize,cse,fuse [--print-ir-after-all] [--time-passes]
    tc debugprint model.tx FUNCTION [--stage tir|tir-opt]
    tc graph model.tx FUNCTION [--stage tir|tir-opt] [-o graph.dot|graph.svg|graph.png]

`tc opt` is the mlir-opt of tc: textual IR in (`-` for stdin), textual IR out.
Every error is reported in one line (a .tx error adds its source line and a
caret) with exit status 1; `--traceback` shows the Python traceback instead.
Status 2 is a usage error, or a target that this tc cannot compile for;
status 3 is an internal error (a bug in tc: please report it with --traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tc.ir import TcError, parse_module, print_module
from tc.passes import DEFAULT_PIPELINE, PASS_REGISTRY, PassManager, parse_pipeline

STAGES = ("tir", "tir-opt", "llvm", "llvm-opt", "asm", "ptx")


class UsageError(TcError):
    """A request this tc cannot serve as asked (exit status 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if getattr(args, "traceback", False):
        return int(args.run(args))
    try:
        return int(args.run(args))
    except UsageError as err:
        print(f"tc: error: {err}", file=sys.stderr)
        return 2
    except TcError as err:
        print(_report(err), file=sys.stderr)
        return 1
    except OSError as err:
        where = f" '{err.filename}'" if err.filename else ""
        print(f"tc: error: cannot access{where}: {err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug in tc: still one line, and the way to see more
        print(
            f"tc: internal error: {type(err).__name__}: {err} (run with --traceback to see where)",
            file=sys.stderr,
        )
        return 3


def _report(err: TcError) -> str:
    from tc.frontend.tx import TxError

    if isinstance(err, TxError):  # already `file:line:col: error: ...` with the line and caret
        return str(err)
    return f"tc: error: {err}"


def _parser() -> argparse.ArgumentParser:
    import tc

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS,
        help="on an error, show the Python traceback instead of a one-line message",
    )
    parser = argparse.ArgumentParser(
        prog="tc",
        description="tc, a tensor compiler in the spirit of Theano. "
        "Run `tc COMMAND --help` for each command.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"tc {tc.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_compile(commands, common)
    _add_run(commands, common)
    _add_opt(commands, common)
    _add_debugprint(commands, common)
    _add_graph(commands, common)
    return parser


# -- tc compile ------------------------------------------------------------------------------


def _add_compile(commands: Any, common: argparse.ArgumentParser) -> None:
    compile_ = commands.add_parser(
        "compile",
        parents=[common],
        help="compile a .tx model to an artifact (or print one stage)",
        description="Compile every function of a .tx model ahead of time into an artifact directory "
        "(manifest.json, the object code code.o, and the shared variables' values), which "
        "`tc.load(PATH)` and `tc run PATH ...` use without compiling again. With --emit, print one "
        "stage of the compilation instead.",
    )
    compile_.add_argument("model", help="the .tx file")
    compile_.add_argument("-o", "--output", help="the artifact directory (default: build/MODEL_NAME)")
    compile_.add_argument(
        "--target", choices=("cpu", "cuda"), default="cpu", help="what to compile for (default: cpu)"
    )
    compile_.add_argument(
        "-O",
        dest="opt_level",
        type=int,
        choices=(0, 1, 2, 3),
        default=3,
        help="LLVM optimisation level -O0..-O3",
    )
    compile_.add_argument(
        "--emit",
        choices=STAGES,
        help="print this stage instead of writing an artifact (to -o if given): the IR as built (tir), "
        "after tc's passes (tir-opt), LLVM IR before and after LLVM's passes, or assembly",
    )
    compile_.set_defaults(run=_run_compile)


def _run_compile(args: argparse.Namespace) -> int:
    from tc import artifact

    if args.target == "cuda" and args.emit in ("llvm", "llvm-opt", "asm"):
        raise UsageError(
            f"--emit {args.emit} is a stage of the cpu target; the cuda target's are tir, tir-opt, ptx"
        )
    if args.emit:
        text = _emit(args.model, args.emit, args.opt_level)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    output = Path(args.output or Path("build") / Path(args.model).stem)
    artifact.compile_artifact(args.model, output, args.opt_level, args.target)
    print(f"tc: wrote {output}")
    return 0


def _emit(model: str, stage: str, opt_level: int) -> str:
    from tc import artifact
    from tc.codegen_llvm.objectcode import emit_object
    from tc.compile import optimize_module

    built = artifact.build_file(model)
    if stage == "tir":
        return print_module(built.module)
    stages, _ = optimize_module(built.module)
    if stage == "tir-opt":
        return stages["tir-opt"]
    if stage == "ptx":
        from tc.compile_cuda import module_ptx

        return module_ptx(built.module, artifact.CUDA_ARCHITECTURE)
    code = emit_object(built.module, opt_level, assembly=stage == "asm")
    return code.stages[stage]


# -- tc run ----------------------------------------------------------------------------------


def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common],
        help="call a function of a .tx model or an artifact",
        description="Compile a .tx model (or load an artifact directory written by `tc compile`) and "
        "call FUNCTION with ARGS: numbers, true/false, JSON lists ('[[1, 2], [3, 4]]') or .npy paths. "
        "Each call prints one line (several results separated by ', '; nothing without results).",
        epilog="Script statements (separated by ';' or newlines; '#' comments): 'FUNCTION ARGS...' "
        "calls and prints, 'NAME' prints a shared variable, 'NAME = VALUE' sets one. Example: "
        "tc run examples/tutorial.tx --script 'accumulator 1; accumulator 3; decrementor 1; state'",
    )
    run.add_argument("model", help="a .tx file or an artifact directory")
    run.add_argument("function", nargs="?", help="the function to call")
    run.add_argument("args", nargs="*", metavar="ARG", help="its arguments")
    run.add_argument(
        "--script",
        metavar="TEXT",
        help="run several statements in one process, sharing state ('-' reads stdin, '@FILE' a file)",
    )
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="call the function N times (updates apply each time), print the last result and "
        "report the median time per call on stderr",
    )
    run.add_argument(
        "-O", dest="opt_level", type=int, choices=(0, 1, 2, 3), default=3, help="LLVM optimisation level"
    )
    run.add_argument(
        "--load-shared",
        metavar="DIR",
        help="first set shared variables from DIR/NAME.npy (those without a file keep their value)",
    )
    run.add_argument(
        "--save-shared", metavar="DIR", help="afterwards write every shared variable to DIR/NAME.npy"
    )
    run.add_argument(
        "--profile",
        action="store_true",
        help="time each op of the functions called; print where the time went on stderr",
    )
    run.add_argument(
        "--profile-out",
        metavar="TRACE.json",
        help="with --profile (implied): write the calls' timeline for chrome://tracing or Perfetto",
    )
    run.set_defaults(run=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    from . import run

    if args.script is None and args.function is None:
        raise UsageError("tc run needs a FUNCTION to call or a --script")
    if args.script is not None and args.function is not None:
        raise UsageError("give either FUNCTION [ARGS...] or --script, not both")
    if args.repeat < 1:
        raise UsageError("--repeat needs a positive count")
    profile = args.profile or args.profile_out is not None
    if profile and Path(args.model).is_dir():
        raise UsageError("--profile needs the .tx model: an artifact's code was compiled without timing")
    # One function called: compile only it, so a broken neighbour does not stop it.
    only = [args.function] if args.script is None else None
    module = _load_model(args.model, args.opt_level, only, profile)
    try:
        if args.load_shared is not None:
            run.load_shared(module, args.load_shared)
        if args.script is not None:
            run.run_script(module, run.read_script(args.script), sys.stdout)
        else:
            run.run_once(module, args.function, args.args, args.repeat, sys.stdout, sys.stderr)
        if args.save_shared is not None:
            run.save_shared(module, args.save_shared)
    finally:  # a failed call is profiled too
        if profile:
            run.report_profiles(module, args.profile_out, sys.stderr)
    return 0


def _load_model(
    model: str, opt_level: int = 3, functions: list[str] | None = None, profile: bool = False
) -> Any:
    import tc

    if Path(model).is_dir():
        return tc.load(model)
    return tc.compile_file(model, opt_level, functions=functions, profile=profile)


# -- tc opt ----------------------------------------------------------------------------------


def _add_opt(commands: Any, common: argparse.ArgumentParser) -> None:
    opt = commands.add_parser(
        "opt",
        parents=[common],
        help="run passes over textual IR (like mlir-opt)",
        description="Read textual IR, run a pass pipeline, print the result.",
    )
    opt.add_argument("file", help="a .tir file, - for standard input, or a .tx model (its IR as built)")
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


def _run_opt(args: argparse.Namespace) -> int:
    if args.file == "-":
        stdin = getattr(sys.stdin, "buffer", sys.stdin)  # bytes, so a non-UTF-8 byte is located
        module = parse_module(stdin.read(), "<stdin>")
    elif args.file.endswith(".tx"):  # a model: start from the IR it lowers to
        from tc import artifact

        module = artifact.build_file(args.file).module
    else:
        with open(args.file, "rb") as handle:
            module = parse_module(handle.read(), args.file)
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


# -- tc debugprint and tc graph --------------------------------------------------------------


def _add_debugprint(commands: Any, common: argparse.ArgumentParser) -> None:
    debugprint = commands.add_parser(
        "debugprint",
        parents=[common],
        help="print a function's graph as a Theano-style tree",
        description="Print FUNCTION of a .tx model (or an artifact) as Theano's debugprint does.",
    )
    debugprint.add_argument("model", help="a .tx file or an artifact directory")
    debugprint.add_argument("function", help="the function to print")
    _add_stage(debugprint)
    debugprint.add_argument("--types", action="store_true", help="show each value's type")
    debugprint.set_defaults(run=_run_debugprint)


def _run_debugprint(args: argparse.Namespace) -> int:
    from tc.printing import debugprint

    debugprint(_ir_function(args.model, args.function, args.stage), file=sys.stdout, print_type=args.types)
    return 0


def _add_graph(commands: Any, common: argparse.ArgumentParser) -> None:
    graph = commands.add_parser(
        "graph",
        parents=[common],
        help="draw a function's dataflow graph (DOT, SVG, PNG)",
        description="Write FUNCTION's dataflow graph as Graphviz DOT; .svg, .png and .pdf outputs are "
        "rendered with Graphviz's `dot` program when it is installed.",
    )
    graph.add_argument("model", help="a .tx file or an artifact directory")
    graph.add_argument("function", help="the function to draw")
    _add_stage(graph)
    graph.add_argument("-o", "--output", help="graph.dot, graph.svg, graph.png... (default: DOT on stdout)")
    graph.set_defaults(run=_run_graph)


def _run_graph(args: argparse.Namespace) -> int:
    from . import dot

    text = dot.function_dot(_ir_function(args.model, args.function, args.stage))
    if not args.output:
        sys.stdout.write(text)
        return 0
    print(f"tc: {dot.write_graph(text, Path(args.output))}")
    return 0


def _add_stage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        choices=("tir", "tir-opt"),
        default="tir",
        help="the IR as built (tir, default) or after tc's passes, fused (tir-opt)",
    )


def _ir_function(model: str, name: str, stage: str) -> Any:
    """The IR of one function at `stage`, without generating machine code."""
    from tc import artifact
    from tc.compile import optimize_module

    if Path(model).is_dir():
        manifest = artifact.read_manifest(Path(model))
        module = parse_module(manifest["ir"][stage], f"{model}/manifest.json")
    else:
        built = artifact.build_file(model)
        module = built.module
        if stage == "tir-opt":
            optimize_module(module)
    try:
        return module.function(name)
    except KeyError:
        known = ", ".join(f.name for f in module.functions) or "none"
        raise TcError(f"'{model}' has no function '{name}' (functions: {known})") from None


if __name__ == "__main__":
    sys.exit(main())
