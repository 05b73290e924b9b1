"""Seeded mutations of .tx and .tir text, and the campaign that feeds them to tc's front ends.

Hostile input must end in success or a located `TcError`, within a time bound:
never a Python exception of another kind, never a hang. A campaign takes the
example and golden inputs (and IR printed from built functions), mutates
them with a seeded generator (tokens, lines, nesting, unicode, bytes that are
not UTF-8), runs each mutant the way the CLI would, and counts the outcomes.

    python tests/fuzz/mutators.py --count 5000 --seed 1     # a report, as JSON

`tests/fuzz/test_parser_fuzz.py` runs a short campaign by default and a long
one with `TC_FUZZ_LONG=1` (or `--runslow`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# -- seeds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """One input to mutate: its language ("tx" or "tir"), a name for reports, and its text."""

    kind: str
    name: str
    text: str


# Every construct of the language at least once, so that mutants reach every lowering path.
TOUR_TX = """\
# A tour of the language for the fuzzer: every construct at least once.
shared W: f32[3, 4] = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
shared v: f64[?] = zeros([5])
shared n: i64 = 7
random rng(seed = 42)

fn tour(x: f32[?, 3], i: i64, m: bool[?], _unused: u8) -> (f32[?, 4], f64, i64[2]) {
    let h: f32[?, 4] = relu(dot(x, W), alpha = 0.1)
    let s = sum(h, axis = 1, keepdims = true) / 2.5 - -h ** 2 // 3 % 7
    let k = argmax(h[:, ::2], axis = 1)
    let c = switch(m[0] | true ^ false & ~m[0], 1.0, 0.0)
    let r = reshape(flatten(alloc(v[0], 1, 7)), [7])
    let p = clip(cast(r, f32), -1, upper = pi) + rng.uniform(shape = [7], low = 0, high = 1)
    let z = where(x > 0 & x <= 1, x, exp(x)) * sin(2 ** -1) + log_softmax(x)[i, 0]
    update n = n + max(k) + i
    update v = v * 0.5 + mean(p) + sum(z)
    return h + s, c + 1e-3, stack(n, i)
}

