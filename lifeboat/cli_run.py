"""``lifeboat run``, ``approve`` and ``server``: the commands that talk to Prefect.

``run`` validates first (exit 2, nothing started), then runs the flow in this process and
shows live progress read from the run's journal, the same record auditors read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.live import Live
from rich.table import Table

from lifeboat import follow
from lifeboat.console import EXIT_FAILED, EXIT_INVALID, EXIT_OK, err, fail, load_for_run, out
from lifeboat.errors import LifeboatError, ParameterError
from lifeboat.journal import Entry
from lifeboat.settings import Settings

STYLE = {
    "succeeded": "green",
    "failed": "red",
    "skipped": "yellow",
    "running": "cyan",
    "retrying": "magenta",
    "waiting for approval": "bold magenta",
}


def run(
    runbook: Annotated[
        Path | None, typer.Argument(help="The runbook file (with --resume: the run's own).")
    ] = None,
    mode: Annotated[str, typer.Option(help="drill or live")] = "drill",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A runbook parameter, NAME=VALUE (repeatable)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Approve every gate in advance (recorded as such).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why this run was started.")] = "",
    incident: Annotated[str, typer.Option(help="Incident reference, e.g. INC-1234.")] = "",
    resume: Annotated[
        str | None,
        typer.Option(help="Continue this failed or killed run; its done steps are not re-run."),
    ] = None,
) -> None:
    """Run a runbook as a Prefect flow; exit 0 succeeded, 1 failed, 2 invalid."""
    from lifeboat.engine import current_user

    given: dict[str, str] = {}
    if resume:  # the run's own mode and parameters, from its journal
        runbook = _resumable(resume, runbook, param)
    elif runbook is None:
        fail("give a RUNBOOK to run, or --resume RUN", EXIT_INVALID)
    else:
        _, given, _ = load_for_run(runbook, param or [], mode)
    _check_run_text(reason=reason, incident=incident)

    from lifeboat import server

    settings = Settings()
    url = server.api_url(settings)
    out.print(f"Prefect API: {url}")
    from flows.run import run_sync  # after PREFECT_API_URL is settled

    user = current_user()

    def flow() -> Any:
        return run_sync(
            str(runbook.resolve()),
            mode=mode,
            params=given,
            reason=reason,
            incident=incident,
            initiator=user,
            auto_approver=user if yes else None,
            resume=resume,
        )

    state = _followed(settings.runs_dir, flow)
    outcome = state.result(raise_on_failure=False)
    from lifeboat.outcome import RunOutcome

    if isinstance(outcome, LifeboatError):  # refused before any step (e.g. LockHeld)
        fail(str(outcome))
    if not isinstance(outcome, RunOutcome):
        fail(f"the flow run ended without a result: {state.message}")
    out.print(_summary(outcome))
    out.print(f"journal: {outcome.journal}")
    raise typer.Exit(EXIT_OK if outcome.status == "succeeded" else EXIT_FAILED)


def _check_run_text(**values: str) -> None:
    """--reason and --incident are journaled and shown like parameters: same rules."""
    from lifeboat.runbook.params import check_text

    try:
        for name, value in values.items():
            check_text(f"--{name}", value)
    except ParameterError as exc:
        fail(str(exc), EXIT_INVALID)


def _resumable(run_id: str, runbook: Path | None, param: list[str] | None) -> Path:
    """The runbook of a run that can be resumed, unchanged since; exit 2 otherwise."""
    import hashlib

    from lifeboat.resume import CannotResume, load_prior

    if param:
        fail("--resume takes the run's own parameters: drop -p", EXIT_INVALID)
    try:
        prior = load_prior(Settings().runs_dir, run_id)
    except CannotResume as exc:
        fail(str(exc), EXIT_INVALID)
    path = runbook or (Path(prior.runbook_path) if prior.runbook_path else None)
    if path is None:
        fail(f"run {run_id} does not record its runbook's path: give it", EXIT_INVALID)
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != prior.sha256:
        fail(
            f"{path} is not the runbook run {run_id} ran (sha256 {prior.sha256[:12]}): "
            "resuming would run another plan; start a new run",
            EXIT_INVALID,
        )
    out.print(f"resuming run {run_id}: {len(prior.done)} steps done before are kept")
    return path


def _followed(runs: Path, flow: Callable[[], Any]) -> Any:
    """Run ``flow``, showing each step's latest status read from the journal as it grows:
    a redrawn table on a terminal, one line per event in a log or a pipe."""
    if not out.is_terminal:
        return follow.run_followed(flow, runs, _log_line)
    seen: list[Entry] = []
    with Live(Table(), console=out, refresh_per_second=4, transient=False) as live:

        def redraw(entry: Entry) -> None:
            seen.append(entry)
            live.update(_progress(seen))

        return follow.run_followed(flow, runs, redraw)


def _log_line(entry: Entry) -> None:
    if entry.step_id:
        detail = entry.error or entry.summary or ""
        stamp = entry.ts.strftime("%H:%M:%S")
        out.print(f"{stamp} {entry.step_id} {entry.event} {detail}".rstrip(), markup=False)


def _progress(entries: list[Entry]) -> Table:
    table = Table(title=f"run {entries[0].run_id}" if entries else "starting")
    for column in ("step", "status", "detail"):
        table.add_column(column, overflow="fold")
    status: dict[str, tuple[str, str]] = {}
    words = {
        "step.started": "running",
        "step.succeeded": "succeeded",
        "step.failed": "failed",
        "step.skipped": "skipped",
        "step.retried": "retrying",
        "approval.asked": "waiting for approval",
    }
    for entry in entries:
        if entry.step_id and entry.event in words:
            detail = entry.error or entry.summary or ""
            if entry.event == "approval.asked":
                detail = f"lifeboat approve {entry.run_id} --by NAME   (or in the Prefect UI)"
            status[entry.step_id] = (words[entry.event], detail)
    for step_id, (word, detail) in status.items():
        table.add_row(step_id, f"[{STYLE.get(word, '')}]{word}[/]", detail)
    return table


def _summary(outcome: Any) -> Table:
    table = Table(
        title=f"{outcome.runbook_id} {outcome.version}: {outcome.mode} run {outcome.status.value}"
    )
    for column in ("step", "status", "duration", "summary"):
        table.add_column(column, overflow="fold")
    for step in [*outcome.steps, *outcome.rollbacks]:
        word = step.status.value + (" (tolerated)" if step.tolerated else "")
        table.add_row(
            step.step_id,
            f"[{STYLE.get(step.status.value, '')}]{word}[/]",
            f"{step.duration_ms / 1000:.2f} s",
            step.error or step.summary,
        )
    return table


def approve(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run (flow run) id.")],
    by: Annotated[str, typer.Option("--by", help="Your name, recorded as the approver.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    comment: Annotated[str, typer.Option(help="Why.")] = "",
    confirm: Annotated[str, typer.Option(help="The target's name, when the gate asks.")] = "",
) -> None:
    """Answer a run's approval gate from the terminal."""
    from lifeboat import server

    try:
        flow_run_id = UUID(run_id)
    except ValueError:
        fail(f"{run_id!r} is not a run id (a UUID, as shown by 'lifeboat run')", EXIT_INVALID)
    server.api_url(Settings(), start_if_needed=False)
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    if state is None or not state.is_paused():
        fail(
            f"run {run_id} is not waiting for an approval (state: "
            f"{state.name if state else 'unknown'})"
        )
    resume_flow_run(
        flow_run_id,
        run_input={"approved": not reject, "approver": by, "comment": comment, "confirm": confirm},
    )
    out.print(f"{'rejected' if reject else 'approved'} run {run_id} as {by}")


def server_command(
    action: Annotated[str, typer.Argument(help="start, stop or status")],
) -> None:
    """Start, stop or show the local Prefect server (with its UI) under LIFEBOAT_HOME."""
    from lifeboat import server

    settings = Settings()
    if action == "start":
        state = server.start(settings)
        out.print(
            f"Prefect server: {state.url} (UI: {state.url.removesuffix('/api')}), "
            f"pid {state.pid}, log {state.log}"
        )
    elif action == "stop":
        out.print("stopped" if server.stop(settings) else "no local server was running")
    elif action == "status":
        current = server.running(settings)
        if current is None:
            err.print("no local Prefect server running")
            raise typer.Exit(EXIT_FAILED)
        out.print(f"running: {current.url}, pid {current.pid}")
    else:
        fail(f"unknown action {action!r}: use start, stop or status", EXIT_INVALID)
