"""`tc run`: call a model's functions from the command line.

Arguments are numbers, `true`/`false`, JSON lists (`[[1, 2], [3, 4]]`) or
`.npy` paths. Numbers and lists are converted to the parameter's dtype when
that loses nothing (text has no dtype of its own); an array from a .npy file
is passed as it is and follows the runtime's rules.

A script runs several statements in one process, so they share the model's
shared variables:

    accumulator 1; accumulator 3     call a function, print its result(s)
    state                            print a shared variable
    state = 10                       set a shared variable
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from tc.ir import TcError, TcTypeError, TcValueError, TensorType

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "+inf": math.inf}


class ScriptError(TcValueError):
    """A malformed statement in a `tc run --script`."""


def parse_argument(text: str, name: str, type: TensorType | None) -> Any:
    """One command-line argument for the parameter `name` of type `type`."""
    if text.endswith(".npy"):
        try:
            return np.load(text, allow_pickle=False)
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise TcValueError(f"argument '{name}': cannot read '{text}': {reason}") from err
    value = _parse_literal(text, name)
    if type is None:
        return value
    try:
        array = np.asarray(value)
    except ValueError as err:
        raise TcValueError(f"argument '{name}': {text} is not a rectangular array") from err
    if array.dtype.kind not in "biuf":
        raise TcTypeError(f"argument '{name}': {text} is not numeric")
    target = type.dtype.numpy
    converted = array.astype(target)
    if not (array.dtype.kind == "f" and target.kind == "f"):
        with np.errstate(invalid="ignore"):
            exact = np.array_equal(converted.astype(array.dtype), array)
        if not exact:
            raise TcTypeError(
                f"argument '{name}' is {type.dtype}: {text} cannot be stored in it without loss"
            )
    return converted


def _parse_literal(text: str, name: str) -> Any:
    lowered = text.strip().lower()
    if lowered in _SPECIAL:
        return _SPECIAL[lowered]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    raise TcValueError(
        f"argument '{name}': cannot read {text!r} as a number, true/false, a JSON list or a .npy path"
    )


def format_value(value: Any) -> str:
    """A result as text that `parse_argument` reads back: `1.0`, `true`, `[[1, 2], [3, 4]]`."""
    array = np.asarray(value)
    if array.ndim == 0:
        item = array[()]
        if array.dtype.kind == "b":
            return "true" if item else "false"
        return str(item)  # numpy's shortest round-trip text for the value's own dtype
    return "[" + ", ".join(format_value(row) for row in array) + "]"


def format_results(result: Any) -> str:
    if isinstance(result, list):
        return ", ".join(format_value(r) for r in result)
    return format_value(result)


def call_function(module: Any, name: str, texts: list[str]) -> Callable[[], Any]:
    """A no-argument callable that calls `module`'s function `name` with the parsed `texts`."""
    function = _function(module, name)
    inputs = getattr(function, "inputs", None)
    if inputs is not None and len(texts) != len(inputs):
        names = ", ".join(f"{s.name}: {s.type}" for s in inputs)
        raise TcTypeError(f"function '{name}' takes {len(inputs)} argument(s) ({names}), found {len(texts)}")
    specs = inputs or [None] * len(texts)
    arguments = [
        parse_argument(text, spec.name if spec else f"#{i}", spec.type if spec else None)
        for i, (text, spec) in enumerate(zip(texts, specs, strict=True))
    ]
    return lambda: function(*arguments)


def run_once(module: Any, name: str, texts: list[str], repeat: int, out: IO[str], err: IO[str]) -> None:
    """Call `name` `repeat` times (updates apply each time), print the last result and,
    when repeating, the median time per call."""
    call = call_function(module, name, texts)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    if repeat > 1:
        err.write(f"{name}: median {_duration(statistics.median(times))} per call over {repeat} calls\n")
    _write_results(result, out)


def run_script(module: Any, text: str, out: IO[str]) -> None:
    for number, statement in enumerate(split_statements(text), start=1):
        try:
            _run_statement(module, statement, out)
        except TcError as err:
            raise ScriptError(f"script statement {number} ({statement!r}): {err}") from err


