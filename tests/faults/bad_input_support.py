"""Helpers of ``test_bad_input.py``: one verdict per input, a tally per family, bad documents.

``judge`` feeds bytes to the loader in-process (``load_bytes``) under a per-case time limit
(an interval timer: a load that runs past it is stopped and counted as a hang) and says
what happened: *accepted*, *rejected* (``RunbookInvalid`` whose every diagnostic names the
file, a line inside it, a column and a message) or *crash* (anything else, a malformed
diagnostic included). A ``Tally`` counts verdicts into the family's ledger row.

The fuzzing strategies mutate the shipped runbooks (bytes, lines, parsed trees) and reuse
the YAML document strategy of ``tests/lifeboat/runbook/test_fuzz.py``.
"""

from __future__ import annotations

import copy
import random
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import yaml
from hypothesis import strategies as st

from lifeboat.errors import Diagnostic, RunbookInvalid
from lifeboat.registry import StepRegistry, default_registry
from lifeboat.runbook.loader import load_bytes
from tests.faults.ledger import InputRow
from tests.lifeboat.runbook.test_fuzz import VALID, VOCABULARY, documents

REPO = Path(__file__).resolve().parents[2]
NAME = Path("bad.yaml")
REGISTRY: StepRegistry = default_registry()
#: One load running longer than this is a hang (and stopped): a wall-clock hang guard, ten
#: times the slowest legitimate load (the 13,000-step runbooks of the huge family, ~2 s).
#: What a load may cost is bounded in CPU time by the tests (``Verdict.cpu``).
CASE_LIMIT_S = 20.0
#: The shipped runbooks: what the fuzzer mutates (webapp-failover first, the reference).
SEEDS: list[bytes] = [VALID] + [
    path.read_bytes()
    for path in sorted((REPO / "runbooks").glob("*.yaml"))
    if path.name != "webapp-failover.yaml"
]


#: The seeds parsed once (libyaml's C parser and emitter: the pure-Python ones cost 20 ms).
SEED_TREES: list[Any] = [yaml.load(seed, Loader=yaml.CSafeLoader) for seed in SEEDS]


def dump(data: Any, flow: bool = False) -> bytes:
    text: str = yaml.dump(data, Dumper=yaml.CSafeDumper, default_flow_style=flow)
    return text.encode()


class Hang(BaseException):
    """Raised in a load that outlived ``CASE_LIMIT_S`` (BaseException: nothing swallows it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only; elsewhere: no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


Kind = Literal["accepted", "rejected", "crash"]


@dataclass
class Verdict:
    kind: Kind
    why: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0  # wall time: reported, and bounded only by the hang guard
    cpu: float = 0.0  # CPU seconds of the load (its thread): what the tests bound
    peak_bytes: int = 0  # allocated at most during the load, when measured


def malformed(diagnostics: list[Diagnostic], raw: bytes, name: Path) -> str | None:
    """What is wrong with the diagnostics of a rejection, or None when they are usable."""
    if not diagnostics:
        return "RunbookInvalid without a diagnostic"
    text = raw.decode("utf-8", "replace")
    # libyaml counts \r, NEL and the Unicode separators as line breaks too.
    lines = sum(text.count(mark) for mark in "\n\r\x85\u2028\u2029") + 2
    for found in diagnostics:
        if found.path != str(name):
            return f"diagnostic names {found.path!r}, not {str(name)!r}"
        if not 1 <= found.line <= lines:
            return f"line {found.line} outside the file's {lines - 1} lines: {found.message}"
        if found.column < 1:
            return f"column {found.column}: {found.message}"
        if not found.message.strip():
            return f"empty message at {found.line}:{found.column}"
    return None


def judge(
    raw: bytes,
    *,
    name: Path = NAME,
    params: dict[str, Any] | None = None,
    limit: float = CASE_LIMIT_S,
    measure: bool = False,
) -> Verdict:
    """Load ``raw`` in-process and say what happened (see the module's docstring)."""
    if measure:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.thread_time()
    peak = 0
    try:
        with time_limit(limit):
            try:
                load_bytes(raw, name, registry=REGISTRY, params=params)
            finally:
                if measure:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
    except RunbookInvalid as exc:
        problem = malformed(exc.diagnostics, raw, name)
        kind: Kind = "crash" if problem else "rejected"
        verdict = Verdict(kind, problem or exc.diagnostics[0].message, exc.diagnostics)
    except Hang as exc:
        verdict = Verdict("crash", f"hang: {exc}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        verdict = Verdict("crash", f"{type(exc).__name__}: {exc}"[:500])
    else:
        verdict = Verdict("accepted", "loaded")
    verdict.seconds = time.perf_counter() - started
    verdict.cpu = time.thread_time() - cpu
    verdict.peak_bytes = peak
    return verdict


@dataclass
class Tally:
    """The counts of one family, and the first few crashes to show."""

    family: str
    tried: int = 0
    rejected: int = 0
    accepted: int = 0
    crashes: int = 0
    slowest: float = 0.0  # wall seconds
    slowest_label: str = ""
    costliest: float = 0.0  # CPU seconds
    costliest_label: str = ""
    examples: list[str] = field(default_factory=list)

    def add(self, verdict: Verdict, label: str, raw: bytes | str = b"") -> Verdict:
        self.tried += 1
        if verdict.kind == "rejected":
            self.rejected += 1
        elif verdict.kind == "accepted":
            self.accepted += 1
        else:
            self.crashes += 1
            if len(self.examples) < 5:
                self.examples.append(f"{label}: {verdict.why} <- {_show(raw)}")
        if verdict.seconds > self.slowest:
            self.slowest, self.slowest_label = verdict.seconds, label
        if verdict.cpu > self.costliest:
            self.costliest, self.costliest_label = verdict.cpu, label
        return verdict

    def crash(self, label: str, why: str) -> None:
        """A case judged outside ``judge`` (a CLI run, an injection that worked)."""
        self.add(Verdict("crash", why), label)

    def row(self, detail: str) -> InputRow:
        return InputRow(
            family=self.family,
            tried=self.tried,
            rejected_cleanly=self.rejected,
            accepted=self.accepted,
            crashes=self.crashes,
            detail=detail,
        )

    def report(self) -> str:
        return "\n".join(self.examples)


def _show(raw: bytes | str, limit: int = 300) -> str:
    text = repr(raw)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(raw)} long)"


