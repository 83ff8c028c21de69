"""``lifeboat audit list|show|export|drills``: the history of runs, from their journals.

Registered in ``lifeboat.cli_audit``. Exit codes: 0; 2 for an unknown run or an invalid
option value (``--since 3x``, ``--mode prod``).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.table import Table
from rich.text import Text

from lifeboat.audit.history import (
    EXPORT_COLUMNS,
    Filters,
    RunRecord,
    export_rows,
    find_run,
    row_values,
    runs,
    scan_run,
    since_cutoff,
    timeline,
)
from lifeboat.audit.history import drills as drill_stats
from lifeboat.console import EXIT_INVALID, fail, out, wide

Since = Annotated[
    str | None, typer.Option(help="Only runs started within this duration: 30d, 12h, 2w.")
]
WIDE = 200  # columns of a table printed to a pipe or a file
RunbookOpt = Annotated[str | None, typer.Option("--runbook", help="Only this runbook id.")]
ModeOpt = Annotated[str | None, typer.Option(help="live or drill")]
StatusOpt = Annotated[str | None, typer.Option(help="ok, failed or interrupted")]


def _runs_dir() -> Path:
    from lifeboat.settings import Settings

    return Settings().runs_dir


def _cutoff(since: str | None, option: str = "--since") -> datetime | None:
    try:
        return since_cutoff(since)
    except ValueError as exc:
        fail(f"{option}: {exc}", EXIT_INVALID)


def _duration(value: str, option: str) -> timedelta:
    from lifeboat.runbook.types import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        fail(f"{option}: {exc}", EXIT_INVALID)


def _filters(
    runbook: str | None, since: str | None, mode: str | None, status: str | None
) -> Filters:
    if mode is not None and mode not in ("live", "drill"):
        fail(f"--mode must be live or drill, not {mode!r}", EXIT_INVALID)
    if status is not None and status not in ("ok", "failed", "interrupted"):
        fail(f"--status must be ok, failed or interrupted, not {status!r}", EXIT_INVALID)
    return Filters.model_validate(
        {"runbook": runbook, "since": _cutoff(since), "mode": mode, "status": status}
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value:.2f}s"
    return f"{value:.1f}s" if value < 600 else f"{value / 60:.1f}m"


def _print_table(table: Table) -> None:
    """On a terminal, to its width; to a pipe or file, wide: a report is read, not redrawn."""
    if out.is_terminal:
        out.print(table)
    else:
        wide(WIDE).print(table)


def _cells(*values: str) -> list[Text]:
    """A table row as text, not markup: an incident "[b]x[/b]" or a reason ":fire:" stays."""
    return [Text(value) for value in values]


def _status_word(status: str) -> str:
    return "running or interrupted" if status == "interrupted" else status


def list_runs(
    runbook: RunbookOpt = None,
    since: Since = None,
    mode: ModeOpt = None,
    status: StatusOpt = None,
) -> None:
    """The runs, newest first: when, runbook and version, mode, status, duration, who
    started it, who approved, incident."""
    filters = _filters(runbook, since, mode, status)
    records = runs(_runs_dir(), filters)
    _enrich(records)
    if not records:
        out.print("no runs", markup=False)
        return
    out.print(f"{len(records)} run{'s' * (len(records) != 1)}", markup=False)
    table = Table()
    for column in ("started (UTC)", "run", "runbook", "mode", "status", "duration", "by"):
        table.add_column(column, overflow="fold")
    table.add_column("approved by", overflow="fold")
    table.add_column("incident", overflow="fold")
    prefect = any(r.flow_run_state for r in records)
    if prefect:
        table.add_column("Prefect state", overflow="fold")
    for r in records:
        table.add_row(
            *_cells(
                _when(r.started),
                r.run_id,
                f"{r.runbook_id} {r.version}",
                r.mode,
                _status_word(r.status),
                _seconds(r.duration.total_seconds()) if r.duration else "",
                r.initiator or "",
                ", ".join(r.approvers),
                r.incident,
                *([r.flow_run_state or ""] if prefect else []),
            )
        )
    _print_table(table)


def _enrich(records: list[RunRecord]) -> None:
    """Prefect's view of each run (state, UI link) when an API is configured and answers."""
    import os

    if not os.environ.get("PREFECT_API_URL") or not records:
        return
    try:
        from flows.history import enrich
    except ImportError:
        return
    enrich(records)


