"""The history of runs, read from their journals: list, show, export, drill statistics.

Journals are the source of truth (``<runs_dir>/<run_id>/journal.jsonl``). They are streamed
line by line, so memory stays bounded however long a run was, and a line is only decoded when
its event matters to the question asked: the event name is read from the raw bytes first
(``Journal`` writes compact JSON, ``"event":"..."``). Integrity is ``audit verify``'s job:
here a line that does not decode is skipped, and a journal without ``run.ended`` is a run
still running or interrupted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from lifeboat.redact import Redactor

Status = Literal["ok", "failed", "interrupted"]
JOURNAL = "journal.jsonl"
STEP_ENDS = {"step.succeeded": "succeeded", "step.failed": "failed", "step.skipped": "skipped"}
ROLLBACK_ENDS = {"rollback.succeeded": "succeeded", "rollback.failed": "failed"}
STARTS = {"step.started", "approval.asked", "rollback.started"}
# What ``list`` needs; ``export`` and ``show`` decode every line.
_RUN_EVENTS = {"run.started", "run.resumed", "run.ended", "approval.answered"}
_EVENT_KEY = b'"event":"'

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


class RunRecord(BaseModel):
    """One run as an auditor lists it."""

    run_id: str
    runbook_id: str
    version: str
    sha256: str
    git_commit: str | None = None
    mode: str
    status: Status
    started: datetime
    ended: datetime | None = None
    duration: timedelta | None = None
    initiator: str | None = None
    approvers: list[str] = []
    incident: str = ""
    reason: str = ""
    runbook_path: str | None = None
    journal: str
    flow_run_url: str | None = None  # set by ``flows.history.enrich`` when Prefect answers
    flow_run_state: str | None = None


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


class TimelineEvent(BaseModel):
    """One journal entry as ``audit show`` prints it."""

    ts: datetime
    event: str
    step: str | None
    status: str
    text: str
    actor: str | None


class Filters(BaseModel):
    runbook: str | None = None
    since: datetime | None = None  # runs started at or after
    mode: Literal["live", "drill"] | None = None
    status: Status | None = None

    def keeps_start(self, record: _Partial) -> bool:
        """What the first line decides: lets a scan stop reading a journal early."""
        if self.runbook is not None and record.runbook_id != self.runbook:
            return False
        if self.mode is not None and record.mode != self.mode:
            return False
        return self.since is None or record.started >= self.since

    def keeps(self, record: RunRecord) -> bool:
        return self.status is None or record.status == self.status


def since_cutoff(text: str | None, now: datetime | None = None) -> datetime | None:
    """``"30d"`` -> the moment 30 days ago; ValueError (parse_duration's) when invalid."""
    from lifeboat.runbook.types import parse_duration

    if text is None:
        return None
    return (now or datetime.now(UTC)) - parse_duration(text)


# --- scanning ---


def _event_of(line: bytes) -> str | None:
    """The event name from the raw line, without decoding it (None: not the usual layout)."""
    at = line.find(_EVENT_KEY)
    if at < 0:
        return None
    start = at + len(_EVENT_KEY)
    end = line.find(b'"', start)
    return line[start:end].decode() if end > 0 else None


def _lines(path: Path) -> Iterator[bytes]:
    """Complete lines only: a partial last line (a run killed mid-write) is not an entry."""
    with path.open("rb") as handle:
        for line in handle:
            if line.endswith(b"\n") and line.strip():
                yield line


def _decode(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "event" in value else None


def _entries(path: Path, wanted: set[str] | None) -> Iterator[dict[str, Any]]:
    for line in _lines(path):
        event = _event_of(line)
        if wanted is not None and event is not None and event not in wanted:
            continue
        entry = _decode(line)
        if entry is not None and (wanted is None or entry["event"] in wanted):
            yield entry


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class _Partial:
    """A run while its journal is being read."""

    run_id: str
    runbook: dict[str, Any]
    mode: str
    started: datetime
    initiator: str | None
    incident: str
    reason: str
    runbook_path: str | None
    journal: Path
    approvers: list[str] = field(default_factory=list)
    ended: datetime | None = None
    ended_ok: bool | None = None

    @property
    def runbook_id(self) -> str:
        return str(self.runbook.get("id", ""))

    @classmethod
    def start(cls, entry: dict[str, Any], journal: Path) -> _Partial | None:
        if entry.get("event") != "run.started":
            return None
        inputs = entry.get("inputs") or {}
        return cls(
            run_id=entry["run_id"],
            runbook=entry.get("runbook") or {},
            mode=str(inputs.get("mode", "")),
            started=_ts(entry["ts"]),
            initiator=entry.get("actor"),
            incident=str(inputs.get("incident") or ""),
            reason=entry.get("summary") or "",
            runbook_path=inputs.get("runbook"),
            journal=journal,
        )

    def see(self, entry: dict[str, Any]) -> None:
        match entry["event"]:
            case "approval.answered":
                actor, summary = entry.get("actor"), entry.get("summary") or ""
                counted = not entry.get("error") and summary.startswith("approved")
                if isinstance(actor, str) and counted and actor not in self.approvers:
                    self.approvers.append(actor)
            case "run.ended":
                self.ended = _ts(entry["ts"])
                self.ended_ok = (entry.get("summary") or "").startswith("succeeded")
            case "run.resumed":  # the run goes on: it has not ended (yet)
                self.ended, self.ended_ok = None, None

    def record(self) -> RunRecord:
        status: Status = (
            "interrupted" if self.ended_ok is None else "ok" if self.ended_ok else "failed"
        )
        rb = self.runbook
        return RunRecord(
            run_id=self.run_id,
            runbook_id=self.runbook_id,
            version=str(rb.get("version", "")),
            sha256=str(rb.get("sha256", "")),
            git_commit=rb.get("git_commit"),
            mode=self.mode,
            status=status,
            started=self.started,
            ended=self.ended,
            duration=self.ended - self.started if self.ended else None,
            initiator=self.initiator,
            approvers=self.approvers,
            incident=self.incident,
            reason=self.reason,
            runbook_path=self.runbook_path,
            journal=str(self.journal),
        )


def journals(runs_dir: Path) -> Iterator[Path]:
    """Every run's journal under ``runs_dir`` (no order)."""
    if not runs_dir.is_dir():
        return
    for child in runs_dir.iterdir():
        path = child / JOURNAL
        if path.is_file():
            yield path


def _first(path: Path) -> dict[str, Any] | None:
    for line in _lines(path):
        return _decode(line)
    return None


def scan_run(path: Path, filters: Filters | None = None) -> RunRecord | None:
    """The run of one journal, or None when it has no ``run.started`` or is filtered out."""
    filters = filters or Filters()
    first = _first(path)
    partial = _Partial.start(first, path) if first else None
    if partial is None or not filters.keeps_start(partial):
        return None
    for entry in _entries(path, _RUN_EVENTS):
        partial.see(entry)
    record = partial.record()
    return record if filters.keeps(record) else None


def runs(runs_dir: Path, filters: Filters | None = None) -> list[RunRecord]:
    """The runs under ``runs_dir`` that pass ``filters``, newest first."""
    found = (scan_run(path, filters) for path in journals(runs_dir))
    return sorted((r for r in found if r is not None), key=lambda r: r.started, reverse=True)


def find_run(runs_dir: Path, run: str) -> Path | None:
    """A run's journal by id, or by a prefix of it that names one run only."""
    exact = runs_dir / run / JOURNAL
    if "/" not in run and run not in ("", ".", "..") and exact.is_file():
        return exact
    matches = [p for p in journals(runs_dir) if run and p.parent.name.startswith(run)]
    return matches[0] if len(matches) == 1 else None


# --- export: one row per step ---


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
            end=_ts(entry["ts"]) if status != "interrupted" else None,
            duration_ms=entry.get("duration_ms"),
            actor=redactor.text(actor) if actor else None,
            summary=redactor.text(text),
        )

    pending: dict[str, dict[str, Any]] = {}
    for entry in _entries(Path(record.journal), None):
        event, step = entry["event"], entry.get("step_id")
        if not step:
            continue
        key = f"rollback:{step}" if event.startswith("rollback.") else step
        if event in STARTS:
            starts.setdefault(key, _ts(entry["ts"]))
            pending[key] = entry
            order.setdefault(key, None)
        elif event == "approval.answered" and entry.get("actor"):
            actors[key] = entry["actor"]
        elif event in STEP_ENDS or event in ROLLBACK_ENDS:
            status = STEP_ENDS.get(event) or ROLLBACK_ENDS[event]
            pending.pop(key, None)
            starts.setdefault(key, _ts(entry["ts"]))
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


# --- show: the timeline ---

_WORDS = {
    "run.started": "started",
    "run.resumed": "resumed",
    "step.started": "started",
    "step.succeeded": "succeeded",
    "step.failed": "failed",
    "step.skipped": "skipped",
    "step.retried": "retrying",
    "approval.asked": "waiting",
    "update.sent": "sent",
    "rollback.started": "started",
    "rollback.succeeded": "succeeded",
    "rollback.failed": "failed",
}


def timeline(path: Path) -> Iterator[TimelineEvent]:
    """Every entry of one journal, streamed, as a line of the timeline."""
    redactor = Redactor()
    for entry in _entries(path, None):
        event = entry["event"]
        text = entry.get("error") or entry.get("summary") or ""
        status = _WORDS.get(event, "")
        if event == "run.ended":
            status = "ok" if text.startswith("succeeded") else "failed"
        elif event == "approval.answered":
            status = "refused" if entry.get("error") else text.split(":", 1)[0] or "answered"
        elif event == "update.sent" and entry.get("error"):
            status = "failed"
        yield TimelineEvent(
            ts=_ts(entry["ts"]),
            event=event,
            step=entry.get("step_id"),
            status=status,
            text=redactor.text(text),
            actor=entry.get("actor"),
        )


# --- drills ---


class RunbookDrills(BaseModel):
    """``audit drills``: one runbook's drill record."""

    runbook_id: str
    drills: int
    passed: int
    pass_rate: float
    last_pass: datetime | None
    rto_trend: list[float]  # seconds, oldest first, of the last passing drills
    trend: Literal["improving", "worsening", "steady", "n/a"]
    current_version: str
    current_sha256: str | None  # None: the runbook file is gone, the newest journal's version
    certified: bool
    certified_by: str | None  # the run that certifies the current version
    why: str  # why (not) certified, in words


def current_identity(records: Iterable[RunRecord]) -> tuple[str, str | None]:
    """(version, sha256) of a runbook as it is now: its file, by the path in the newest run
    that names an existing one; else the newest journal's version (sha256 None: unknown)."""
    newest = sorted(records, key=lambda r: r.started, reverse=True)
    for record in newest:
        if record.runbook_path and Path(record.runbook_path).is_file():
            raw = Path(record.runbook_path).read_bytes()
            try:
                data = yaml.safe_load(raw)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and data.get("id") == record.runbook_id:
                return str(data.get("version", "")), hashlib.sha256(raw).hexdigest()
    return (newest[0].version, newest[0].sha256) if newest else ("", None)


def trend_of(durations: list[float]) -> Literal["improving", "worsening", "steady", "n/a"]:
    if len(durations) < 2:
        return "n/a"
    first, last = durations[0], durations[-1]
    if abs(last - first) <= 0.05 * first:
        return "steady"
    return "improving" if last < first else "worsening"


def drills(
    runs_dir: Path,
    since: datetime | None,
    certify_within: timedelta,
    *,
    now: datetime | None = None,
    trend_length: int = 5,
) -> list[RunbookDrills]:
    """Per runbook that has drills since ``since``: counts, pass rate, RTO trend, and
    whether its current version passed a drill (same version and sha256) within
    ``certify_within``."""
    now = now or datetime.now(UTC)
    oldest = min(since, now - certify_within) if since else None
    every = runs(runs_dir, Filters(since=oldest))
    by_runbook: dict[str, list[RunRecord]] = {}
    for record in every:
        by_runbook.setdefault(record.runbook_id, []).append(record)
    result = []
    for runbook_id, records in sorted(by_runbook.items()):
        drilled = [r for r in records if r.mode == "drill"]
        if not drilled:
            continue
        window = [r for r in drilled if since is None or r.started >= since]
        passed = sorted((r for r in window if r.status == "ok"), key=lambda r: r.started)
        trend = [r.duration.total_seconds() for r in passed[-trend_length:] if r.duration]
        version, sha = current_identity(records)
        certified_by, why = _certification(drilled, version, sha, now, certify_within)
        result.append(
            RunbookDrills(
                runbook_id=runbook_id,
                drills=len(window),
                passed=len(passed),
                pass_rate=len(passed) / len(window) if window else 0.0,
                last_pass=passed[-1].ended if passed else None,
                rto_trend=trend,
                trend=trend_of(trend),
                current_version=version,
                current_sha256=sha,
                certified=certified_by is not None,
                certified_by=certified_by,
                why=why,
            )
        )
    return result


def _certification(
    drilled: list[RunRecord], version: str, sha: str | None, now: datetime, within: timedelta
) -> tuple[str | None, str]:
    from lifeboat.runbook.types import format_duration

    same = [
        r
        for r in drilled
        if r.status == "ok" and r.version == version and (sha is None or r.sha256 == sha)
    ]
    if not same:
        return None, f"no passing drill of {version}" + (" (this file)" if sha else "")
    newest = max(same, key=lambda r: r.ended or r.started)
    moment = newest.ended or newest.started
    if now - moment > within:
        age = format_duration(timedelta(hours=round((now - moment).total_seconds() / 3600)))
        return None, f"last passing drill of {version} is {age} old"
    return newest.run_id, f"passed a drill of {version} within {format_duration(within)}"
