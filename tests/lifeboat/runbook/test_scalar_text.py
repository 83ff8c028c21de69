"""A bad ``${{ }}`` is reported at its own ``${{``, whatever quoting surrounds it.

HEADER in conftest is 16 lines long, so the first step given to ``with_steps`` is on line 17.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.runbook.scalar_text import scalar_span

Steps = Callable[[str], Path]
Errors = Callable[[Path], list[str]]

UNDEFINED = "undefined parameter 'nope' in 'params.nope'"


def at(path: Path, line: int, token: str, nth: int = 0) -> str:
    """``PATH:LINE:COL`` of the ``nth`` ``token`` on that line."""
    text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    column = -1
    for _ in range(nth + 1):
        column = text.index(token, column + 1)
    return f"{path}:{line}:{column + 1}"


def only(errors: list[str]) -> str:
    assert len(errors) == 1, errors
    return errors[0]


def step(title: str) -> str:
    return f"  - id: a\n    title: {title}\n    check: tcp.open\n    with: {{host: h, port: 1}}\n"


def test_reference_in_a_plain_scalar(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step("port ${{ params.nope }} # a comment"))
    assert only(errors_of(path)) == f"{at(path, 18, '${{')}: error: {UNDEFINED}"


def test_reference_after_single_quote_escapes(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step("'it''s ''${{ params.nope }}'''"))
    assert only(errors_of(path)) == f"{at(path, 18, '${{')}: error: {UNDEFINED}"


def test_reference_after_double_quote_escapes(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step('"tab\\t \\"q\\" \\u00e9 ${{ params.nope }}"'))
    assert only(errors_of(path)) == f"{at(path, 18, '${{')}: error: {UNDEFINED}"


def test_second_reference_of_a_string(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step("'${{ params.port }} then ${{ params.nope }}'"))
    assert only(errors_of(path)) == f"{at(path, 18, '${{', nth=1)}: error: {UNDEFINED}"


def test_reference_in_a_flow_mapping(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(
        "  - {id: a, check: tcp.open, with: {host: 'x${{ hosts.web-a.adress }}', port: 1}}\n"
    )
    assert only(errors_of(path)) == (
        f"{at(path, 17, '${{')}: error: 'hosts.web-a.adress': a host has address, port, user, site"
    )


def test_reference_on_a_later_line_of_a_block_scalar(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step("|\n      first line\n      then ${{ params.nope }}"))
    assert only(errors_of(path)) == f"{at(path, 20, '${{')}: error: {UNDEFINED}"


def test_reference_on_a_later_line_of_a_quoted_scalar(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step('"first line\n      then ${{ params.nope }}"'))
    assert only(errors_of(path)) == f"{at(path, 19, '${{')}: error: {UNDEFINED}"


def test_reference_written_with_an_escape_points_at_its_string(
    with_steps: Steps, errors_of: Errors
) -> None:
    # "\x24" writes the '$': the file holds no "${{" to point at, so the string is named.
    path = with_steps(step('"a \\x24{{ params.nope }}"'))
    where = at(path, 18, '"a')
    assert only(errors_of(path)) == f"{where}: error: {UNDEFINED}"


def test_unclosed_reference_after_a_closed_one(with_steps: Steps, errors_of: Errors) -> None:
    path = with_steps(step("'${{ params.port }} and ${{ params.path'"))
    assert only(errors_of(path)) == (
        f"{at(path, 18, '${{', nth=1)}: error: unclosed '${{{{' in "
        "'${{ params.port }} and ${{ params.path': write ${{ params.NAME }}"
    )


@pytest.mark.parametrize(
    ("text", "scalar"),
    [
        ("k: plain words # comment\nn: 1\n", "plain words"),
        ("k: plain\n  goes on\nn: 1\n", "plain\n  goes on"),
        ("k: 'it''s'\n", "'it''s'"),
        ('k: "a \\" b"\n', '"a \\" b"'),
        ("k: &anchor !!str 'x'\n", "'x'"),
        ("k: |\n  one\n\n  two\nn: 1\n", "|\n  one\n\n  two"),
        ("- k: v\n  n: 1\n", "v"),
    ],
)
def test_scalar_span(text: str, scalar: str) -> None:
    start = text.index(":") + 2
    span = scalar_span(text, start)
    assert span is not None
    assert text[span[0] : span[1]] == scalar
