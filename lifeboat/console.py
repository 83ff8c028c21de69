"""What every command prints with: two consoles, exit codes, one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from lifeboat.errors import ParameterError, RunbookInvalid

if TYPE_CHECKING:
    from lifeboat.runbook.loader import LoadedRunbook

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

# emoji=False: rich would print ``runbook.yaml:100:3`` as ``runbook.yaml💯3`` and a user's
# ``:smile:`` as a face. Markup stays on for the demo's colours; every value a person wrote
# (paths, titles, summaries, errors) goes out as ``Text`` or with ``markup=False``.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def wide(width: int) -> Console:
    """A console of ``width`` columns for tables written to a pipe or a file."""
    return Console(highlight=False, emoji=False, width=width)


def print_wrapped(text: Text, indent: int = 0, console: Console = out) -> None:
    """Print ``text`` whole, never cut: on a terminal wrapped at words to its width, the
    lines after the first indented by ``indent``; to a pipe or a file on one line, so that
    grep and CI logs see each record as one line."""
    if not console.is_terminal:
        console.print(text, soft_wrap=True)
        return
    indent = min(indent, console.width // 2)  # a narrow terminal still gets half a line
    (first, *_) = text.wrap(console, console.width, overflow="fold")
    rest = text[len(first.plain) :]  # wrapping keeps every character: the rest follows
    rest = rest[len(rest.plain) - len(rest.plain.lstrip(" ")) :]
    lines = [first]
    if rest.plain:
        lines += rest.wrap(console, console.width - indent, overflow="fold")
    for number, line in enumerate(lines):
        line.rstrip()
        console.print(Text(" " * indent) + line if number else line, soft_wrap=True)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err.print(f"Error: {message}", markup=False)
    raise typer.Exit(code)


def load_or_exit(loader: Callable[[], LoadedRunbook]) -> LoadedRunbook:
    try:
        return loader()
    except RunbookInvalid as exc:
        for diagnostic in exc.diagnostics:
            err.print(str(diagnostic), markup=False)
        fail(f"runbook invalid, {len(exc.diagnostics)} errors", EXIT_INVALID)


def load_for_run(
    runbook: Path, assignments: list[str], mode: str
) -> tuple[LoadedRunbook, dict[str, str], dict[str, Any]]:
    """Validate a runbook, its ``-p`` values and the mode; exit 2 on any problem.

    Returns the runbook loaded with the values (so ``with:`` is checked against them), the
    values as given, and the values resolved to their declared types.
    """
    from lifeboat import secrets
    from lifeboat.registry import default_registry
    from lifeboat.runbook import load
    from lifeboat.runbook.params import parse_assignments, resolve
    from lifeboat.settings import Settings

    if mode not in ("drill", "live"):
        fail(f"--mode must be drill or live, not {mode!r}", EXIT_INVALID)
    registry = default_registry()
    loaded = load_or_exit(lambda: load(runbook, registry=registry))
    try:
        given = parse_assignments(assignments)
        values = resolve(loaded.runbook, given)
        secrets.refuse_in_parameters(given, Settings().secret_values())
    except ParameterError as exc:
        fail(str(exc), EXIT_INVALID)
    return load_or_exit(lambda: load(runbook, registry=registry, params=values)), given, values
