"""``lifeboat run``, ``approve`` and ``server``: the commands that talk to Prefect.

``run`` validates first (exit 2, nothing started), then runs the flow in this process and
shows its progress read from the run's journal, the same record auditors read, one line per
event (``lifeboat.cli_screen``); Prefect's own console lines only with ``--verbose``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from lifeboat import cli_screen, follow
from lifeboat.console import EXIT_FAILED, EXIT_INVALID, EXIT_OK, err, fail, load_for_run, out
from lifeboat.errors import LifeboatError, ParameterError
from lifeboat.settings import Settings


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
    detected_at: Annotated[
        str,
        typer.Option(
            "--detected-at",
            metavar="TIME",
            help="When the outage was detected, for the RTO: ISO 8601 (2025-03-10T00:47+01:00; "
            "without an offset, this machine's time zone) or a time ago (-15m, -2h30m).",
        ),
    ] = "",
    resume: Annotated[
        str | None,
        typer.Option(help="Continue this failed or killed run; its done steps are not re-run."),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also print Prefect's log (task states, tracebacks)."),
    ] = False,
) -> None:
    """Run a runbook as a Prefect flow; exit 0 succeeded, 1 failed, 2 invalid."""
    from lifeboat.console import load_or_exit
    from lifeboat.engine import current_user
    from lifeboat.runbook import load

    given: dict[str, str] = {}
    if resume:  # the run's own mode and parameters, from its journal
        if incident or detected_at:
            fail(
                "--resume keeps the run's own --incident and --detected-at: drop them", EXIT_INVALID
            )
        runbook = _resumable(resume, runbook, param)
        shown = load_or_exit(lambda: load(runbook)).runbook
    elif runbook is None:
        fail("give a RUNBOOK to run, or --resume RUN", EXIT_INVALID)
    else:
        loaded, given, _ = load_for_run(runbook, param or [], mode)
        shown = loaded.runbook  # for the screen: step ids, what each gate needs
    _check_run_text(reason=reason, incident=incident)
    detected = parse_detected_at(detected_at) if detected_at else None

    from lifeboat import server

    settings = Settings()
    url = server.api_url(settings)
    out.print(f"Prefect API: {url}", markup=False)
    from flows.run import run_sync  # after PREFECT_API_URL is settled

    if not verbose:
        _quiet_prefect_console()
    user = current_user()
    screen = cli_screen.Screen(
        out,
        [step.id for step in shown.steps],
        cli_screen.gates_of(shown),
        _ui_url,
        answered_in_advance=yes,
    )

    def flow() -> Any:
        return run_sync(
            str(runbook.resolve()),
            mode=mode,
            params=given,
            reason=reason,
            incident=incident,
            detected_at=detected,
            initiator=user,
            auto_approver=user if yes else None,
            resume=resume,
        )

    journal = settings.runs_dir / resume / "journal.jsonl" if resume else None
    state = follow.run_followed(flow, settings.runs_dir, screen.on_entry, journal)
    outcome = state.result(raise_on_failure=False)
    from lifeboat.outcome import RunOutcome

    if isinstance(outcome, LifeboatError):  # refused before any step (e.g. LockHeld)
        fail(str(outcome))
    if not isinstance(outcome, RunOutcome):
        hint = "" if verbose else " (--verbose prints Prefect's log)"
        fail(f"the flow run ended without a result: {state.message}{hint}")
    cli_screen.summary(out, outcome, Path(outcome.journal))
    raise typer.Exit(EXIT_OK if outcome.status == "succeeded" else EXIT_FAILED)


def parse_detected_at(text: str, now: datetime | None = None) -> datetime:
    """``--detected-at``: an ISO 8601 time (a naive one is this machine's local time, as a
    person reads it off their clock) or a time ago, ``-15m``; not in the future. Exit 2."""
    from datetime import UTC

    from lifeboat.runbook.types import parse_duration

    now = now or datetime.now(UTC)
    value = text.strip()
    if value.startswith("-"):
        try:
            return (now - parse_duration(value[1:])).replace(microsecond=0)
        except ValueError as exc:
            fail(f"--detected-at {text!r}: not a time ago: {exc}", EXIT_INVALID)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(
            f"--detected-at {text!r}: neither an ISO 8601 time (e.g. 2025-03-10T00:47:00+01:00)"
            " nor a time ago (e.g. -15m, -2h30m)",
            EXIT_INVALID,
        )
    moment = moment if moment.tzinfo else moment.astimezone()
    if moment > now:
        fail(
            f"--detected-at {text!r}: {moment.isoformat()} is in the future; "
            "give when the outage was detected",
            EXIT_INVALID,
        )
    return moment


def _ui_url(flow_run: str) -> str | None:
    """The Prefect UI's page of a flow run, when the UI's address is known."""
    from prefect.utilities.urls import url_for

    try:
        return url_for("flow-run", obj_id=flow_run)
    except Exception:  # no UI address known (an API without a UI): the screen just omits it
        return None


def _operator_notices_only(record: logging.LogRecord) -> bool:
    """Keep only the run's notices for the operator (``RunContext.warn``)."""
    from lifeboat.context import OPERATOR_NOTICE

    return bool(getattr(record, OPERATOR_NOTICE, False))