fn grads(t: f64[?]) -> f64 given n = 3 no_default_updates {
    let cost = mean(sqr(t * v[0:1]) + softplus(t)) + cast(n, f64)
    return grad(cost, t)[0] + rng.normal(shape = [1], avg = 0.0, std = 1.0)[0]
}
"""


def seed_corpus() -> list[Seed]:
    """The example models, the golden files, and IR printed from the examples as built and optimised."""
    seeds = [Seed("tx", "the tour (mutators.py)", TOUR_TX)]
    seeds += [Seed("tx", str(p.relative_to(ROOT)), p.read_text()) for p in sorted(ROOT.glob("examples/*.tx"))]
    seeds += [
        Seed("tx", str(p.relative_to(ROOT)), p.read_text())
        for p in sorted((ROOT / "tests/frontend/tx/golden").glob("*.tx"))
    ]
    for directory in ("tests/passes/golden", "tests/frontend/tx/golden"):
        seeds += [
            Seed("tir", str(p.relative_to(ROOT)), p.read_text())
            for p in sorted((ROOT / directory).glob("*.tir"))
        ]
    seeds += list(_printed_ir())
    return seeds


def _printed_ir() -> Iterator[Seed]:
    """The IR of built functions: each example as lowered (with locations) and after the passes
    (fused kernels, so regions), and a small graph built with the Python API."""
    import tc.tensor as T
    from tc.artifact import build_file
    from tc.compile import optimize_module
    from tc.frontend.lower import build_function_ir
    from tc.ir import print_module

    for path in sorted(ROOT.glob("examples/*.tx")):
        built = build_file(path)
        yield Seed("tir", f"{path.name} as built", print_module(built.module, locations=True))
        stages, _ = optimize_module(built.module)
        yield Seed("tir", f"{path.name} optimised", stages["tir-opt"])
    x, w = T.dmatrix("x"), T.dmatrix("w")
    b = T.dvector("b")
    hidden = T.tanh(T.dot(x, w) + b)
    cost = T.mean(T.sqr(hidden)) + T.sum(T.nnet.softmax(hidden)[:, 0])
    module = build_function_ir("mlp", [x, w, b], [cost, T.grad(cost, w)])
    yield Seed("tir", "python mlp as built", print_module(module))
    optimize_module(module)
    yield Seed("tir", "python mlp optimised", print_module(module))


# -- mutations -------------------------------------------------------------------------------

# Values that break parsers: sizes beyond i64 and beyond memory, signs, non-finite floats.
# (No size between memory and i64 that numpy would actually try to fill: the fuzzer must not
# page the machine out.)
NUMBERS = [
    "0", "-0", "1", "-1", "2", "-7", "0.0", "-0.0", "1.5", "1e308", "1e400", "-1e400", "inf", "-inf",
    "nan", "2147483648", "4294967296", "1099511627776", "4611686018427387904",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "99999999999999999999999999999", "9" * 400, "1" * 5000, "0x10", "1_000", "١٢",
]  # fmt: skip
DTYPES = ["f64", "f32", "i64", "i32", "i16", "i8", "u8", "bool", "f16", "c64", "float64", "x", "i"]
UNICODE = [
    "\u202e", "\u200f", "\u200b", "\ufeff", "\u0301", "é", "λ", "𝑥", "😀", "\x00", "\x0b", "\x0c",
    "\u2028", "\u00a0", "\uff11", "\u0430", "\r", "\t",
]  # fmt: skip
BAD_BYTES = [
    b"\xff",
    b"\xfe\xff",
    b"\xc0\x80",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\x80",
    b"\xf8\x88\x80\x80\x80",
]
TX_WORDS = [
    "fn", "shared", "random", "let", "update", "return", "given", "no_default_updates", "true",
    "false", "sum", "dot", "grad", "zeros", "ones", "x", "f64", "i32", "pi", "inf", "->", "=",
    ":", ",", ".", "+", "-", "*", "/", "//", "%", "**", "<", "==", "&", "|", "^", "~", "@", ";", "?",
]  # fmt: skip
TIR_WORDS = [
    "module", "func", "return", "tx.global", "tx.constant", "tx.add", "tx.load", "tx.store",
    "tx.dot", "tx.fused", "tx.given", "loc", "dense<1>", "dense<[1, 2]>", "tensor<f64>",
    "tensor<?xf64>", "%x", "%0", "@f", "@state", "^bb0", "->", "=", ":", ",", "(", ")", "{", "}",
    "[", "]", "true", '"s"', "//",
]  # fmt: skip
_TOKEN = re.compile(
    r"\s+|tensor<[^>\n]*>|dense<[^>\n]*>|[%@^]?[A-Za-z_][A-Za-z0-9_.$]*|%\d+"
    r"|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\"(?:[^\"\\\n]|\\.)*\"|.",
    re.S,
)
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_TIR_TYPE = re.compile(r"tensor<[^>\n]*>")
_TX_TYPE = re.compile(r"\b(?:f64|f32|i64|i32|i16|i8|u8|bool)\b(?:\[[^\]\n]*\])?")
_TIR_NAME = re.compile(r"[%@^][A-Za-z0-9_$.]+")
_TX_NAME = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _significant(tokens: list[str]) -> list[int]:
    return [i for i, t in enumerate(tokens) if not t.isspace()]


def _replace_match(
    rng: random.Random, text: str, pattern: re.Pattern[str], make: Callable[[str], str]
) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = rng.choice(matches)
    return text[: m.start()] + make(m.group()) + text[m.end() :]


def delete_token(rng: random.Random, text: str, kind: str) -> str:
    tokens = _tokens(text)
    places = _significant(tokens)
    if places:
        del tokens[rng.choice(places)]
    return "".join(tokens)


def duplicate_token(rng: random.Random, text: str, kind: str) -> str:
    tokens = _tokens(text)
    places = _significant(tokens)
    if places:
        i = rng.choice(places)
        tokens.insert(i, tokens[i] + rng.choice(["", " "]))
    return "".join(tokens)


def swap_tokens(rng: random.Random, text: str, kind: str) -> str:
    tokens = _tokens(text)
    places = _significant(tokens)
    if len(places) > 1:
        i, j = rng.sample(places, 2)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens)


def insert_word(rng: random.Random, text: str, kind: str) -> str:
    tokens = _tokens(text)
    words = TX_WORDS if kind == "tx" else TIR_WORDS
    tokens.insert(rng.randrange(len(tokens) + 1), f" {rng.choice(words)} ")
    return "".join(tokens)


def replace_number(rng: random.Random, text: str, kind: str) -> str:
    return _replace_match(rng, text, _NUMBER, lambda _: rng.choice(NUMBERS))


def change_type(rng: random.Random, text: str, kind: str) -> str:
    def dims() -> list[str]:
        return [
            rng.choice(["?", "0", "1", "3", "4", "1099511627776", "99999999999999999999"])
            for _ in range(rng.randrange(4))
        ]

    if kind == "tir":
        return _replace_match(
            rng,
            text,
            _TIR_TYPE,
            lambda _: "tensor<" + "".join(d + "x" for d in dims()) + rng.choice(DTYPES) + ">",
        )
    return _replace_match(
        rng,
        text,
        _TX_TYPE,
        lambda _: rng.choice(DTYPES) + (f"[{', '.join(dims())}]" if rng.random() < 0.7 else ""),
    )


def rename(rng: random.Random, text: str, kind: str) -> str:
    if kind == "tir":
        return _replace_match(
            rng,
            text,
            _TIR_NAME,
            lambda old: old[0] + rng.choice(["nope", "0", "999", "x", "f", "state", "a.b"]),
        )
    return _replace_match(
        rng,
        text,
        _TX_NAME,
        lambda _: rng.choice(["nope", "x", "state", "f64", "fn", "return", "sin", "rng", "pi", "_"]),
    )


def swap_callee(rng: random.Random, text: str, kind: str) -> str:
    """Another op (in IR) or builtin function (in .tx) where one stood: every type rule and
    every builder function meets arguments it was not written for."""
    if kind == "tir":
        from tc.ir import OP_REGISTRY

        names = sorted(OP_REGISTRY)
        return _replace_match(
            rng, text, re.compile(r"\b(?:tx\.[a-z_.]+|return)\b"), lambda _: rng.choice(names)
        )
    from tc.frontend.tx.builtins import FUNCTIONS

    names = sorted(FUNCTIONS)
    return _replace_match(rng, text, re.compile(r"\b[a-z_][a-z0-9_]*(?=\()"), lambda _: rng.choice(names))


# Attribute (IR) and keyword-argument (.tx) values of every kind, right and wrong.
ATTRIBUTE_VALUES = [
    "0", "1", "-1", "2", "5", "-7", "9223372036854775808", "1.5", "-0.0", "nan", "true", "false",
    '"sum"', '"max"', '"bogus"', '""', "[]", "[0]", "[1, 0]", "[0, 0]", "[-1]", "[5]", "[0, -1, 1]",
    "[[0]]", "[true]", '["a"]', "tensor<f64>", "tensor<?xi64>", "dense<[1, 2]> : tensor<2xi64>", "@f",
]  # fmt: skip
KEYWORD_VALUES = [
    "0", "1", "-1", "5", "1.5", "true", "nan", '"half_away_from_zero"', '"x"', "[]", "[0, 1]",
    "[[1]]", "[-1]", "f32", "bool", "i8", "x", "pi", "[2, -3]", "[99999999999999999999]",
]  # fmt: skip


def change_attribute(rng: random.Random, text: str, kind: str) -> str:
    """A new value for one `name = value` inside `{...}` (IR) or a call's keyword (.tx)."""
    if kind == "tir":
        pattern = re.compile(r"(?<=[{,] )([a-z_]+ = )(\[[^\]]*\]|[^,{}\[]+)(?=[,}])")
        values = ATTRIBUTE_VALUES
    else:
        pattern = re.compile(r"([a-z_]+ = )(\[[^\]\n]*\]|[^,()\[\n]+)(?=[,)])")
        values = KEYWORD_VALUES
    matches = list(pattern.finditer(text))
    if not matches:
        return replace_number(rng, text, kind)
    m = rng.choice(matches)
    return text[: m.start(2)] + rng.choice(values) + text[m.end(2) :]


