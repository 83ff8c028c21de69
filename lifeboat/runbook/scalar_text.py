"""Where a character of a string value stands in the file (error path only).

The loader records where each value starts: the quote of ``"https://x/${{ params.pth }}"``
or the first letter of a plain scalar. A bad reference deserves the position of its own
``${{``, so the scalar's text in the file is delimited (plain, single- and double-quoted,
literal and folded block scalars; one line or several), and the n-th ``${{`` of the value is
the n-th ``${{`` of that text: quotes, escapes and line folding change the characters
around it, never ``${{`` itself. When the counts differ (an escape that writes ``$``), the
caller keeps the start of the scalar.
"""

from __future__ import annotations

import bisect
import re

#: What libyaml counts as a line break (its marks number lines by these).
BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_END_OF_LINE = re.compile(r"[\r\n\x85\u2028\u2029]|[ \t]#")


def line_starts(text: str) -> list[int]:
    """Index in ``text`` where each line starts, lines numbered as libyaml numbers them."""
    return [0, *(match.end() for match in BREAK.finditer(text))]


def offset_of(starts: list[int], line: int, column: int) -> int:
    """Index of the 1-based ``line``/``column`` (libyaml counts characters, not bytes)."""
    return starts[line - 1] + column - 1


def position_of(starts: list[int], index: int) -> tuple[int, int]:
    """1-based line and column of ``index``."""
    line = bisect.bisect_right(starts, index)
    return line, index - starts[line - 1] + 1


def nth_in_scalar(text: str, start: int, needle: str, nth: int, count: int) -> int | None:
    """Index in ``text`` of the ``nth`` (0-based) ``needle`` of the scalar starting at
    ``start``, whose value holds ``count`` of them; None when its text does not match."""
    span = scalar_span(text, start)
    if span is None:
        return None
    found = [m.start() for m in re.finditer(re.escape(needle), text[span[0] : span[1]])]
    return span[0] + found[nth] if len(found) == count and 0 <= nth < count else None


def scalar_span(text: str, start: int) -> tuple[int, int] | None:
    """Start and end in ``text`` of the scalar written at ``start``."""
    start = _after_properties(text, start)
    if start >= len(text):
        return None
    first = text[start]
    if first == '"':
        end = _closing_quote(text, start, escape="\\")
    elif first == "'":
        end = _closing_quote(text, start, escape="'")
    elif first in "|>":
        end = _block_end(text, start)
    else:
        end = _plain_end(text, start)
    return (start, end) if end is not None else None


def _after_properties(text: str, index: int) -> int:
    """Past an anchor (``&name``) or a tag (``!!str``) written before the scalar."""
    while index < len(text) and text[index] in "&!":
        while index < len(text) and text[index] not in " \t\r\n":
            index += 1
        while index < len(text) and text[index] in " \t":
            index += 1
    return index


def _closing_quote(text: str, start: int, *, escape: str) -> int | None:
    quote, index = text[start], start + 1
    while index < len(text):
        char = text[index]
        if char == escape and (escape == "\\" or text[index + 1 : index + 2] == quote):
            index += 2  # ``\\"`` in double quotes, ``''`` in single quotes
        elif char == quote:
            return index + 1
        else:
            index += 1
    return None


def _line_end(text: str, index: int) -> int:
    match = BREAK.search(text, index)
    return match.start() if match else len(text)


def _indent_at(text: str, line_start: int) -> int:
    index = line_start
    while index < len(text) and text[index] == " ":
        index += 1
    return index - line_start


def _next_line(text: str, index: int) -> int | None:
    match = BREAK.search(text, index)
    return match.end() if match else None


def _plain_end(text: str, start: int) -> int:
    """A plain scalar ends at a comment or at the end of its line; it goes on over the next
    lines indented deeper than the key or list entry it belongs to (blank lines between)."""
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    owner = _indent_at(text, line_start)
    while text.startswith("- ", line_start + owner):  # ``- key: value``: the key's column
        owner += 2 + _indent_at(text, line_start + owner + 2)
    end, comment = _content_end(text, start)
    nxt = _next_line(text, end)
    while not comment and nxt is not None:
        body = text[nxt : _line_end(text, nxt)]
        if body.strip():
            if _indent_at(text, nxt) <= owner or body.lstrip(" ").startswith("#"):
                break
            end, comment = _content_end(text, nxt)
        nxt = _next_line(text, _line_end(text, nxt))
    return end


def _content_end(text: str, index: int) -> tuple[int, bool]:
    """Where the line's content ends, and whether a comment follows it."""
    match = _END_OF_LINE.search(text, index)
    if match is None:
        return len(text), False
    return match.start(), text[match.start()] in " \t"


def _block_end(text: str, start: int) -> int:
    """A literal or folded block scalar: its header line, then every line indented at least
    like its first non-blank line."""
    nxt = _next_line(text, start)
    if nxt is None:
        return len(text)
    indent: int | None = None
    end = nxt
    while nxt is not None and nxt < len(text):
        body = text[nxt : _line_end(text, nxt)]
        if body.strip():
            here = _indent_at(text, nxt)
            indent = here if indent is None else indent
            if here < indent:
                break
        end = _line_end(text, nxt)
        nxt = _next_line(text, end)
    return end