def show(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run id (or a unique prefix).")],
) -> None:
    """The run's timeline: every journal entry with its time, step, status, what it said or
    the error, and who acted."""
    path = find_run(_runs_dir(), run)
    if path is None:
        fail(f"no run {run!r} in {_runs_dir()}", EXIT_INVALID)
    record = scan_run(path)
    if record is not None:
        head = (
            f"run {record.run_id}: {record.runbook_id} {record.version} "
            f"(sha256 {record.sha256[:12]}), {record.mode}, {_status_word(record.status)}"
        )
        if record.duration:
            head += f" in {_seconds(record.duration.total_seconds())}"
        out.print(head, markup=False)
        details = [("started by", record.initiator), ("incident", record.incident)]
        details += [("reason", record.reason), ("approved by", ", ".join(record.approvers))]
        out.print("; ".join(f"{k}: {v}" for k, v in details if v), markup=False)
        _enrich([record])
        if record.flow_run_url:
            out.print(f"Prefect: {record.flow_run_state}, {record.flow_run_url}", markup=False)
    table = Table()
    for column in ("time (UTC)", "event", "step", "status", "summary or error", "actor"):
        table.add_column(column, overflow="fold")
    for event in timeline(path):
        table.add_row(
            *_cells(
                event.ts.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
                event.event,
                event.step or "",
                event.status,
                event.text,
                event.actor or "",
            )
        )
    _print_table(table)


def export(
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    since: Since = None,
    *,
    runbook: RunbookOpt = None,
    mode: ModeOpt = None,
    status: StatusOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not to stdout.")
    ] = None,
) -> None:
    """One row per step of every run (newest run first): run, runbook id, version, sha256,
    git commit, mode, step, kind, status, start, end, duration_ms, actor or approver,
    summary (or the error)."""
    if format not in ("csv", "json"):
        fail(f"--format must be csv or json, not {format!r}", EXIT_INVALID)
    filters = _filters(runbook, since, mode, status)
    if output is None:
        count = write_export(sys.stdout, format, _runs_dir(), filters)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = write_export(handle, format, _runs_dir(), filters)
    out.print(f"{count} rows written to {output}", markup=False)


def write_export(handle: IO[str], format: str, runs_dir: Path, filters: object = None) -> int:
    """Stream the export to ``handle``; returns the number of rows."""
    assert filters is None or isinstance(filters, Filters)
    count = 0
    if format == "csv":
        writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in export_rows(runs_dir, filters):
            writer.writerow(row_values(row))
            count += 1
        return count
    handle.write("[")  # a JSON list, written as it goes
    for row in export_rows(runs_dir, filters):
        handle.write(("\n  " if count == 0 else ",\n  ") + json.dumps(row_values(row)))
        count += 1
    handle.write("\n]\n" if count else "]\n")
    return count


def drills(
    since: Annotated[str, typer.Option(help="The window of drills counted.")] = "90d",
    certify_within: Annotated[
        str, typer.Option(help="A passing drill this recent certifies the current version.")
    ] = "30d",
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            help="Where to write the SVG chart of each drill's RTO and RPO against the "
            "objectives (default: drills.svg in LIFEBOAT_HOME).",
        ),
    ] = None,
) -> None:
    """Per runbook: drills run, pass rate, last pass, RTO trend (durations of the last
    passing drills), and whether its current version is certified: a passing drill of that
    exact version and file (sha256) within --certify-within. Also writes a chart (SVG) of
    every drill's RTO and RPO against the runbook's objectives, and says where."""
    cutoff = _cutoff(since)
    within = _duration(certify_within, "--certify-within")
    stats = drill_stats(_runs_dir(), cutoff, within)
    if not stats:
        out.print(f"no drills since {since} ago", markup=False)
        return
    out.print(f"drills in the last {since}", markup=False)
    table = Table()
    for column in ("runbook", "drills", "pass rate", "last pass (UTC)", "RTO trend"):
        table.add_column(column, overflow="fold")
    table.add_column("current version", overflow="fold")
    table.add_column("certified", overflow="fold")
    for s in stats:
        digits = 1 if min(s.rto_trend, default=1) >= 1 else 3  # one precision for a trend
        trend = " → ".join(f"{d:.{digits}f}s" for d in s.rto_trend)
        if s.trend not in ("n/a",):
            trend += f" ({s.trend})"
        table.add_row(
            *_cells(
                s.runbook_id,
                str(s.drills),
                f"{s.pass_rate:.0%} ({s.passed}/{s.drills})",
                _when(s.last_pass),
                trend,
                s.current_version,
                ("yes: " if s.certified else "NO: ") + s.why,
            )
        )
    _print_table(table)
    _write_chart(chart, cutoff, since)


def _write_chart(path: Path | None, cutoff: datetime | None, since: str) -> None:
    """The drills' RTO and RPO as an SVG file; its path printed (a failure is exit 1)."""
    from lifeboat.audit import drill_chart
    from lifeboat.settings import Settings

    target = path or Settings().home / "drills.svg"
    try:
        drill_chart.write(target, drill_chart.all_series(_runs_dir(), cutoff), since)
    except OSError as exc:
        fail(f"--chart: cannot write {target}: {exc.strerror or exc}")
    out.print(f"chart of each drill's RTO and RPO against the objectives: {target}", markup=False)
