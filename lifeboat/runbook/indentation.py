"""Name the indentation mistake behind a YAML syntax error (error path only).

libyaml says where parsing failed, in its own words ("mapping values are not allowed in
this context"), and often a line after the mistake: a key dedented to the top level is
only wrong once the next line goes on with the list it left. Most syntax errors in
hand-written runbooks are one line indented like the wrong siblings, so the failing line
and the two content lines above it are each tried at the indentations the lines above them
use (nearest first), re-parsing a window of the file each time. The first change that lets
the window parse past the error names the line, its siblings and the indentation they use.

A file that parses never comes here. The work is bounded whatever the file: at most
``MAX_TRIALS`` parses of a window of at most ``WINDOW_LINES`` lines and ``WINDOW_CHARS``
characters. When nothing is found (an unclosed bracket, a stray quote), the caller keeps
libyaml's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

import yaml

from lifeboat.runbook.scalar_text import BREAK

_KEY = re.compile(r"""(?:"[^"]*"|'[^']*'|[^\s#'"{\[&*!|>%@`,][^#]*?):(?:\s|$)""")
WINDOW_LINES = 200  # looked at above the first candidate line
WINDOW_CHARS = 64 * 1024
TAIL_LINES = 3  # parsed below the error: a fix must carry the parse past it
CANDIDATES = 3  # the failing line and the content lines above it
TARGETS = 4  # indentations tried per candidate line
MAX_TRIALS = CANDIDATES * TARGETS * 2  # each target: the line with its block, the line alone


@dataclass(frozen=True)
class Hint:
    line: int  # 1-based, like diagnostics
    column: int
    message: str


def diagnose(text: str, line: int) -> Hint | None:
    """The likely indentation mistake behind libyaml's error on 0-based ``line``."""
    lines = BREAK.split(text)
    line = min(line, len(lines) - 1)
    if (tab := _leading_tab(lines[line])) is not None:
        return Hint(line + 1, tab + 1, "a tab in the indentation: YAML indents with spaces only")
    candidates = list(islice((i for i in range(line, -1, -1) if _content(lines[i])), CANDIDATES))
    if not candidates:
        return None
    window = _Window.around(lines, candidates[-1], line)
    if window is None or window.error_line(window.lines) != line - window.start:
        return None  # the window does not fail as the file does: its start is not clean
    trials = 0
    for candidate in candidates:
        indent = _indent(lines[candidate])
        levels = _levels(lines, candidate, window.start)
        below = _next_sibling(lines, candidate, window.start + len(window.lines))
        if below is not None:  # the first key of a block has its siblings below only
            levels.setdefault(_indent(lines[below]), below)
        targets = sorted(
            (t for t in levels if t != indent and t >= window.dedent),
            key=lambda t: (abs(t - indent), -t),
        )
        for target in targets[:TARGETS]:
            with_block = _shifted(lines, candidate, target - indent)
            alone = {candidate: with_block[candidate]}
            for changes in (with_block, alone) if len(with_block) > 1 else (alone,):
                trials += 1
                if trials > MAX_TRIALS:
                    return None
                if window.parses_past(line, changes):
                    return Hint(
                        candidate + 1, indent + 1, _message(lines, candidate, target, levels)
                    )
    return None


def _message(lines: list[str], candidate: int, target: int, levels: dict[int, int]) -> str:
    sibling, indent = levels[target], _indent(lines[candidate])
    fix = f"indent it {_spaces(target)}" if target else "do not indent it"
    return (
        f"{_label(lines[candidate])} is indented {_spaces(indent)}, its siblings {target} "
        f"({_label(lines[sibling])} on line {sibling + 1}): {fix}"
    )


def _spaces(count: int) -> str:
    return f"{count} space{'s' * (count != 1)}"


def _label(line: str) -> str:
    """How to name a line in a message: its key (``'with:'``), a list entry's text
    (``'- id: restore'``), else its first characters."""
    text = line.strip(" ")
    key = None if text.startswith("-") else _KEY.match(text)
    shown = key.group().rstrip() if key else text.rstrip()
    return f"'{shown[:40]}...'" if len(shown) > 40 else f"'{shown}'"


def _leading_tab(line: str) -> int | None:
    lead = line[: len(line) - len(line.lstrip(" \t"))]
    return lead.index("\t") if "\t" in lead and line.strip() else None


def _content(line: str) -> bool:
    stripped = line.strip(" ")
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _item_column(line: str) -> int:
    """Where the content of a ``- `` entry starts (its keys' indentation), else the indent."""
    column = _indent(line)
    while line.startswith("- ", column):
        column += 2
        column += _indent(line[column:])
    return column


def _levels(lines: list[str], candidate: int, start: int) -> dict[int, int]:
    """Indentation -> the nearest line above ``candidate`` using it, among the lines that
    still enclose it (each shallower than everything after it)."""
    levels: dict[int, int] = {}
    lowest: int | None = None
    for index in range(candidate - 1, start - 1, -1):
        if not _content(lines[index]):
            continue
        indent = _indent(lines[index])
        if lowest is None or indent < lowest:
            lowest = indent
            levels.setdefault(_item_column(lines[index]), index)
            levels.setdefault(indent, index)
            if indent == 0:
                break
    return levels


def _next_sibling(lines: list[str], candidate: int, end: int) -> int | None:
    """The first content line below ``candidate`` and the block it opens."""
    block = _shifted(lines, candidate, 0)
    for index in range(max(block) + 1, end):
        if _content(lines[index]):
            return index
    return None


def _opens_block(line: str) -> bool:
    """A ``key:`` with its value on the lines below, or a ``- `` entry: lines deeper than it
    belong to it and move with it."""
    body = line.strip(" ")
    return body.startswith("- ") or body == "-" or re.search(r":\s*(#.*)?$", body) is not None


def _shifted(lines: list[str], candidate: int, delta: int) -> dict[int, str]:
    """The lines changed when ``candidate`` (and the block it opens) moves ``delta`` columns."""
    indent = _indent(lines[candidate])
    moved = {candidate: _shift(lines[candidate], delta)}
    if _opens_block(lines[candidate]):
        for index in range(candidate + 1, min(len(lines), candidate + WINDOW_LINES)):
            if _content(lines[index]) and _indent(lines[index]) <= indent:
                break
            moved[index] = _shift(lines[index], delta)
    return moved


def _shift(line: str, delta: int) -> str:
    if delta >= 0:
        return " " * delta + line if line.strip() else line
    return line[min(-delta, _indent(line)) :]


@dataclass
class _Window:
    """Lines ``start`` to ``end`` of the file, shallowest ``dedent`` columns removed, so that
    the window parses on its own like the file does."""

    lines: list[str]
    start: int
    dedent: int

    @classmethod
    def around(cls, lines: list[str], first: int, error: int) -> _Window | None:
        start = first  # back to the nearest top-level line above, or the shallowest one
        lowest: int | None = None
        for index in range(first - 1, max(-1, first - WINDOW_LINES), -1):
            if _content(lines[index]) and (lowest is None or _indent(lines[index]) < lowest):
                start, lowest = index, _indent(lines[index])
                if lowest == 0:
                    break
        end = min(len(lines), max(error, first) + TAIL_LINES + 1)
        body = lines[start:end]
        dedent = min((_indent(x) for x in body if _content(x)), default=0)
        body = [x[min(dedent, _indent(x)) :] for x in body]
        if sum(map(len, body)) > WINDOW_CHARS:
            return None
        return cls(body, start, dedent)

    def error_line(self, body: list[str]) -> int | None:
        """0-based line (in the window) of the first parse error, None when it parses."""
        try:
            for _ in yaml.parse("\n".join(body) + "\n", Loader=yaml.CSafeLoader):
                pass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            return mark.line if mark else 0
        except yaml.YAMLError:
            return 0
        return None

    def parses_past(self, error: int, changes: dict[int, str]) -> bool:
        """With ``changes`` (file line -> text), the window parses past the file's error,
        up to its end (a window cut in a flow collection fails there: that is fine)."""
        body = list(self.lines)
        for index, text in changes.items():
            if self.start <= index < self.start + len(body):
                body[index - self.start] = text[min(self.dedent, _indent(text)) :]
        found = self.error_line(body)
        return found is None or (found > error - self.start and found >= len(body) - 1)