def split_statements(text: str) -> list[str]:
    lines = [re.sub(r"#.*", "", line) for line in text.splitlines()]
    return [s.strip() for line in lines for s in line.split(";") if s.strip()]


def _run_statement(module: Any, statement: str, out: IO[str]) -> None:
    assignment = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)", statement)
    if assignment:
        name, text = assignment.groups()
        variable = _shared(module, name)
        variable.set_value(parse_argument(text.strip(), name, variable.type))
        return
    words = split_words(statement)
    name, texts = words[0], words[1:]
    if name in module.shared and not texts:
        out.write(format_value(module.shared[name].get_value()) + "\n")
        return
    _write_results(call_function(module, name, texts)(), out)


def _write_results(result: Any, out: IO[str]) -> None:
    """One line per call; a function without results prints nothing."""
    if not (isinstance(result, list) and not result):
        out.write(format_results(result) + "\n")


def split_words(statement: str) -> list[str]:
    """Split on blanks, keeping `[1, 2]` together."""
    words: list[str] = []
    depth, current = 0, ""
    for char in statement:
        if char.isspace() and depth == 0:
            if current:
                words.append(current)
            current = ""
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current += char
    if depth != 0:
        raise ScriptError(f"unbalanced brackets in {statement!r}")
    return [*words, current] if current else words


def _function(module: Any, name: str) -> Any:
    if name not in module.functions:
        known = ", ".join(module.functions) or "none"
        raise TcValueError(f"'{module.origin}' has no function '{name}' (functions: {known})")
    return module.functions[name]


def _shared(module: Any, name: str) -> Any:
    if name not in module.shared:
        known = ", ".join(module.shared) or "none"
        raise ScriptError(f"'{name}' is not a shared variable (shared variables: {known})")
    return module.shared[name]


def _duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def read_script(text: str) -> str:
    """`-` reads standard input, `@FILE` a file; anything else is the script itself."""
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as handle:
            return handle.read()
    return text


def load_shared(module: Any, directory: str) -> None:
    """Set the model's shared variables from NAME.npy files in `directory` (as `--save-shared`
    and artifacts write them); a variable with no file keeps its value. Every file is read
    and checked before any variable changes."""
    folder = Path(directory)
    if not folder.is_dir():
        raise TcValueError(f"--load-shared {directory}: no such folder")
    variables = module.shared
    unknown = sorted(p.name for p in folder.glob("*.npy") if p.stem not in variables)
    if unknown:
        raise TcValueError(
            f"--load-shared {directory}: {', '.join(unknown)} match(es) no shared variable of the model "
            f"(it has {', '.join(sorted(variables)) or 'none'})"
        )
    values = {}
    for name, variable in variables.items():
        path = folder / f"{name}.npy"
        if path.exists():
            value = parse_argument(str(path), name, None)
            try:
                values[name] = variable.container.convert(value, copy=False)
            except TcError as err:
                raise type(err)(f"{path}: {err}") from err
    for name, value in values.items():
        variables[name].set_value(value, borrow=True)


def save_shared(module: Any, directory: str) -> None:
    """Write each shared variable to `directory`/NAME.npy (each file replaced atomically)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name, variable in module.shared.items():
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}-", suffix=".npy", delete=False) as out:
            np.save(out, variable.get_value(borrow=True), allow_pickle=False)
        os.replace(out.name, folder / f"{name}.npy")


def report_profiles(module: Any, trace_path: str | None, err: IO[str]) -> None:
    """`tc run --profile`: the summary of each function called, and the timeline if asked."""
    profiles = [f.profile for f in module.functions.values() if getattr(f, "profile", None) is not None]
    called = [p for p in profiles if p.calls]
    for profile in called:
        profile.summary(file=err)
    if not called:
        print("tc: --profile: no function was called", file=err)
    if trace_path is not None:
        from tc.runtime.profile_report import write_trace

        write_trace(trace_path, called)
        print(f"tc: wrote the timeline of {len(called)} function(s) to {trace_path}", file=err)
