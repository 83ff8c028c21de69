"""``lifeboat comms lint|preview``: check and show stakeholder messages without sending them."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from lifeboat.console import EXIT_FAILED, EXIT_INVALID, err, fail, load_or_exit, out

app = typer.Typer(
    name="comms",
    help="Stakeholder messages: lint them, preview them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def lint(
    runbooks: Annotated[list[Path], typer.Argument(help="Runbook files or folders of them.")],
) -> None:
    """Name each message lacking a part its stage requires, or naming internal hosts, sites
    or providers to customers; exit 0 when clean, 1 otherwise, 2 on an invalid runbook."""
    from lifeboat.comms.lint import lint as lint_runbook
    from lifeboat.registry import default_registry
    from lifeboat.runbook import discover, load

    files = list(discover(runbooks))
    if not files:
        fail("no runbook files (*.yaml, *.yml) found in " + ", ".join(map(str, runbooks)), 2)
    registry = default_registry()
    findings = 0
    for path in files:
        loaded = load_or_exit(partial(load, path, registry=registry))
        for finding in lint_runbook(loaded.runbook, path):
            findings += 1
            out.print(str(finding), markup=False)
    if findings:
        err.print(
            f"{findings} problem{'s' * (findings != 1)} in stakeholder messages", markup=False
        )
        raise typer.Exit(EXIT_FAILED)
    out.print(f"messages ok: {len(files)} runbook{'s' * (len(files) != 1)}")


def preview(
    runbook: Annotated[Path, typer.Argument(help="The runbook file.")],
    stage: Annotated[str, typer.Option(help="maintenance.scheduled, incident.opened, ...")],
    lang: Annotated[str, typer.Option(help="en, fr or nl")] = "en",
    audience: Annotated[str, typer.Option(help="customers or internal")] = "customers",
    incident: Annotated[str, typer.Option(help="The incident reference shown.")] = "",
    mode: Annotated[str, typer.Option(help="drill or live")] = "live",
) -> None:
    """Render one message as the run would (parameters at their defaults); send nothing."""
    from lifeboat.comms.message import build, example_failure
    from lifeboat.comms.render import AUDIENCES, LANGUAGES, override_path, render
    from lifeboat.registry import default_registry
    from lifeboat.runbook import load
    from lifeboat.runbook.model import Stage

    stages = [s.value for s in Stage]
    if stage not in stages:
        fail(f"--stage must be one of {', '.join(stages)}, not {stage!r}", EXIT_INVALID)
    if lang not in LANGUAGES:
        fail(f"--lang must be one of {', '.join(LANGUAGES)}, not {lang!r}", EXIT_INVALID)
    if audience not in AUDIENCES:
        fail(f"--audience must be one of {', '.join(AUDIENCES)}, not {audience!r}", EXIT_INVALID)
    if mode not in ("drill", "live"):
        fail(f"--mode must be drill or live, not {mode!r}", EXIT_INVALID)
    loaded = load_or_exit(lambda: load(runbook, registry=default_registry()))
    rb = loaded.runbook
    params = {n: p.default for n, p in rb.parameters.items() if p.default is not None}
    # incident.failed is the run's own closing message: shown for an example failure.
    failure = example_failure(rb, runbook) if stage == Stage.incident_failed else None
    message = build(rb, Stage(stage), mode=mode, incident=incident, params=params, failure=failure)
    rendered = render(message, lang, audience, override=override_path(rb, runbook, Stage(stage)))
    out.print(f"Subject: {rendered.subject}\n\n{rendered.body}", markup=False, end="")


app.command("lint")(lint)
app.command("preview")(preview)
