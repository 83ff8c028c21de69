"""What every command prints with: two consoles, exit codes, one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from lifeboat.errors import ParameterError, RunbookInvalid

if TYPE_CHECKING:
    from lifeboat.runbook.loader import LoadedRunbook

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
