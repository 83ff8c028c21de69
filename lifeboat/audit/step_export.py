"""``audit export``: one row per step of every run, for CSV and JSON.

A step's row joins its start, its end (or ``interrupted`` when it never ended), the actor who
approved it and its summary, under the identity of its run (runbook id, version, sha256, git
commit, mode). Rows are built from a ``RunRecord`` by streaming its journal again
(``run_records.read_entries``), and their text is redacted on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lifeboat.audit.run_records import Filters, RunRecord, parse_ts, read_entries, runs
from lifeboat.redact import Redactor

STEP_ENDS = {"step.succeeded": "succeeded", "step.failed": "failed", "step.skipped": "skipped"}
ROLLBACK_ENDS = {"rollback.succeeded": "succeeded", "rollback.failed": "failed"}
STARTS = {"step.started", "approval.asked", "rollback.started"}

EXPORT_COLUMNS = (
    "run",
    "runbook_id",
    "version",
    "sha256",
    "git_commit",
    "mode",
    "step",
    "kind",
    "status",
    "start",
    "end",
    "duration_ms",
    "actor",
    "summary",
)


class StepRow(BaseModel):
    """One step of one run: a row of ``audit export``."""

    run: str
    runbook_id: str
    version: str
    sha256: str
    git_commit: str | None
    mode: str
    step: str
    kind: str
    status: str  # succeeded, failed, skipped, interrupted (started, never ended)
    start: datetime | None
    end: datetime | None
    duration_ms: float | None
    actor: str | None
    summary: str


def step_rows(record: RunRecord, redactor: Redactor | None = None) -> Iterator[StepRow]:
    """The steps of one run in the order they ended (rollbacks after, as they ran); a step
    that started and never ended is ``interrupted``. Text is redacted once more on the way
    out: journals are redacted when written, this catches secret-shaped text regardless."""
    redactor = redactor or Redactor()
    starts: dict[str, datetime] = {}
    actors: dict[str, str] = {}
    done: set[str] = set()
    order: dict[str, None] = {}  # keys in the order their steps started (a set that keeps it)

    def row(key: str, entry: dict[str, Any], status: str) -> StepRow:
        text = entry.get("error") or entry.get("summary") or ""
        step = entry.get("step_id") or ""
        actor = entry.get("actor") or actors.get(key)
        return StepRow(
            run=record.run_id,
            runbook_id=record.runbook_id,
            version=record.version,
            sha256=record.sha256,
            git_commit=record.git_commit,
            mode=record.mode,
            step=step,
            kind=entry.get("kind") or "",
            status=status,
            start=starts.get(key),
            end=parse_ts(entry["ts"]) if status != "interrupted" else None,
            duration_ms=entry.get("duration_ms"),
            actor=redactor.text(actor) if actor else None,
            summary=redactor.text(text),
        )

    pending: dict[str, dict[str, Any]] = {}
    for entry in read_entries(Path(record.journal), None):
        event, step = entry["event"], entry.get("step_id")
        if not step:
            continue
        key = f"rollback:{step}" if event.startswith("rollback.") else step
        if event in STARTS:
            starts.setdefault(key, parse_ts(entry["ts"]))
            pending[key] = entry
            order.setdefault(key, None)
        elif event == "approval.answered" and entry.get("actor"):
            actors[key] = entry["actor"]
        elif event in STEP_ENDS or event in ROLLBACK_ENDS:
            status = STEP_ENDS.get(event) or ROLLBACK_ENDS[event]
            pending.pop(key, None)
            starts.setdefault(key, parse_ts(entry["ts"]))
            done.add(key)
            yield row(key, entry, status)
    for key in order:
        if key not in done and key in pending:
            yield row(key, pending[key] | {"duration_ms": None}, "interrupted")


def export_rows(runs_dir: Path, filters: Filters | None = None) -> Iterator[StepRow]:
    """Every step of every run that passes ``filters``, runs newest first."""
    redactor = Redactor()
    for record in runs(runs_dir, filters):
        yield from step_rows(record, redactor)


def row_values(row: StepRow) -> dict[str, Any]:
    """A row with JSON/CSV-friendly values (timestamps as ISO 8601 UTC)."""
    values = row.model_dump()
    for name in ("start", "end"):
        moment = values[name]
        values[name] = moment.isoformat().replace("+00:00", "Z") if moment else None
    return values
