"""What the CLI prints is what the runbook and the user wrote: positions stay ``PATH:LINE:COL``
(rich once printed ``runbook.yaml:100:3`` as ``runbook.yaml💯3``), values are never read as
emoji codes or markup, and long commands are printed whole, piped and on a terminal."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from lifeboat.console import print_wrapped
from tests.terminal import on_terminal

LIFEBOAT = str(Path(sys.executable).parent / "lifeboat")
EMOJI = ("\U0001f4af", "\U0001f522", "\U0001f604")  # what :100:, :1234: and :smile: became
MARKED = "[bold]x[/bold]"
WORDS = [f"word{n:02}" for n in range(1, 41)]


def shown(args: list[str], where: str) -> tuple[int, str]:
    """Run the CLI piped (stdout then stderr) or on an 80-column terminal (both merged)."""
    if where == "terminal":
        code, raw, plain = on_terminal([LIFEBOAT, *args], columns=80)
        assert not any(face in raw for face in EMOJI), raw
        return code, plain
    result = subprocess.run(
        [LIFEBOAT, *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert not any(face in result.stdout + result.stderr for face in EMOJI)
    return result.returncode, result.stdout + result.stderr


def positions(tmp_path: Path) -> Path:
    """Errors at line 100 (check ':smile:') and line 1234 (check '[bold]x[/bold]')."""
    lines = ["id: positions", "version: 1.0.0", "title: t", "owner: o", "steps:"]
    lines += ["# filler"] * (99 - len(lines))
    lines.append('  - {id: a, check: ":smile:"}')
    lines += ["# filler"] * (1233 - len(lines))
    lines.append(f'  - {{id: b, check: "{MARKED}"}}')
    path = tmp_path / "positions.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("where", ["pipe", "terminal"])
def test_validate_prints_path_line_col_and_values_as_written(tmp_path: Path, where: str) -> None:
    path = positions(tmp_path)
    code, text = shown(["validate", str(path)], where)
    assert code == 2
    errors = [line for line in text.splitlines() if ": error: " in line]
    assert errors == [
        f"{path}:100:20: error: unknown check ':smile:'",
        f"{path}:1234:20: error: unknown check '{MARKED}'",
    ]


def runbook(tmp_path: Path) -> Path:
    """A title with emoji codes and markup, a long live-only command, a URL from a value."""
    path = tmp_path / "long.yaml"
    path.write_text(
        'id: long\nversion: 1.0.0\ntitle: ":smile: [bold]x[/bold] :100:"\nowner: o\n'
        'parameters:\n  path: {type: string, default: "/"}\n'
        "sites: {a: {provider: onprem, region: lab}}\n"
        "hosts: {h: {site: a, address: 192.0.2.1}}\n"
        "steps:\n"
        '  - {id: go, approval: {prompt: "Run it on :smile: [bold]h[/bold]?"}, live_only: true}\n'
        f"  - {{id: cmd, action: ssh.run, with: {{host: h, argv: [echo, {', '.join(WORDS)}]}},"
        " live_only: true, needs: [go]}\n"
        '  - {id: probe, check: http.status, with: {url: "http://127.0.0.1:9/${{ params.path }}"},'
        " needs: [cmd]}\n"
    )
    return path


COMMAND = "ssh.run host=h argv=['echo', " + ", ".join(f"'{w}'" for w in WORDS) + "]"


def record(lines: list[str], start: str, stop: str) -> str:
    """The record whose first line starts with ``start``, its wrapped lines joined."""
    first = next(n for n, line in enumerate(lines) if line.startswith(start))
    parts = [lines[first]]
    for line in lines[first + 1 :]:
        if line.startswith(stop) or not line.startswith(" "):
            break
        parts.append(line)
    return " ".join(" ".join(parts).split())


@pytest.mark.parametrize("where", ["pipe", "terminal"])
def test_plan_prints_values_as_written_and_commands_whole(tmp_path: Path, where: str) -> None:
    code, text = shown(["plan", str(runbook(tmp_path)), "-p", f"path=:smile:{MARKED}"], where)
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith(":smile: [bold]x[/bold] :100:  (long 1.0.0, sha256 ")
    assert " 1. go  approval  Run it on :smile: [bold]h[/bold]?" in lines
    assert f" 3. probe  check  http.status url=http://127.0.0.1:9/:smile:{MARKED}" in lines
    assert record(lines, " 2. cmd", "      needs:") == f"2. cmd action {COMMAND}"
    if where == "pipe":  # one record, one line: grep and CI logs see it whole
        assert f" 2. cmd  action  {COMMAND}" in lines
    else:  # wrapped at the terminal's width, under the step's text
        assert all(len(line) <= 80 for line in lines)
        assert lines[lines.index(next(x for x in lines if x.startswith(" 2. cmd"))) + 1][:7] == (
            "      '"
        )


def test_print_wrapped_keeps_every_character_and_indents_what_follows() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=30, color_system=None, emoji=False)
    text = Text("12:00  step  " + " ".join(WORDS[:12]) + " :smile: [b]x[/b]")
    print_wrapped(text, 13, console)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "12:00  step  word01 word02"
    assert all(line.startswith(" " * 13) and len(line) <= 30 for line in lines[1:])
    assert " ".join(lines).split() == text.plain.split()


def test_print_wrapped_to_a_pipe_is_one_line() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=30, emoji=False)
    text = Text(" ".join(WORDS) + " :100: [b]x[/b]")
    print_wrapped(text, 4, console)
    assert buffer.getvalue() == text.plain + "\n"
