"""The ``lifeboat`` command line.

Commands are registered explicitly at the bottom of this module. Users see one
``Error: ...`` line and an exit code, never a traceback: 0 ok, 1 failed, 2 invalid input.
Heavy imports (Prefect, later) stay inside the commands that need them, so that
``lifeboat validate`` starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from lifeboat import (
    __version__,
    cli_audit,
    cli_comms,
    cli_demo,
    cli_report,
    cli_run,
    cli_sandbox,
    cli_serve,
)
from lifeboat.console import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    err,
    fail,
    load_for_run,
    out,
    print_wrapped,
)
from lifeboat.errors import LifeboatError, ParameterError, RunbookInvalid

app = typer.Typer(
    name="lifeboat",
    help="Disaster-recovery runbooks: validate, plan and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback with locals could print secrets
    rich_markup_mode=None,
)


def show_version(value: bool) -> None:
    if value:
        out.print(f"lifeboat {__version__}")
        raise typer.Exit(EXIT_OK)


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Disaster-recovery runbooks: validate, plan and run them."""


def validate(
    paths: Annotated[list[Path], typer.Argument(help="Runbook files or folders of them.")],
) -> None:
    """Validate runbook files and folders; exit 0 when all are valid, 2 otherwise."""
    from lifeboat.runbook import discover, load

    files = list(discover(paths))
    if not files:
        fail(
            "no runbook files (*.yaml, *.yml) found in " + ", ".join(map(str, paths)), EXIT_INVALID
        )
    invalid = errors = 0
    for path in files:
        try:
            loaded = load(path)
        except RunbookInvalid as exc:
            invalid += 1
            errors += len(exc.diagnostics)
            for diagnostic in exc.diagnostics:
                err.print(str(diagnostic), markup=False)
            continue
        rb = loaded.runbook
        out.print(f"ok: {path} ({rb.id} {rb.version}, {len(rb.steps)} steps)", markup=False)
    if invalid:
        fail(
            f"{invalid} of {len(files)} runbooks invalid, {errors} error{'s' * (errors != 1)}",
            EXIT_INVALID,
        )
    out.print(f"{len(files)} runbook{'s' if len(files) > 1 else ''} valid")


def plan(
    runbook: Annotated[Path, typer.Argument(help="The runbook file.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A runbook parameter, NAME=VALUE (repeatable)."),
    ] = None,
    mode: Annotated[str, typer.Option(help="drill or live")] = "drill",
) -> None:
    """Show the resolved plan: steps in order, what runs in drill and live mode. Changes nothing."""
    from lifeboat.plan import build_plan, describe
    from lifeboat.registry import default_registry

    loaded, _, values = load_for_run(runbook, param or [], mode)
    the_plan = build_plan(loaded, values, default_registry(), mode=mode)  # type: ignore[arg-type]
    rb = loaded.runbook
    # Text, not markup: a title, a command or a parameter value prints as written.
    print_wrapped(
        Text.assemble(
            (rb.title, "bold"),
            f"  ({rb.id} {rb.version}, sha256 {loaded.sha256[:12]}, plan {the_plan.hash[:12]})",
        )
    )
    if rb.objectives.rto or rb.objectives.rpo:
        out.print(
            f"objectives: RTO {_fmt(rb.objectives.rto)}, RPO {_fmt(rb.objectives.rpo)}",
            markup=False,
        )
    for number, step in enumerate(the_plan.steps, 1):
        print_wrapped(
            Text.assemble(
                (f"{number:>2}. {step.id}", "bold"), "  ", (step.kind, "cyan"), "  ", describe(step)
            ),
            indent=6,
        )
        notes = [
            f"needs: {', '.join(step.needs) or '-'}",
            f"drill: {step.drill}",
            f"live: {step.live}",
        ]
        if step.rollback:
            notes.append(f"rollback: {step.rollback}")
        elif step.mutating and not step.reversible:
            notes.append("IRREVERSIBLE: no rollback")
        print_wrapped(Text("      " + "  |  ".join(notes), style="dim"), indent=6)


def _fmt(value: object) -> str:
    from datetime import timedelta

    from lifeboat.runbook.types import format_duration

    return format_duration(value) if isinstance(value, timedelta) else "-"


def schema() -> None:
    """Print the runbook JSON Schema (committed as runbook.schema.json)."""
    from lifeboat.registry import default_registry
    from lifeboat.runbook.schema import schema_text

    sys.stdout.write(schema_text(default_registry()))


app.callback()(root)
app.command("validate")(validate)
app.command("plan")(plan)
app.command("schema")(schema)
app.command("demo")(cli_demo.demo)
app.command("run")(cli_run.run)
app.command("approve")(cli_run.approve)
app.command("server")(cli_run.server_command)
app.command("sandbox")(cli_sandbox.sandbox_command)
app.command("serve")(cli_serve.serve)
app.add_typer(cli_comms.app, name="comms")
app.add_typer(cli_audit.app, name="audit")
app.command("report")(cli_report.report)


def main() -> None:
    """Entry point: our errors become one line and an exit code."""
    try:
        app()
    except LifeboatError as exc:
        err.print(f"Error: {exc}", markup=False)
        sys.exit(EXIT_INVALID if isinstance(exc, RunbookInvalid | ParameterError) else EXIT_FAILED)
    except Exception as exc:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get("LIFEBOAT_DEBUG"):
            raise
        err.print(
            f"Error: internal error ({type(exc).__name__}: {exc}); "
            "set LIFEBOAT_DEBUG=1 for the traceback",
            markup=False,
        )
        sys.exit(EXIT_FAILED)
