"""Run records, read from their journals: what ``audit list`` shows and what the other history
views start from.

Journals are the source of truth (``<runs_dir>/<run_id>/journal.jsonl``). They are streamed
line by line, so memory stays bounded however long a run was, and a line is only decoded when
its event matters to the question asked: the event name is read from the raw bytes first
(``Journal`` writes compact JSON, ``"event":"..."``). Integrity is ``audit verify``'s job:
here a line that does not decode is skipped, and a journal without ``run.ended`` is a run
still running or interrupted.

Holds the streaming primitives (``read_entries``, ``parse_ts``) that ``step_export`` and
``timeline`` read journals with too, the ``RunRecord`` of one run, ``Filters``, and finding
and listing runs under a runs directory. ``lifeboat.audit.history`` re-exports the public names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

Status = Literal["ok", "failed", "interrupted"]
JOURNAL = "journal.jsonl"
# What ``list`` needs; ``export`` and ``show`` decode every line.
_RUN_EVENTS = {"run.started", "run.resumed", "run.ended", "approval.answered"}
_EVENT_KEY = b'"event":"'


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


# --- scanning: the primitives every history view reads journals with ---


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


def read_entries(path: Path, wanted: set[str] | None) -> Iterator[dict[str, Any]]:
    """The decoded entries of one journal whose event is in ``wanted`` (None: every one);
    lines of other events are skipped undecoded, lines that do not decode are skipped."""
    for line in _lines(path):
        event = _event_of(line)
        if wanted is not None and event is not None and event not in wanted:
            continue
        entry = _decode(line)
        if entry is not None and (wanted is None or entry["event"] in wanted):
            yield entry


def parse_ts(value: str) -> datetime:
    """An entry's ``ts`` (ISO 8601) as a datetime."""
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
            started=parse_ts(entry["ts"]),
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
                self.ended = parse_ts(entry["ts"])
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


def first_entry(path: Path) -> dict[str, Any] | None:
    """A journal's first complete entry, decoded (None while none is complete)."""
    for line in _lines(path):
        return _decode(line)
    return None


def scan_run(path: Path, filters: Filters | None = None) -> RunRecord | None:
    """The run of one journal, or None when it has no ``run.started`` or is filtered out."""
    filters = filters or Filters()
    first = first_entry(path)
    partial = _Partial.start(first, path) if first else None
    if partial is None or not filters.keeps_start(partial):
        return None
    for entry in read_entries(path, _RUN_EVENTS):
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