# --- fuzzing strategies -----------------------------------------------------------------

_PUNCTUATION = [bytes([c]) for c in b"{}[]-:,&*!|>'\"#%@?<=$ \n\t\\"]
_TOKENS = [
    *(token.encode() for token in VOCABULARY),
    *_PUNCTUATION,
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"!!python/object/apply:os.system ",
    b"\xff",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"\r\n",
    b"\r",
    b"\\0",
    b"\\e",
    b"${{",
    b"}}",
    b"../../etc/passwd",
    b"9" * 40,
    b"99999999999999999999d",
    b"---\n",
    b"...\n",
    b"%YAML 1.1\n",
    b"? ",
]


def byte_mutant(rng: random.Random) -> bytes:
    """A shipped runbook with 1-4 byte-level edits: flips, deletions, insertions, copies."""
    raw = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(raw))
        op = rng.choice(["flip", "delete", "insert", "token", "token", "copy", "truncate"])
        if op == "flip" and at < len(raw):
            raw[at] ^= rng.randint(1, 255)
        elif op == "delete":
            del raw[at : at + rng.randint(1, 40)]
        elif op == "insert":
            raw[at:at] = rng.randbytes(rng.randint(1, 8))
        elif op == "token":
            raw[at:at] = rng.choice(_TOKENS)
        elif op == "copy":
            start = rng.randint(0, len(raw))
            raw[at:at] = raw[start : start + rng.randint(1, 200)]
        elif op == "truncate":
            del raw[at:]
    return bytes(raw)


