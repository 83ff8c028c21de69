"""Bad input, family by family: the loader and the steps answer clearly or refuse; never crash.

1. fuzzed runbooks: 10,000 mutated shipped runbooks and generated YAML documents, each
   loaded in-process under a time limit: a runbook, or ``RunbookInvalid`` with usable
   ``file:line:col`` diagnostics; anything else is a crash;
2. huge and deep YAML: 30 MB files, /dev/zero, 100,000 steps, 20,000 levels of ``[``, and
   the biggest runbooks that fit the 1 MiB limit (bounded time and memory, few messages);
3. alias bombs: billion laughs, merge-key bombs, self-merges, recursive aliases;
4. encodings: non-UTF-8 bytes, BOMs, NUL bytes, control escapes, surrogates, at the exact
   line and column;
5. paths: scripts, uploaded files and message templates outside the runbook's folder,
   ``..`` in restore destinations and scratch folders (at validation, ``file:line:col``),
   symlinks leading out of the folder (refused when the step runs);
6. injection: parameters full of shell syntax reach a real sshd as one argv item each (the
   marker files are never created); ``${{ }}`` and Jinja in values are never evaluated;
7. CR/LF in e-mail subjects: a real SMTP server receives no extra header and no recipient
   that the runbook did not name.

Each family records one ``InputRow`` in the faults ledger, counted from what it observed,
before asserting.
"""

from __future__ import annotations

import email.policy
import subprocess
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from checks.ssh import TAIL_CHARS
from flows.run import build_context
from lifeboat.actions.files import ScriptParams, local_file, ssh_script
from lifeboat.comms.message import build
from lifeboat.comms.render import AUDIENCES, LANGUAGES, CommsError, override_path, render
from lifeboat.engine import InlineExecutor, execute
from lifeboat.errors import ParameterError, RunbookInvalid, StepError
from lifeboat.notify import deliver
from lifeboat.runbook import load
from lifeboat.runbook.loader import load_bytes
from lifeboat.runbook.model import NotifyStep, Runbook, Stage
from lifeboat.runbook.params import resolve
from lifeboat.runbook.source import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from lifeboat.runbook.types import MAX_DURATION
from lifeboat.runbook.yaml12 import MAX_INT_DIGITS
from lifeboat.sandbox.smtp import SmtpServer
from lifeboat.sandbox.sshd import SshdSites, SshEndpoint
from lifeboat.settings import Settings
from lifeboat.ssh import SshPool, SshTarget
from tests.conftest import LIFEBOAT_CLI
from tests.faults.bad_input_support import (
    CASE_LIMIT_S,
    NAME,
    RUNBOOK_HEAD,
    Tally,
    Verdict,
    alias_tower,
    at,
    byte_mutant,
    generated,
    judge,
    laughs,
    line_mutant,
    merge_bomb,
    merge_chain,
    position_of,
    seeded,
    tree_mutant,
    with_steps,
)
from tests.faults.ledger import FUZZED, record
from tests.lifeboat.runbook.test_fuzz import VALID
from tests.waiting import stays_false, wait_until

# Apprise's e-mail plugin imports the stdlib's deprecated ``imghdr`` on first use.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

MiB = 1024 * 1024


