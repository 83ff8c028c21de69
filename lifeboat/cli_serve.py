"""``lifeboat serve``: every runbook of a folder as a Prefect deployment, with its own form.

Runs until interrupted, executing the runs started from the Prefect UI and the scheduled
drills. Schedules stay active when it stops (``pause_on_shutdown=False``): a restarted
``serve`` picks them up again, with each runbook's current version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lifeboat.console import EXIT_INVALID, err, fail, out
from lifeboat.errors import RunbookInvalid
from lifeboat.settings import Settings


def serve(
    directory: Annotated[
        Path, typer.Argument(help="A folder of runbooks (or one runbook file).")
    ] = Path("runbooks"),
    limit: Annotated[
        int | None, typer.Option(help="Runs executed at the same time, at most.")
    ] = None,
) -> None:
    """Serve each valid runbook as a Prefect deployment (form, version, drill schedule)."""
    from lifeboat import serving
    from lifeboat.runbook import discover, load

    specs: list[serving.DeploymentSpec] = []
    for path in discover([directory]):
        try:
            loaded = load(path.resolve())
        except RunbookInvalid as exc:
            for diagnostic in exc.diagnostics:
                err.print(str(diagnostic), markup=False)
            err.print(f"skipped: {path}", markup=False)
            continue
        specs.append(serving.spec(loaded))
    if not specs:
        fail(f"no valid runbook in {directory}", EXIT_INVALID)
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        fail(f"two runbooks share the id {duplicates[0]!r}", EXIT_INVALID)

    from lifeboat import server

    url = server.api_url(Settings())
    out.print(f"Prefect API: {url}", markup=False)
    from prefect import serve as prefect_serve  # after PREFECT_API_URL is settled

    from flows.serve import to_deployment

    for spec in specs:
        when = f", drill {spec.cron} ({spec.timezone})" if spec.cron else ""
        out.print(f"serving {spec.name} {spec.version}{when}", markup=False)
    prefect_serve(
        *(to_deployment(spec) for spec in specs),
        pause_on_shutdown=False,
        print_starting_message=False,
        limit=limit,
    )
