"""What every command prints with: two consoles, exit codes, one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from lifeboat.errors import RunbookInvalid

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