def validate_cli(*paths: Path) -> subprocess.CompletedProcess[str]:
    """``lifeboat validate PATH...`` as an operator runs it."""
    return subprocess.run(
        [LIFEBOAT_CLI, "validate", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def cli_verdicts(tally: Tally, files: list[Path]) -> list[str]:
    """Run ``lifeboat validate`` once over ``files`` (all invalid): each must be named by at
    least one ``file:line:col: error: message`` line, exit 2, no traceback. One case per
    file in ``tally``; the problems found."""
    result = validate_cli(*files)
    problems = []
    if result.returncode != 2:
        problems.append(f"exit {result.returncode}, not 2")
    if "Traceback" in result.stderr + result.stdout:
        problems.append("a traceback: " + result.stderr[-500:])
    lines = result.stderr.splitlines()
    for path in files:
        prefix = f"{path}:"
        named = [line for line in lines if line.startswith(prefix)]
        clean = named and all(_is_diagnostic(line[len(prefix) :]) for line in named)
        if clean:
            tally.add(Verdict("rejected", "cli"), f"cli:{path.name}")
        else:
            tally.crash(f"cli:{path.name}", f"no clean diagnostic line: {named[:2]}")
            problems.append(f"{path.name}: {named[:2] or lines[-3:]}")
    return problems


def _is_diagnostic(rest: str) -> bool:
    """``LINE:COL: error: MESSAGE`` with positive numbers and no control characters (what a
    terminal would obey: a runbook must not be able to rewrite the operator's screen)."""
    line, _, rest = rest.partition(":")
    column, _, rest = rest.partition(":")
    ok = line.isdigit() and column.isdigit() and int(line) >= 1 and int(column) >= 1
    ok = ok and rest.startswith(" error: ") and len(rest) > len(" error: ")
    return ok and all(c.isprintable() or c == "\t" for c in rest)


# --- 1. fuzzing ------------------------------------------------------------------------

#: (label, strategy, examples): 10,000 cases, derandomized (CI sees the same ones each run).
#: Mutations are computed from a seed Hypothesis draws: one cheap draw per case instead of
#: ten; the generated documents are ``test_fuzz``'s own strategy.
FUZZ_PLAN: list[tuple[str, st.SearchStrategy[bytes], int]] = [
    ("byte edits of shipped runbooks", seeded(byte_mutant), 4500),
    ("line edits (swaps, key/value swaps)", seeded(line_mutant), 2500),
    ("tree edits (subtrees, swapped values)", seeded(tree_mutant), 2000),
    ("generated YAML documents", generated(), 1000),
]


def fuzz(tally: Tally, label: str, strategy: st.SearchStrategy[bytes], examples: int) -> None:
    """Judge ``examples`` inputs drawn from ``strategy`` (derandomized: the same each run)."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: nothing raises in here
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def case(raw: bytes) -> None:
        tally.add(judge(raw), label, raw)

    case()


def test_fuzzed_runbooks_load_or_fail_with_positioned_diagnostics() -> None:
    tally = Tally(FUZZED)
    parts = []
    started, cpu = time.perf_counter(), time.process_time()
    for label, strategy, examples in FUZZ_PLAN:
        before, clock = (tally.tried, tally.rejected, tally.accepted), time.perf_counter()
        fuzz(tally, label, strategy, examples)
        tried, refused, valid = (
            now - then
            for now, then in zip((tally.tried, tally.rejected, tally.accepted), before, strict=True)
        )
        parts.append(
            f"{label}: {tried} ({refused} refused with a diagnostic, {valid} valid and "
            f"accepted, {time.perf_counter() - clock:.1f} s)"
        )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    record(
        tally.row(
            f"{seconds:.1f} s ({cpu:.1f} s of CPU), slowest case {tally.slowest * 1000:.0f} ms "
            f"(limit {CASE_LIMIT_S:g} s); " + "; ".join(parts)
        )
    )
    assert tally.crashes == 0, tally.report()
    assert tally.tried >= 10_000
    assert tally.accepted > 100, "mutations must also produce valid runbooks"
    # CPU time: on a shared machine the wall clock also measures the neighbours' work.
    assert cpu < 60


# --- 2. huge and deep --------------------------------------------------------------------

#: Bounds for one load: CPU seconds (the wall clock would also measure the neighbours' work
#: on a shared machine), and bytes the loader may allocate beyond its input.
HUGE_CPU_SECONDS = 10.0
HUGE_PEAK = 512 * MiB
#: Bound on what a rejection may print (a generated file must not print gigabytes).
HUGE_MESSAGE_CHARS = 5 * MiB


def _biggest_ungated() -> bytes:
    step = b"- {id: s#, action: ssh.run, with: {host: h, argv: [x]}}\n"
    head = b"sites: {s: {provider: p, region: r}}\nhosts: {h: {site: s, address: a}}\n"
    return with_steps(13_000, step).replace(b"steps:\n", head + b"steps:\n", 1)


def _cycles(count: int) -> bytes:
    """A chain of ``count`` steps, the last needing every other one: ``count - 1`` cycles."""
    chain = b"- {id: s%d, check: wait, needs: [s%d], with: {duration: 1s}}\n"
    body = b"".join(chain % (i, i + 1) for i in range(count - 1))
    everyone = b",".join(b"s%d" % i for i in range(count - 1))
    body += b"- {id: s%d, check: wait, with: {duration: 1s}, needs: [%s]}\n" % (count - 1, everyone)
    return RUNBOOK_HEAD + b"steps:\n" + body


#: The biggest runbooks that fit the limit: timed, not traced (tracemalloc slows them 4x).
NOT_TRACED = (
    "200,000-item flow list",
    "50,000 unknown keys",
    "4,000 steps needing undefined ones",
    "3,000 steps in 2,999 cycles",
    "13,000 irreversible steps, no approval",
    "15,000-step runbook just under 1 MiB",
)


def huge_cases() -> list[tuple[str, bytes, str | None]]:
    """(label, bytes, a text one diagnostic must hold; None: it may load)."""
    size = f"a runbook may be at most {MAX_FILE_BYTES // MiB} MiB"
    deep = f"nested deeper than {MAX_DEPTH} levels"
    undefined = b"- {id: s#, check: wait, needs: [zz#], with: {duration: 1s}}\n"
    zone = b"drill: {schedule: '0 3 * * 1', timezone: " + b"A" * 5000 + b"}\n"
    return [
        ("30 MB scalar", b"a: " + b"x" * 30_000_000, size),
        ("50 MB of newlines", b"\n" * 50_000_000, size),
        ("100,000-step runbook (5 MB)", with_steps(100_000), size),
        ("20,000 levels of [", b"[" * 20_000, deep),
        ("20,000 levels of {", b"{" * 20_000, deep),
        ("10,000 levels of [{", b"[{" * 10_000, deep),
        ("10,000 nested block sequences", b"- " * 10_000 + b"x\n", deep),
        ("100 nested block mappings", b"".join(b"  " * i + b"k:\n" for i in range(100)), deep),
        ("a 100-alias tower", alias_tower(100), deep),
        ("5,000-digit integer", b"a: " + b"9" * 5000 + b"\n", f"at most {MAX_INT_DIGITS}"),
        ("5,000-digit hex integer", b"a: 0x" + b"f" * 5000 + b"\n", f"at most {MAX_INT_DIGITS}"),
        ("200,000-item flow list", b"a: [" + b"1," * 200_000 + b"]\n", f"more than {MAX_NODES}"),
        ("50,000 unknown keys", b"".join(b"k%d: 1\n" % i for i in range(50_000)), "unknown key"),
        ("4,000 steps needing undefined ones", with_steps(4000, undefined), "undefined step"),
        ("3,000 steps in 2,999 cycles", _cycles(3000), "dependency cycle"),
        ("13,000 irreversible steps, no approval", _biggest_ungated(), "cannot be undone"),
        ("15,000-step runbook just under 1 MiB", with_steps(15_000), None),
        (
            "a duration of 10**20 seconds",
            with_steps(1).replace(b"duration: 1s", b"duration: 99999999999999999999s"),
            f"at most {MAX_DURATION.days}d",
        ),
        ("a 5,000-character time zone", with_steps(1) + zone, "unknown time zone"),
    ]


def test_huge_and_deep_yaml_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    tally = Tally("huge and deeply nested YAML")
    problems: list[str] = []
    worst_peak = 0
    for label, raw, expected in huge_cases():
        verdict = tally.add(judge(raw, measure=label not in NOT_TRACED), label, raw[:200])
        worst_peak = max(worst_peak, verdict.peak_bytes)
        printed = sum(len(str(d)) for d in verdict.diagnostics)
        if verdict.kind == "crash":
            continue
        if expected is None and verdict.kind != "accepted":
            problems.append(f"{label}: {verdict.why}")
        if expected is not None and not _says(verdict, expected):
            problems.append(f"{label}: expected {expected!r}, got {verdict.kind}: {verdict.why}")
        if verdict.cpu > HUGE_CPU_SECONDS or verdict.peak_bytes > HUGE_PEAK:
            problems.append(
                f"{label}: {verdict.cpu:.1f} s of CPU, {verdict.peak_bytes / MiB:.0f} MiB"
            )
        if printed > HUGE_MESSAGE_CHARS:
            problems.append(f"{label}: {printed} characters of diagnostics")
    # From files: the loader reads at most the limit (a 10 GB file, /dev/zero), then refuses.
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * 30_000_000)
    deep = tmp_path / "deep.yaml"
    deep.write_bytes(b"steps: " + b"[" * 20_000)
    digits = tmp_path / "digits.yaml"
    digits.write_bytes(b"id: " + b"9" * 5000 + b"\n")
    for label, path, expected in [
        ("load() of a 30 MB file", big, "file is 30000003 bytes"),
        ("load() of /dev/zero", Path("/dev/zero"), "file is more than 1 MiB"),
    ]:
        started = time.perf_counter()
        verdict = _load_file(path)
        verdict.seconds = time.perf_counter() - started
        tally.add(verdict, label)
        if not _says(verdict, expected):
            problems.append(f"{label}: {verdict.kind}: {verdict.why}")
    problems += cli_verdicts(tally, [big, deep, digits])
    record(
        tally.row(
            f"costliest {tally.costliest_label} {tally.costliest:.2f} s of CPU (bound "
            f"{HUGE_CPU_SECONDS:g} s), slowest {tally.slowest:.2f} s; "
            f"peak {worst_peak / MiB:.0f} MiB allocated by one load (bound "
            f"{HUGE_PEAK // MiB} MiB); 1 MiB size limit, depth {MAX_DEPTH}, {MAX_NODES} values; "
            "CLI: 3 files exit 2"
        )
    )
    assert tally.crashes == 0, tally.report()
    assert not problems, problems


def _says(verdict: Verdict, text: str) -> bool:
    """A rejection with a diagnostic holding ``text``."""
    return verdict.kind == "rejected" and any(text in d.message for d in verdict.diagnostics)


def _load_file(path: Path) -> Verdict:
    try:
        load(path)
    except RunbookInvalid as exc:
        return Verdict("rejected", exc.diagnostics[0].message, exc.diagnostics)
    except Exception as exc:
        return Verdict("crash", f"{type(exc).__name__}: {exc}")
    return Verdict("accepted", "loaded")


# --- 3. alias bombs ----------------------------------------------------------------------

#: A bomb must be refused within this much CPU time (not wall time: a shared machine's
#: neighbours are not the loader's work), allocating at most this much.
BOMB_CPU_SECONDS = 2.0
BOMB_PEAK = 128 * MiB


def bomb_cases() -> list[tuple[str, bytes, str]]:
    """(label, bytes, a text the first diagnostic holds)."""
    expands = f"more than {MAX_NODES} values"
    entries = ", ".join(laughs().decode().splitlines())
    in_steps = with_steps(1).replace(b"{duration: 1s}", f"{{{entries}}}".encode())
    return [
        ("billion laughs (lists, 9 x 9)", laughs(), expands),
        ("billion laughs (mappings, 9 x 9)", laughs(mapping=True), expands),
        ("billion laughs (30 levels x 2)", laughs(levels=30, width=2), expands),
        ("a bomb inside a step's with:", in_steps, expands),
        ("merge-key bomb (2**40 merges)", merge_bomb(40), expands),
        ("merge-key bomb of empty mappings", merge_bomb(40, empty=True), expands),
        ("a mapping merging itself", b"a: &a {<<: *a, x: 1}\n", "merges a mapping into itself"),
        (
            "a mapping merging itself via a list",
            b"a: &a {<<: [*a]}\n",
            "merges a mapping into itself",
        ),
        ("a chain of 3,000 merges", merge_chain(3000), f"deeper than {MAX_DEPTH} levels"),
        ("a list holding itself", b"a: &a [*a]\n", f"deeper than {MAX_DEPTH} levels"),
        ("a mapping holding itself", b"a: &a {k: *a}\n", f"deeper than {MAX_DEPTH} levels"),
        ("an undefined alias", b"a: *nowhere\n", "undefined alias"),
    ]


def test_alias_bombs_are_refused_fast() -> None:
    tally = Tally("YAML alias bombs")
    problems = []
    worst_peak = 0
    for label, raw, expected in bomb_cases():
        verdict = tally.add(judge(raw), label, raw[:200])  # timed without tracemalloc's cost
        if verdict.kind == "crash":
            continue
        peak = judge(raw, measure=True).peak_bytes
        worst_peak = max(worst_peak, peak)
        if not _says(verdict, expected):
            problems.append(f"{label}: expected {expected!r}, got {verdict.kind}: {verdict.why}")
        if verdict.cpu > BOMB_CPU_SECONDS or peak > BOMB_PEAK:
            problems.append(f"{label}: {verdict.cpu:.2f} s of CPU, {peak / MiB:.0f} MiB")
    # Aliases that expand to little stay allowed: one list of stakeholders named twice.
    fine = VALID.replace(b"to: [customers, oncall]", b"to: &everyone [customers, oncall]", 1)
    fine = fine.replace(b"to: [customers, oncall]", b"to: *everyone", 1)
    verdict = tally.add(judge(fine), "a small alias", fine)
    if verdict.kind != "accepted":
        problems.append(f"a small alias: {verdict.why}")
    record(
        tally.row(
            f"costliest {tally.costliest_label} {tally.costliest * 1000:.0f} ms of CPU (bound "
            f"{BOMB_CPU_SECONDS:g} s); peak {worst_peak / MiB:.0f} MiB (bound "
            f"{BOMB_PEAK // MiB} MiB); "
            "expansion counted by values copied, merges included"
        )
    )
    assert tally.crashes == 0, tally.report()
    assert not problems, problems


# --- 4. encodings ------------------------------------------------------------------------

HEAD = "id: enc\nversion: 1.0.0\ntitle: "
ESCAPE = "the control character U+"


def encoding_cases() -> list[tuple[str, bytes, int, tuple[int, int], str]]:
    """(label, bytes, expected line, (first, last) accepted column, text of the message)."""
    cases: list[tuple[str, bytes, int, tuple[int, int], str]] = []

    def bad(label: str, prefix: str, raw: bytes, message: str, span: int = 0) -> None:
        data, line, column = at(prefix, raw)
        cases.append((label, data, line, (column, column + span), message))

    bad("0xff in a value", HEAD, b"\xff\xfe", "file is not UTF-8 (byte 0xff)")
    bad("Latin-1 e-acute", HEAD + "t\nowner: Ren", b"\xe9", "file is not UTF-8 (byte 0xe9)")
    bad("after multi-byte characters", HEAD + "é€😀", b"\xff", "not UTF-8 (byte 0xff)")
    bad("in a key", HEAD + "t\nown", b"\xfeer: o", "not UTF-8 (byte 0xfe)")
    bad("in a comment", HEAD + "t # comm", b"\x80ent", "not UTF-8 (byte 0x80)")
    bad("overlong '/'", HEAD, b"\xc0\xaf", "not UTF-8 (byte 0xc0)")
    bad("truncated at the end", HEAD + "caf", b"\xc3", "not UTF-8 (byte 0xc3)")
    bad("UTF-16 surrogate as UTF-8 (CESU)", HEAD, b"\xed\xa0\xbd\xed\xb8\x80", "(byte 0xed)")
    bad("CRLF lines", HEAD.replace("\n", "\r\n"), b"\xff", "not UTF-8 (byte 0xff)")
    bad("raw NUL in a value", HEAD + "a", b"\x00b", "control characters are not allowed")
    bad("raw NUL in a key", HEAD + "t\now", b"\x00ner: o", "control characters are not allowed")
    bad("raw NUL first", "", b"\x00" + HEAD.encode(), "control characters are not allowed")
    bad("raw ESC", HEAD + "ab", b"\x1b[2J", "control characters are not allowed")
    bad("BOM inside the file", HEAD + "t\n", b"\xef\xbb\xbfowner: o", "YAML syntax", span=1)
    for label, escape, code in [
        ("escaped NUL", b'"a\\0b"', "0000"),
        ("escaped ESC (\\e)", b'"\\e]0;pwned\\a"', "001B"),
        ("escaped ESC (\\x1b)", b'"\\x1b[2J"', "001B"),
        ("escaped DEL", b'"\\x7f"', "007F"),
        ("escaped C1 control", b'"\\x9b31m"', "009B"),
    ]:
        bad(label, HEAD, escape, ESCAPE + code)
    for label, escape in [
        ("escaped lone surrogate", b'"ab\\ud800"'),
        ("escaped surrogate pair", b'"ab\\ud83d\\ude00"'),
        ("escape beyond U+10FFFF", b'"ab\\U00110000"'),
    ]:  # libyaml points into the escape: at most a few columns after the quote
        bad(label, HEAD, escape, "invalid Unicode character escape code", span=6)
    utf16 = "\ufeffid: enc\n".encode("utf-16-le")
    cases.append(("UTF-16 with its BOM", utf16, 1, (1, 1), "not UTF-8 (byte 0xff)"))
    utf32 = "\ufeffid: enc\n".encode("utf-32-le")
    cases.append(("UTF-32 with its BOM", utf32, 1, (1, 1), "not UTF-8 (byte 0xff)"))
    # A UTF-8 BOM is allowed, and shifts no position: the second ':' stays at 4:9.
    shifted = "\ufeff" + HEAD + "t\nowner: o: p\n"
    cases.append(("UTF-8 BOM, then an error", shifted.encode(), 4, (9, 9), "mapping values"))
    return cases


def test_bad_encodings_get_diagnostics_at_the_right_line_and_column(tmp_path: Path) -> None:
    tally = Tally("encodings: non-UTF-8, BOM, NUL, control escapes, surrogates")
    problems = []
    for label, raw, line, (first, last), message in encoding_cases():
        verdict = tally.add(judge(raw), label, raw)
        if verdict.kind == "crash":
            continue
        found = verdict.diagnostics[0] if verdict.diagnostics else None
        if (
            found is None
            or found.line != line
            or not first <= found.column <= last
            or message not in found.message
        ):
            problems.append(f"{label}: expected {line}:{first}-{last} {message!r}, got {found}")
    for label, raw in [
        ("UTF-8 BOM", b"\xef\xbb\xbf" + VALID),
        ("BOM, CRLF", b"\xef\xbb\xbf" + VALID.replace(b"\n", b"\r\n")),
    ]:
        verdict = tally.add(judge(raw), label, raw)
        if verdict.kind != "accepted":
            problems.append(f"{label}: {verdict.why}")
    files = []
    for index, (_label, raw, *_) in enumerate(encoding_cases()[:20:4]):
        files.append(tmp_path / f"enc{index}.yaml")
        files[-1].write_bytes(raw)
    escaped = tmp_path / "escape.yaml"
    escaped.write_bytes(HEAD.encode() + b'"\\e]0;pwned\\a\\e[2J"\n')  # must not reach a terminal
    problems += cli_verdicts(tally, [*files, escaped])
    record(
        tally.row(
            f"each diagnostic at the line and column of the bad byte (columns in characters); "
            f"control escapes refused at the value; CLI: {len(files) + 1} files, exit 2, "
            "printable output"
        )
    )
    assert tally.crashes == 0, tally.report()
    assert not problems, problems


# --- 5. paths ----------------------------------------------------------------------------

PATHS = """\
id: paths
version: 1.0.0
title: Paths
owner: o
parameters:
  script: {type: string, default: ok.sh}
sites: {gra: {provider: ovh, region: gra}}
hosts: {web: {site: gra, address: 203.0.113.9}}
backups:
  db: {protects: web, copies: [{uri: "s3://b/db/", site: gra}]}
stakeholders: {oncall: {channels: ["json://127.0.0.1:9/x"]}}
comms: {templates: {incident.opened: TEMPLATE}}
steps:
  - {id: go, approval: {prompt: go?}}
  - {id: run, action: ssh.script, with: {host: web, script: SCRIPT}}
  - {id: put, action: file.put, with: {host: web, path: /srv/app.conf, source: SOURCE}}
  - {id: restore, action: backup.restore, with: {backup: db, host: web, dest: DEST}}
  - {id: test, check: backup.restore_test, with: {backup: db, scratch: SCRATCH}}
  - {id: tell, notify: incident.opened, to: [oncall]}
"""
FINE = {
    "TEMPLATE": "opened.txt.j2",
    "SCRIPT": "ok.sh",
    "SOURCE": "app.conf",
    "DEST": "/srv/app/data",
    "SCRATCH": "/var/tmp",
}
#: (placeholder, value, refused?): values written into PATHS, quoted.
PATH_CASES: list[tuple[str, str, bool]] = [
    ("SCRIPT", "../../etc/passwd", True),
    ("SCRIPT", "/etc/passwd", True),
    ("SCRIPT", "scripts/../../../etc/shadow", True),
    ("SCRIPT", "..", True),
    ("SCRIPT", "", True),
    ("SCRIPT", "${{ params.script }}", False),  # the default, ok.sh
    ("SCRIPT", "tools/ok.sh", False),
    ("SOURCE", "../../../root/.ssh/id_ed25519", True),
    ("SOURCE", "/etc/shadow", True),
    ("TEMPLATE", "../../../etc/passwd", True),
    ("TEMPLATE", "/home/sre/.aws/credentials", True),
    ("TEMPLATE", "templates/opened.txt.j2", False),
    ("DEST", "../../etc", True),
    ("DEST", "/srv/../../etc", True),
    ("DEST", "app/../../x", True),
    ("DEST", "-rf", True),
    ("DEST", "--help", True),
    ("DEST", "app/data", False),
    ("DEST", "/srv/app/data", False),
    ("SCRATCH", "tmp", True),
    ("SCRATCH", "/tmp/../etc", True),
    ("SCRATCH", "../x", True),
    ("SCRATCH", "/var/tmp/restore", False),
]


def paths_runbook(**values: str) -> str:
    text = PATHS
    for key, value in {**FINE, **values}.items():
        text = text.replace(key, f'"{value}"')
    return text


class _Loaded:
    def __init__(self, path: Path) -> None:
        self.path = path


class _StepCtx:
    """What ``ssh.script`` and ``file.put`` see of a run: the runbook file and its hosts."""

    mode = "live"

    def __init__(self, path: Path) -> None:
        self.loaded = _Loaded(path)
        self.runbook = load(path).runbook
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_paths_out_of_the_runbook_folder_are_refused(tmp_path: Path) -> None:
    tally = Tally("paths: scripts, files, templates, restore dest and scratch")
    problems = []
    baseline = judge(paths_runbook().encode())
    assert baseline.kind == "accepted", baseline.why
    for key, value, refused in PATH_CASES:
        text = paths_runbook(**{key: value})
        label = f"{key.lower()}: {value!r}"
        verdict = tally.add(judge(text.encode()), label, text)
        expected = position_of(text, f'"{value}"')
        if refused and (
            verdict.kind != "rejected"
            or [(d.line, d.column) for d in verdict.diagnostics] != [expected]
        ):
            problems.append(f"{label}: expected one diagnostic at {expected}, got {verdict}")
        if not refused and verdict.kind != "accepted":
            problems.append(f"{label}: refused: {verdict.why}")
    # Through a parameter: its default, and a value given at run time (``plan -p``).
    text = paths_runbook(SCRIPT="${{ params.script }}").replace(
        "default: ok.sh", "default: ../../etc/passwd"
    )
    verdict = tally.add(judge(text.encode()), "script from a parameter's default", text)
    if verdict.kind != "rejected" or "unsafe file name" not in verdict.why:
        problems.append(f"parameter default: {verdict}")
    text = paths_runbook(SCRIPT="${{ params.script }}")
    verdict = tally.add(judge(text.encode(), params={"script": "/etc/shadow"}), "plan -p", text)
    if verdict.kind != "rejected" or "unsafe file name" not in verdict.why:
        problems.append(f"plan -p script=/etc/shadow: {verdict}")
    # Symlinks leading out of the folder: refused when the step reads the file.
    folder = tmp_path / "runbooks"
    (folder / "scripts").mkdir(parents=True)
    (folder / "files").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("orchestrator secret\n")
    (folder / "scripts" / "ok.sh").write_text("#!/bin/sh\n")
    (folder / "scripts" / "evil.sh").symlink_to(secret)
    (folder / "scripts" / "up").symlink_to(tmp_path)
    (folder / "scripts" / "link.sh").symlink_to(folder / "scripts" / "ok.sh")
    (folder / "files" / "app.conf").symlink_to("/etc/passwd")
    (folder / "opened.txt.j2").symlink_to(secret)
    runbook = folder / "paths.yaml"
    runbook.write_text(paths_runbook())
    ctx = _StepCtx(runbook)
    for label, where, name, refused in [
        ("script symlink to a file outside", "scripts", "evil.sh", True),
        ("script through a folder symlink", "scripts", "up/secret.txt", True),
        ("file symlink to /etc/passwd", "files", "app.conf", True),
        ("script symlink inside scripts/", "scripts", "link.sh", False),
    ]:
        verdict = _step_file(ctx, where, name)
        tally.add(verdict, label)
        if refused and (verdict.kind != "rejected" or "outside" not in verdict.why):
            problems.append(f"{label}: {verdict}")
        if not refused and verdict.kind != "accepted":
            problems.append(f"{label}: {verdict}")
    try:  # the whole step: refused before any connection to the (unreachable) host
        ssh_script(ScriptParams(host="web", script="evil.sh"), ctx)
        tally.crash("ssh.script of a symlink", "ran")
    except StepError as exc:
        tally.add(Verdict("rejected", str(exc)), "ssh.script of a symlink")
        if "outside" not in str(exc):
            problems.append(f"ssh.script of a symlink: {exc}")
    try:
        override_path(ctx.runbook, runbook, Stage.incident_opened)
        tally.crash("template symlink to a secret", "read")
    except CommsError as exc:
        tally.add(Verdict("rejected", str(exc)), "template symlink to a secret")
        if "outside the runbook's folder" not in str(exc):
            problems.append(f"template symlink: {exc}")
    escape = tmp_path / "escape.yaml"
    escape.write_text(paths_runbook(SCRIPT="../../etc/passwd", DEST="../../etc"))
    problems += cli_verdicts(tally, [escape])
    record(
        tally.row(
            "absolute names and '..' refused at validation with file:line:col (also through "
            "parameters); symlinks out of scripts/, files/ and template files refused when "
            "read; absolute remote destinations are legitimate and accepted"
        )
    )
    assert tally.crashes == 0, tally.report()
    assert not problems, problems


def _step_file(ctx: _StepCtx, folder: str, name: str) -> Verdict:
    try:
        local_file(ctx, folder, name)
    except StepError as exc:
        return Verdict("rejected", str(exc))
    except Exception as exc:
        return Verdict("crash", f"{type(exc).__name__}: {exc}")
    return Verdict("accepted", "read")


# --- 6. injection ------------------------------------------------------------------------


def payloads(marker: Callable[[int], Path]) -> list[str]:
    """Parameter values that would create ``marker(i)`` if a shell or template saw them."""
    return [
        f"; touch {marker(0)}",
        f"$(touch {marker(1)})",
        f"`touch {marker(2)}`",
        f"x\ntouch {marker(3)}",
        f"x\r\ntouch {marker(4)}",
        f"| touch {marker(5)}",
        f"&& touch {marker(6)}",
        f"' ; touch {marker(7)} ; '",
        f'" ; touch {marker(8)} ; "',
        f"$IFS;touch${{IFS}}{marker(9)}",
        f"--output={marker(10)}",
        "-n",
        "${{ secrets.injected }}",
        "${{ hosts.web.address }}",
        "{{ config }}{{ 7*191 }}",
        "{% for x in range(9) %}x{% endfor %}",
        "é\u2028\u00a0" + "x" * 10_000,
    ]


INJECTION = """\
id: injection
version: 1.0.0
title: Parameters reach the host as argv items
owner: o
parameters:
{parameters}sites: {{gra: {{provider: ovh, region: gra}}}}
hosts:
  web: {{site: gra, address: {host}, port: {port}, user: {user}, identity_file: '{key}'}}
steps:
{steps}"""
STEP = """\
  - id: p{i}
    action: ssh.run
    with: {{host: web, argv: [printf, '%s', '${{{{ params.p{i} }}}}']}}
    rollback: {{action: ssh.run, with: {{host: web, argv: ['true']}}}}
    on_failure: continue
    needs: []
"""


RUN_FIELDS = """\
  - id: run-fields
    action: ssh.run
    with: {host: web, argv: [printf, '%s|%s', '${{ run.reason }}', '${{ run.incident }}']}
    rollback: {action: ssh.run, with: {host: web, argv: ['true']}}
    on_failure: continue
    needs: []
"""


def test_injected_parameters_reach_ssh_as_single_argv_items(
    tmp_path: Path,
    clean_sites: SshdSites,
    no_config: Path,
    lifeboat_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tally = Tally("injection: shell, option and template syntax in parameters")
    site = clean_sites.endpoint("site-b")
    monkeypatch.setenv("LIFEBOAT_KNOWN_HOSTS", str(site.known_hosts))
    monkeypatch.setenv("LIFEBOAT_SSH_CONFIG", str(no_config))
    monkeypatch.setenv("LIFEBOAT_SECRET_INJECTED", "LEAKED-SECRET-VALUE")
    markers = tmp_path / "markers"
    markers.mkdir()
    values = payloads(lambda i: markers / f"pwned-{i}")
    path = tmp_path / "injection.yaml"
    path.write_text(
        INJECTION.format(
            parameters="".join(f"  p{i}: {{type: string}}\n" for i in range(len(values))),
            host=site.host,
            port=site.port,
            user=site.user,
            key=site.identity_file,
            steps="".join(STEP.format(i=i) for i in range(len(values))) + RUN_FIELDS,
        )
    )
    ctx = build_context(
        str(path), "live", {f"p{i}": v for i, v in enumerate(values)},
        run_id=f"run-{uuid.uuid4().hex[:8]}", reason=f"; touch {markers / 'pwned-reason'}",
        incident=f"$(touch {markers / 'pwned-incident'})", detected_at="", initiator="tester",
        auto_approver=None,
        settings=Settings(notify_backoff=0.01),
    )  # fmt: skip
    executor = InlineExecutor(ctx)
    started = time.perf_counter()
    try:
        execute(ctx, executor)
    finally:
        executor.pool.shutdown(wait=True)
    seconds = time.perf_counter() - started
    problems = []
    for i, value in enumerate(values):
        outcome = ctx.outcomes.get(f"p{i}")
        label = f"p{i} {value[:40]!r}"
        if outcome is None:
            tally.crash(label, "the step did not run")
        elif outcome.status != "succeeded":
            tally.crash(label, f"failed: {outcome.error}")
        elif outcome.evidence.get("argv") != ["printf", "%s", value]:
            tally.crash(label, f"argv {outcome.evidence.get('argv')!r}")
        elif outcome.evidence.get("stdout_tail") != _tail(value):
            tally.crash(label, f"the host printed {outcome.evidence.get('stdout_tail')!r}")
        else:
            tally.add(Verdict("accepted", "one literal argv item"), label)
    fields = ctx.outcomes.get("run-fields")
    shown = f"{ctx.reason}|{ctx.incident}"
    if fields is None or fields.evidence.get("stdout_tail") != shown:
        tally.crash("run.reason, run.incident", f"{fields and fields.evidence}")
    else:
        tally.add(Verdict("accepted", "literal"), "run.reason, run.incident")
    created = sorted(p.name for p in markers.iterdir())
    for name in created:
        tally.crash(name, "a marker file was created: the injection worked")
    leaked = "LEAKED-SECRET-VALUE" in str([o.evidence for o in ctx.outcomes.values()])
    if leaked:
        tally.crash("secrets", "a secret reference in a value was resolved")
    problems += _unsendable_values_are_refused(tally, path, markers, site, no_config)
    problems += _built_in_steps_refuse_options(tally)
    problems += _messages_are_not_templates(tally)
    record(
        tally.row(
            f"{len(values)} values through ${{{{ params }}}} (and run.reason, run.incident) "
            "into `printf %s VALUE` on a real "
            f"sshd ({seconds:.1f} s): each arrived as one argv item, printed verbatim; no "
            f"marker created ({created or 'none'}); NUL, terminal escapes and non-UTF-8 values "
            "refused as parameters (exit 2), a NUL argv item refused by the SSH transport; "
            "option-like "
            "and shell values refused at validation by the built-in steps; ${{ }} and Jinja in "
            "values never evaluated"
        )
    )
    assert tally.crashes == 0, tally.report()
    assert not problems, problems
    assert created == [] and not leaked


def _unsendable_values_are_refused(
    tally: Tally, path: Path, markers: Path, site: SshEndpoint, no_config: Path
) -> list[str]:
    """A NUL (sshd drops the connection on one), a terminal escape, or text that is not
    valid Unicode (``-p`` bytes that were not UTF-8) is refused as a parameter; the SSH
    transport refuses a NUL in argv too, and its connection stays usable."""
    problems = []
    runbook = load(path).runbook
    for value in [f"a\0; touch {markers / 'pwned-nul'}", "\x1b]0;pwned\x07", "caf\udce9"]:
        label = f"parameter {value!r}"
        try:
            resolve(runbook, {"p0": value})
            tally.crash(label, "accepted")
        except ParameterError as exc:
            tally.add(Verdict("rejected", str(exc)), label)
        except Exception as exc:
            tally.crash(label, f"{type(exc).__name__}: {exc}")
    result = subprocess.run(
        [LIFEBOAT_CLI.encode(), b"plan", bytes(path), b"-p", b"p0=caf\xe9"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    stderr = result.stderr.decode(errors="replace")
    if result.returncode == 2 and "Error: parameter 'p0'" in stderr and "Traceback" not in stderr:
        tally.add(Verdict("rejected", stderr), "plan -p p0=<Latin-1 bytes>")
    else:
        tally.crash("plan -p p0=<Latin-1 bytes>", f"exit {result.returncode}: {stderr[-300:]}")
        problems.append(f"plan -p with Latin-1 bytes: exit {result.returncode}: {stderr[-300:]}")
    pool = SshPool(Settings(known_hosts=site.known_hosts, ssh_config=no_config))
    target = SshTarget(site.host, site.port, site.user, str(site.identity_file))
    try:
        pool.run(target, ["printf", "%s", f"a\0; touch {markers / 'pwned-nul'}"], 10)
        tally.crash("argv with a NUL", "sent")
    except StepError as exc:
        after = pool.run(target, ["printf", "still here"], 10).stdout
        ok = "NUL character" in str(exc) and after == "still here"
        tally.add(Verdict("rejected" if ok else "crash", str(exc)), "argv with a NUL")
    finally:
        pool.close()
    return problems


def _tail(text: str) -> str:
    """What ``ssh.run`` keeps of an output stream in its evidence."""
    return text if len(text) <= TAIL_CHARS else "…" + text[-TAIL_CHARS:]


def _built_in_steps_refuse_options(tally: Tally) -> list[str]:
    """Values that would read as options or shell syntax in the built-in steps' commands
    are refused at validation, positioned, even when they come from a parameter default."""
    problems = []
    template = (
        "id: opt\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "parameters: {{v: {{type: string, default: '{value}'}}}}\n"
        "sites: {{gra: {{provider: ovh, region: gra}}}}\n"
        "hosts: {{web: {{site: gra, address: 203.0.113.9}}}}\n"
        "steps:\n"
        "  - {{id: s, action: {action}, with: {{host: web, {field}: '${{{{ params.v }}}}'}}}}\n"
    )
    for action, field, value in [
        ("service.restart", "unit", "--help"),
        ("service.restart", "unit", "webapp; touch /tmp/pwned"),
        ("service.stop", "unit", "$(reboot)"),
        ("file.put", "path", "-rf"),
        ("file.put", "path", "../../etc/cron.d/x"),
    ]:
        text = template.format(value=value, action=action, field=field)
        if action == "file.put":
            text = text.replace("'${{ params.v }}'}", "'${{ params.v }}', content: x}")
        label = f"{action} {field}={value!r}"
        verdict = tally.add(judge(text.encode()), label, text)
        expected = position_of(text, "'${{ params.v }}'")
        if (
            verdict.kind != "rejected"
            or (verdict.diagnostics[0].line, verdict.diagnostics[0].column) != expected
        ):
            problems.append(f"{label}: expected a diagnostic at {expected}: {verdict}")
    return problems


def _messages_are_not_templates(tally: Tally) -> list[str]:
    """Values in stakeholder messages (incident, reason, window, the runbook's own words)
    are data for the Jinja templates, never templates themselves."""
    runbook = load_runbook_text(
        "id: m\nversion: 1.0.0\ntitle: '{{ 7*191 }}'\nowner: o\n"
        "comms: {service: '{{ config }}', affected: \"{{ ''.__class__ }}\"}\n"
        "steps: [{id: s, check: wait, with: {duration: 1s}}]\n"
    )
    problems = []
    shown = 0
    for stage in Stage:
        message = build(
            runbook, stage, incident="{{ 7*191 }}", reason="{{ self.__init__ }}",
            params={"window": "{% include '/etc/passwd' %}"},
        )  # fmt: skip
        for lang in LANGUAGES:
            for audience in AUDIENCES:
                label = f"{stage.value} {lang}/{audience}"
                try:
                    text = render(message, lang, audience).text
                except Exception as exc:
                    tally.crash(label, f"{type(exc).__name__}: {exc}")
                    continue
                evaluated = ["1337", "<Config", "<class", "root:x:0", "<bound method"]
                if any(e in text for e in evaluated):
                    tally.crash(label, "a value was evaluated as a template")
                    problems.append(f"{label}: {text[:300]!r}")
                else:
                    tally.add(Verdict("accepted", "literal"), label)
                    shown += "{{ 7*191 }}" in text
    if not shown:
        problems.append("no message showed the incident reference {{ 7*191 }} literally")
    return problems


def load_runbook_text(text: str) -> Runbook:
    return load_bytes(text.encode(), NAME).runbook


# --- 7. CR/LF in e-mail ------------------------------------------------------------------

MAIL = """\
id: mail
version: 1.0.0
title: "Mail\\r\\nBcc: {evil}"
owner: o
parameters:
  window: {{type: string, default: "Sat 02:00\\r\\nBcc: {evil}"}}
stakeholders:
  customers: {{language: en, audience: customers, channels: ['{customers}']}}
  oncall: {{language: en, channels: ['{oncall}'], in_drills: true}}
comms: {{service: "the shop\\r\\nBcc: {evil}\\r\\nX-Injected: yes"}}
steps:
  - {{id: opened, notify: incident.opened, to: [customers, oncall]}}
  - {{id: planned, notify: maintenance.scheduled, to: [customers, oncall]}}
"""


def test_crlf_in_subjects_adds_no_header_and_no_recipient(
    tmp_path: Path, smtp_server: SmtpServer, lifeboat_home: Path
) -> None:
    tally = Tally("CR/LF injection into e-mail headers")
    tag = uuid.uuid4().hex[:8]
    evil = f"evil-{tag}@example.com"
    customers, oncall = f"customers-{tag}@example.com", f"oncall-{tag}@example.com"
    path = tmp_path / "mail.yaml"
    path.write_text(
        MAIL.format(
            evil=evil,
            customers=smtp_server.apprise_url(to=customers),
            oncall=smtp_server.apprise_url(to=oncall),
        )
    )
    smuggle = (
        f"x\r\n.\r\nMAIL FROM:<{evil}>\r\nRCPT TO:<{evil}>\r\nDATA\r\nSubject: smuggled\r\n"
        f"\r\nsmuggled\r\n.\r\n\n.\nRCPT TO:<{evil}>\n"
    )
    ctx = build_context(
        str(path), "live", {}, run_id=f"run-{uuid.uuid4().hex[:8]}", reason=smuggle,
        incident=f"INC-9\r\nBcc: {evil}\nCc: {evil}\r\n\r\nbody", detected_at="",
        initiator="tester", auto_approver=None, settings=Settings(notify_backoff=0.01),
    )  # fmt: skip
    sources = ["runbook title", "comms.service", "parameter window", "incident", "reason"]
    before = set(smtp_server.files())
    for step_id in ("opened", "planned"):
        step = ctx.runbook.step(step_id)
        assert isinstance(step, NotifyStep)
        deliver(ctx, step)
    sent = [ctx.outcomes[s].evidence["deliveries"] for s in ("opened", "planned")]
    expected = sum(1 for batch in sent for d in batch if d["status"] == "sent")
    mail, problems = _wait_for_mail(smtp_server, before, expected)
    if expected != 4:
        problems.append(f"{expected} of 4 messages sent: {sent}")
    for message in mail:
        envelope = str(message["X-Sandbox-Envelope-To"])
        label = f"{envelope} {str(message['Subject'])[:50]!r}"
        headers = {name.lower() for name in message}
        extra = headers & {"bcc", "cc", "x-injected"}
        subject = str(message["Subject"])
        if evil in envelope or extra or "\r" in subject or "\n" in subject:
            tally.crash(label, f"envelope {envelope!r}, headers {sorted(extra)}")
        elif envelope not in (customers, oncall):
            tally.crash(label, f"unexpected recipient {envelope!r}")
        else:
            tally.add(Verdict("accepted", "sanitised"), label)
    if len(mail) != expected:
        problems.append(f"{len(mail)} messages arrived for {expected} sent (smuggled?)")
    record(
        tally.row(
            f"CR/LF + Bcc/Cc/X-Injected in {', '.join(sources)}, and an SMTP smuggling body "
            f"(CRLF.CRLF MAIL FROM/RCPT TO): {len(mail)} messages reached the real SMTP "
            "server, each to its one named recipient, subjects on one line, no extra header"
        )
    )
    assert tally.crashes == 0, tally.report()
    assert not problems, problems
    assert len(mail) == 4


def _wait_for_mail(
    server: SmtpServer, before: set[Path], count: int
) -> tuple[list[EmailMessage], list[str]]:
    """The messages filed since ``before``, once the ``count`` sent have arrived and a
    window has passed in which none more may; and what went wrong, as problems (the test
    records its row before it fails on them)."""

    def arrived() -> list[Path]:
        return sorted(set(server.files()) - before)

    problems: list[str] = []
    try:
        wait_until(lambda: len(arrived()) >= count, f"the {count} messages sent reached SMTP")
        # The window is the thing under test: a message smuggled into a body would be
        # filed right after the real ones; no event marks that none is coming.
        stays_false(
            lambda: len(arrived()) > count,
            f"a message beyond the {count} sent reached SMTP (smuggled)",
            within=0.3,
        )
    except AssertionError as exc:  # NeverHappened too
        problems.append(str(exc))
    parser = BytesParser(policy=email.policy.default)
    found = []
    for path in arrived():
        message = parser.parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found, problems
