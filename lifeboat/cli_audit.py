"""``lifeboat audit ...``: prove a run's record intact, and read the history of runs.

Commands are registered explicitly at the bottom; each lives in the module of its concern
(``lifeboat.audit.*``) and imports what it needs when it runs.
"""

from __future__ import annotations

import typer

from lifeboat.audit import cli_history, cli_verify

app = typer.Typer(
    name="audit",
    help="The record of runs: verify it, list and show runs, export them, drill statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Registrations (one line per command):
app.command("verify")(cli_verify.verify)
app.command("list")(cli_history.list_runs)
app.command("show")(cli_history.show)
app.command("export")(cli_history.export)
app.command("drills")(cli_history.drills)