def _quiet_prefect_console() -> None:
    """Prefect's console lines (task states, tracebacks, library warnings through the root
    logger) stay off the screen: they interleave out of order with the journal's lines. They
    still reach the Prefect API, so the UI shows them; ``--verbose`` keeps them here too. A
    filter, not a level: Prefect's incremental logging setup resets handler levels."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.addFilter(_operator_notices_only)


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
    out.print(f"resuming run {run_id}: {len(prior.done)} steps done before are kept", markup=False)
    return path


def approve(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN", help="The run id (or a unique prefix of it).")
    ],
    by: Annotated[str, typer.Option("--by", help="Your name, recorded as the approver.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead.")] = False,
    comment: Annotated[str, typer.Option(help="Why.")] = "",
    confirm: Annotated[
        str, typer.Option(help="The target's name, when the gate asks (asked for on a terminal).")
    ] = "",
) -> None:
    """Answer a run's approval gate and wait for its verdict: exit 0 accepted, 1 refused,
    2 no such run or gate."""
    from lifeboat import approvals, server
    from lifeboat.audit.run_records import journals

    settings = Settings()
    server.api_url(settings, start_if_needed=False)
    from prefect.client.orchestration import get_client

    from flows import approve as gates

    journaled = [path.parent.name for path in journals(settings.runs_dir)]
    with get_client(sync_client=True) as client:
        try:
            gate = gates.wait_for_gate(client, gates.find_run(client, run_id, journaled))
            word = confirm or _asked_word(gate.confirm, reject)
            given = {"approved": not reject, "approver": by, "comment": comment}
            gates.answer(client, gate, {**given, "confirm": word, "via": approvals.TERMINAL})
            verdict = gates.wait_for_verdict(client, gate)
        except gates.NoGate as exc:
            fail(str(exc), EXIT_INVALID)
        except gates.NoVerdict as exc:
            fail(str(exc))
        where = f"run {gate.run.id}" + (f", gate {verdict.step}" if verdict.step else "")
        if not verdict.accepted:
            # Back once the gate waits again: an approver who answers at once finds it.
            why = f"{where}: the gate refused the answer: {verdict.why}"
            if not verdict.again:
                fail(f"{why}; its time is up")
            fail(why + ("; it asks again" if gates.asks_again(client, gate) else ""))
    said = "rejected: the gate's step fails" if reject else "approved: the run goes on"
    out.print(f"{where}: {said} (answered as {by})", markup=False)


def _asked_word(needed: str, reject: bool) -> str:
    """The confirmation word, asked for on a terminal when the gate needs one to approve.
    Without a terminal nothing is asked: the gate refuses the answer and says why."""
    import sys

    if not needed or reject or not sys.stdin.isatty():
        return ""
    return str(typer.prompt(f"Type {needed} to confirm"))


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
            f"pid {state.pid}, log {state.log}",
            markup=False,
        )
    elif action == "stop":
        out.print("stopped" if server.stop(settings) else "no local server was running")
    elif action == "status":
        current = server.running(settings)
        if current is None:
            err.print("no local Prefect server running")
            raise typer.Exit(EXIT_FAILED)
        out.print(f"running: {current.url}, pid {current.pid}", markup=False)
    else:
        fail(f"unknown action {action!r}: use start, stop or status", EXIT_INVALID)