def line_mutant(rng: random.Random) -> bytes:
    """A shipped runbook with lines swapped, dropped, doubled, re-indented, or with a
    ``key: value`` line's key and value swapped, or values moved between two such lines."""
    lines = rng.choice(SEEDS).decode().splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        op = rng.choice(["swap", "drop", "double", "indent", "dedent", "kv", "kv", "move", "move"])
        if op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * rng.randint(1, 4) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip(" ")
        else:
            key, sep, value = lines[i].partition(": ")
            other_key, other_sep, other_value = lines[j].partition(": ")
            if sep and op == "kv":
                indent = key[: len(key) - len(key.lstrip())]
                lines[i] = f"{indent}{value.strip()}: {key.strip()}\n"
            elif sep and other_sep:
                lines[i], lines[j] = f"{key}: {other_value}", f"{other_key}: {value}"
    return "".join(lines).encode()


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A small random YAML value: a vocabulary word, a number, a container of values."""
    kind = rng.randrange(9 if depth < 3 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 22, 65536, 2**63, 10**30])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, float("inf")])
    if kind in (4, 5, 6):
        return rng.choice(VOCABULARY)
    if kind == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(VOCABULARY): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def tree_mutant(rng: random.Random) -> bytes:
    """A shipped runbook parsed, changed where it matters (a subtree replaced, two values
    swapped, a key renamed or swapped with its value, an entry dropped), dumped again."""
    document = copy.deepcopy(rng.choice(SEED_TREES))
    for _ in range(rng.randint(1, 3)):
        target: Any = document
        for _ in range(rng.randint(0, 6)):  # walk down to a random container
            children = list(target.values()) if isinstance(target, dict) else target
            containers = [c for c in children if isinstance(c, dict | list) and c]
            if not containers:
                break
            target = rng.choice(containers)
        op = rng.choice(["replace", "swap", "rename", "invert", "drop"])
        if isinstance(target, dict) and target:
            key = rng.choice(sorted(target, key=str))
            if op == "replace":
                target[key] = _value(rng)
            elif op == "swap":
                other = rng.choice(sorted(target, key=str))
                target[key], target[other] = target[other], target[key]
            elif op == "rename":
                target[rng.choice(VOCABULARY)] = target.pop(key)
            elif op == "invert" and isinstance(target[key], str | int | float | bool):
                target[target.pop(key)] = key
            else:
                del target[key]
        elif isinstance(target, list) and target:
            index = rng.randrange(len(target))
            if op == "drop":
                del target[index]
            elif op == "swap":
                other = rng.randrange(len(target))
                target[index], target[other] = target[other], target[index]
            else:
                target[index] = _value(rng)
    return dump(document, flow=rng.random() < 0.2)


def seeded(mutant: Callable[[random.Random], bytes]) -> st.SearchStrategy[bytes]:
    """Hypothesis draws a seed (cheap, derandomized), the mutation is ``mutant(Random(seed))``."""
    return st.integers(0, 2**64 - 1).map(lambda seed: mutant(random.Random(seed)))


@st.composite
def generated(draw: st.DrawFn) -> bytes:
    """A generated YAML document (``test_fuzz.documents``), in block or flow style."""
    return dump(draw(documents), flow=draw(st.booleans()))


# --- documents too big, too deep, or exploding ------------------------------------------

RUNBOOK_HEAD = b"id: big\nversion: 1.0.0\ntitle: t\nowner: o\n"


def with_steps(
    count: int, step: bytes = b"- {id: s#, check: wait, with: {duration: 1s}}\n"
) -> bytes:
    """A runbook of ``count`` steps (each ``#`` of ``step`` replaced by the step's number)."""
    return (
        RUNBOOK_HEAD + b"steps:\n" + b"".join(step.replace(b"#", b"%d" % i) for i in range(count))
    )


def laughs(levels: int = 9, width: int = 9, mapping: bool = False) -> bytes:
    """The billion laughs: each anchor holds ``width`` aliases of the previous one."""
    if mapping:
        text = "l0: &l0 {" + ", ".join(f"k{i}: lol" for i in range(width)) + "}\n"
    else:
        text = "l0: &l0 [" + ", ".join(["lol"] * width) + "]\n"
    for level in range(1, levels + 1):
        if mapping:
            items = ", ".join(f"k{i}: *l{level - 1}" for i in range(width))
            text += f"l{level}: &l{level} {{{items}}}\n"
        else:
            text += f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]\n"
    return text.encode()


def merge_bomb(levels: int = 40, empty: bool = False) -> bytes:
    """``<<: [*prev, *prev]`` at every level: 2**levels merges (of empty mappings, maybe)."""
    text = "m0: &m0 {}\n" if empty else "m0: &m0 {a: 1, b: 2}\n"
    for level in range(1, levels + 1):
        text += f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}]}}\n"
    return text.encode()


def merge_chain(length: int) -> bytes:
    """Each mapping merges the previous one: a chain ``length`` merges deep."""
    text = "c0: &c0 {x: 1}\n"
    for level in range(1, length + 1):
        text += f"c{level}: &c{level} {{<<: *c{level - 1}}}\n"
    return text.encode()


def alias_tower(levels: int) -> bytes:
    """Each anchor wraps the previous in a list: shallow text, deep document."""
    text = "t0: &t0 [x]\n"
    for level in range(1, levels + 1):
        text += f"t{level}: &t{level} [*t{level - 1}]\n"
    return text.encode()


def at(prefix: str, bad: bytes, suffix: bytes = b"\n") -> tuple[bytes, int, int]:
    """``prefix`` (text) + ``bad`` + ``suffix``, and the line and column where ``bad`` starts
    (columns count characters, as editors do)."""
    line = prefix.count("\n") + 1
    column = len(prefix) - (prefix.rfind("\n") + 1) + 1
    return prefix.encode() + bad + suffix, line, column


def position_of(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """Line and column (1-based, characters) of the ``occurrence``-th ``needle``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1