def delete_line(rng: random.Random, text: str, kind: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines:
        del lines[rng.randrange(len(lines))]
    return "".join(lines)


def duplicate_line(rng: random.Random, text: str, kind: str) -> str:
    lines = text.splitlines(keepends=True)
    if lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i] if lines[i].endswith("\n") else lines[i] + "\n")
    return "".join(lines)


def swap_lines(rng: random.Random, text: str, kind: str) -> str:
    lines = text.splitlines(keepends=True)
    if len(lines) > 1:
        i, j = rng.sample(range(len(lines)), 2)
        lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def truncate(rng: random.Random, text: str, kind: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def unbalance(rng: random.Random, text: str, kind: str) -> str:
    at = rng.randrange(len(text) + 1)
    if rng.random() < 0.5:
        return text[:at] + rng.choice("()[]{}<>") + text[at:]
    closers = [i for i, c in enumerate(text) if c in ")]}>"]
    if not closers:
        return text
    i = rng.choice(closers)
    return text[:i] + text[i + 1 :]


def deep_nesting(rng: random.Random, text: str, kind: str) -> str:
    """Wrap a token in hundreds or thousands of brackets: a test of every recursive walk."""
    tokens = _tokens(text)
    places = _significant(tokens)
    if not places:
        return text
    i = rng.choice(places)
    depth = rng.choice([40, 120, 1000, 5000])
    open_, close = rng.choice(
        [("(", ")"), ("[", "]"), ("{", "}"), ("-", ""), ("sin(", ")"), ("dense<[", "]>")]
    )
    tokens[i] = open_ * depth + tokens[i] + close * depth
    return "".join(tokens)


def long_chain(rng: random.Random, text: str, kind: str) -> str:
    """`x + x + ... + x` where a name stood: long left-associative chains must not recurse."""
    if kind != "tx":
        return duplicate_line(rng, text, kind)
    return _replace_match(
        rng,
        text,
        re.compile(r"(?<=return )[A-Za-z_]\w*"),
        lambda name: " + ".join([name] * rng.choice([50, 300, 1000])),
    )


def insert_unicode(rng: random.Random, text: str, kind: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(UNICODE) + text[at:]


TEXT_MUTATIONS: list[Callable[[random.Random, str, str], str]] = [
    delete_token, duplicate_token, swap_tokens, insert_word, replace_number, replace_number, change_type,
    rename, swap_callee, swap_callee, change_attribute, change_attribute, delete_line, duplicate_line,
    swap_lines, truncate, unbalance, deep_nesting, long_chain, insert_unicode,
]  # fmt: skip


def mutate(rng: random.Random, seed: Seed) -> bytes:
    """One mutant of `seed`: one to four text mutations, and sometimes bytes that are not UTF-8."""
    text = seed.text
    for _ in range(1 + min(3, int(rng.expovariate(1.0)))):
        text = rng.choice(TEXT_MUTATIONS)(rng, text, seed.kind)
    data = text.encode("utf-8")
    if rng.random() < 0.08:
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice(BAD_BYTES) + data[at:]
    return data


# -- running a mutant ------------------------------------------------------------------------

_LOCATED = re.compile(r":\d+:\d+\b")


class MutantTimeout(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` in tc swallows it."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise MutantTimeout(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_tx(data: bytes, name: str = "mutant.tx") -> None:
    """What `tc compile` does with a .tx file, short of writing the artifact."""
    from tc.artifact import build_file
    from tc.codegen_llvm.objectcode import emit_object
    from tc.compile import optimize_module
    from tc.frontend.tx import SourceFile

    source = SourceFile.from_bytes(name, data, ROOT)
    built = build_file(name, source)
    optimize_module(built.module)
    if built.module.functions:
        emit_object(built.module, 0)


def run_tir(data: bytes, name: str = "mutant.tir") -> None:
    """What `tc opt -p default` does with a .tir file; its output must parse again."""
    from tc.ir import parse_module, print_module
    from tc.passes import DEFAULT_PIPELINE, PassManager, parse_pipeline

    module = parse_module(data, name)
    PassManager(parse_pipeline(DEFAULT_PIPELINE), verify_each=True).run(module)
    parse_module(print_module(module, locations=True), f"{name} (optimised)")


@dataclass
class Outcome:
    """How one mutant ended: "accepted", "rejected" (a located TcError), or a failure kind."""

    status: str
    detail: str = ""
    seconds: float = 0.0


# Errors about the text itself: these must say where (file:line:col).
def _must_be_located(err: BaseException) -> bool:
    from tc.ir import TcParseError, TcVerificationError

    return isinstance(err, (TcParseError, TcVerificationError))


def run_mutant(kind: str, data: bytes, time_limit: float = 5.0) -> Outcome:
    """Run one mutant; classify its ending. Failures: "crash" (not a TcError), "unlocated"
    (a parse or verification error without line:col), "timeout"."""
    from tc.ir import TcError

    start = time.perf_counter()
    try:
        with _time_limit(time_limit), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (run_tx if kind == "tx" else run_tir)(data)
        status, detail = "accepted", ""
    except MutantTimeout:
        status, detail = "timeout", f"over {time_limit} s"
    except TcError as err:
        located = _LOCATED.search(str(err)) is not None
        if _must_be_located(err) and not located:
            status, detail = "unlocated", f"{type(err).__name__}: {err}"
        else:
            status, detail = "rejected", f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    except Exception as err:  # noqa: BLE001  (any other exception is what the fuzzer hunts)
        frames = traceback.extract_tb(err.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        status, detail = "crash", f"{type(err).__name__} at {where}: {str(err)[:300]}"
    seconds = time.perf_counter() - start
    if status in ("accepted", "rejected") and seconds > time_limit:
        status, detail = "timeout", f"took {seconds:.1f} s"
    return Outcome(status, detail, seconds)


# -- campaigns -------------------------------------------------------------------------------

FAILURES = ("crash", "unlocated", "timeout")


@dataclass
class Failure:
    """A mutant that broke the contract; `mutant_for(campaign_seed, index)` rebuilds it."""

    seed: str
    kind: str
    index: int
    mutant: bytes
    outcome: Outcome

    def __str__(self) -> str:
        shown = repr(self.mutant)
        if len(shown) > 3000:  # long runs of a repeated token: enough to see it
            shown = f"{shown[:1500]} ...({len(self.mutant)} bytes)... {shown[-1500:]}"
        return (
            f"[{self.outcome.status}] {self.outcome.detail}\n"
            f"  mutant #{self.index} of {self.seed} ({self.kind}):\n{shown}"
        )


@dataclass
class Report:
    """Counts of one campaign, and its failures (the mutants that must be fixed)."""

    tried: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    slowest: float = 0.0
    slowest_index: int = -1
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        return {
            "mutants": self.tried,
            "by_language": dict(self.by_kind),
            "accepted": self.counts["accepted"],
            "rejected_with_located_error": self.counts["rejected"],
            "crashes": self.counts["crash"],
            "unlocated_errors": self.counts["unlocated"],
            "timeouts": self.counts["timeout"],
            "slowest_mutant_s": round(self.slowest, 2),
            "slowest_mutant": self.slowest_index,
            "total_s": round(self.seconds, 1),
        }


# The corpus holds far more IR than .tx; draw the language first so that both get their share.
TX_SHARE = 0.45


def mutant_for(corpus: list[Seed], campaign_seed: int, index: int) -> tuple[Seed, bytes]:
    """Mutant `index` of the campaign `campaign_seed`: each has its own generator, so any one
    can be rebuilt without the others."""
    rng = random.Random(f"{campaign_seed}:{index}")
    kind = "tx" if rng.random() < TX_SHARE else "tir"
    parent = rng.choice([s for s in corpus if s.kind == kind])
    return parent, mutate(rng, parent)


def campaign(count: int, seed: int = 0, time_limit: float = 5.0) -> Report:
    """Run mutants 0..count-1 of campaign `seed` (.tx and .tir as the corpus holds them)."""
    corpus = seed_corpus()
    report = Report()
    start = time.perf_counter()
    for index in range(count):
        parent, data = mutant_for(corpus, seed, index)
        outcome = run_mutant(parent.kind, data, time_limit)
        report.tried += 1
        report.by_kind[parent.kind] += 1
        report.counts[outcome.status] += 1
        if outcome.seconds > report.slowest:
            report.slowest, report.slowest_index = outcome.seconds, index
        if outcome.status in FAILURES:
            report.failures.append(Failure(parent.name, parent.kind, index, data, outcome))
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=5.0)
    args = parser.parse_args(argv)
    report = campaign(args.count, args.seed, args.time_limit)
    print(json.dumps(report.summary(), indent=2))
    for failure in report.failures[:20]:
        print(failure, file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
