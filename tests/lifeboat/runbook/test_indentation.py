"""YAML syntax errors name the line indented unlike its siblings, not libyaml's state.

HEADER in conftest is 16 lines long, so the first step given to ``with_steps`` is on line 17.
Each comment says what libyaml alone reported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifeboat.runbook import indentation
from tests.conftest import HEADER

Steps = Callable[[str], Path]
Write = Callable[..., Path]
Errors = Callable[[Path], list[str]]


def only(errors: list[str]) -> str:
    assert len(errors) == 1, errors
    return errors[0]


def test_with_indented_two_spaces_too_deep(with_steps: Steps, errors_of: Errors) -> None:
    # libyaml: 19:11 "mapping values are not allowed in this context"
    path = with_steps(
        "  - id: probe\n    check: tcp.open\n      with:\n      host: web-a\n      port: 22\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:19:7: error: YAML syntax: 'with:' is indented 6 spaces, its siblings 4 "
        "('check:' on line 18): indent it 4 spaces"
    )


def test_dedented_key_is_reported_on_its_own_line(with_steps: Steps, errors_of: Errors) -> None:
    # libyaml: 21:7, the next step's line, "mapping values are not allowed in this context"
    path = with_steps(
        "  - id: probe\n    check: tcp.open\n    with: {host: web-a, port: 22}\ntimeout: 30s\n"
        "  - id: next\n    check: tcp.open\n    with: {host: web-b, port: 22}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:20:1: error: YAML syntax: 'timeout:' is indented 0 spaces, its siblings 4 "
        "('with:' on line 19): indent it 4 spaces"
    )


def test_key_dedented_to_the_list_entries(with_steps: Steps, errors_of: Errors) -> None:
    # libyaml: 20:3 "did not find expected '-' indicator"
    path = with_steps(
        "  - id: probe\n    check: tcp.open\n    with: {host: web-a, port: 22}\n  timeout: 30s\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:20:3: error: YAML syntax: 'timeout:' is indented 2 spaces, its siblings 4 "
        "('with:' on line 19): indent it 4 spaces"
    )


def test_list_entry_indented_alone(with_steps: Steps, errors_of: Errors) -> None:
    # libyaml: 20:4 "did not find expected '-' indicator"; its keys are where they belong
    path = with_steps(
        "  - id: a\n    check: tcp.open\n    with: {host: h, port: 1}\n"
        "   - id: b\n    check: tcp.open\n    with: {host: h, port: 2}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:20:4: error: YAML syntax: '- id: b' is indented 3 spaces, its siblings 2 "
        "('- id: a' on line 17): indent it 2 spaces"
    )


def test_list_entry_dedented_with_its_keys(with_steps: Steps, errors_of: Errors) -> None:
    # libyaml: 20:1 "did not find expected key"; the entry and its keys moved together
    path = with_steps(
        "  - id: a\n    check: tcp.open\n    with: {host: h, port: 1}\n"
        "- id: b\n  check: tcp.open\n  with: {host: h, port: 2}\n"
    )
    assert only(errors_of(path)) == (
        f"{path}:20:1: error: YAML syntax: '- id: b' is indented 0 spaces, its siblings 2 "
        "('- id: a' on line 17): indent it 2 spaces"
    )


def test_first_key_has_its_siblings_below(write: Write, errors_of: Errors) -> None:
    # libyaml: 2:1 "did not find expected <document start>"
    path = write("  id: x\nversion: 1.0.0\ntitle: t\nowner: o\n")
    assert only(errors_of(path)) == (
        f"{path}:1:3: error: YAML syntax: 'id:' is indented 2 spaces, its siblings 0 "
        "('version:' on line 2): do not indent it"
    )


def test_tab_in_the_indentation(with_steps: Steps, errors_of: Errors) -> None:
    # libyaml: "found character that cannot start any token"
    path = with_steps("  - id: a\n\tcheck: tcp.open\n")
    assert only(errors_of(path)) == (
        f"{path}:18:1: error: YAML syntax: a tab in the indentation: YAML indents with spaces only"
    )


def test_a_mistake_far_down_a_long_list_is_found(with_steps: Steps, errors_of: Errors) -> None:
    # No top-level line within the window: it starts at the shallowest line, dedented.
    steps = "".join(f"  - id: s{i}\n    check: tcp.open\n" for i in range(100))
    path = with_steps(steps + "  - id: last\n    check: tcp.open\n      with: {host: h}\n")
    assert only(errors_of(path)) == (
        f"{path}:219:7: error: YAML syntax: 'with:' is indented 6 spaces, its siblings 4 "
        "('check:' on line 218): indent it 4 spaces"
    )


def test_other_syntax_errors_keep_yaml_words(write: Write, errors_of: Errors) -> None:
    path = write("id: x\ntitle: [a, b\nowner: o\n")
    assert only(errors_of(path)) == (
        f"{path}:3:6: error: YAML syntax: did not find expected ',' or ']'"
    )


def test_looking_for_the_mistake_is_bounded(
    write: Write, errors_of: Errors, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unclosed bracket deep in a big file: no indentation fixes it, every trial fails.
    parses: list[None] = []
    parse = indentation._Window.error_line

    def counted(*args: Any) -> Any:
        parses.append(None)
        return parse(*args)

    monkeypatch.setattr(indentation._Window, "error_line", counted)
    body = "".join(f"k{i}:\n  a: 1\n  b: [2, 3\n" for i in range(2000))
    path = write(HEADER.replace("steps:\n", body))
    (error,) = errors_of(path)
    assert "YAML syntax: did not find expected ',' or ']'" in error
    assert 1 < len(parses) <= indentation.MAX_TRIALS + 1  # the baseline, then the trials
