"""The review's account of every action: its inputs, what it changed, and its rollback.

Read from the journal only: ``step.started`` holds the rendered inputs, the action's end
its summary, evidence (with the ``changes`` it recorded, ``lifeboat.changes``) and the undo
it left; ``rollback.*`` entries the compensation that ran and how it ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lifeboat import changes
from lifeboat.audit.review_parts import compact
from lifeboat.changes import Change
from lifeboat.journal import Entry

_ENDS = {"step.succeeded": "succeeded", "step.failed": "failed", "step.skipped": "skipped"}
_ROLLBACK_ENDS = {"rollback.succeeded": "succeeded", "rollback.failed": "failed"}


class RollbackRecord(BaseModel):
    """The compensation of one action, as it ran."""

    action: str
    inputs: str  # compact
    status: str  # succeeded, failed, or started (the journal stops before it ended)
    started: datetime | None = None
    ended: datetime | None = None
    summary: str = ""
    changes: list[Change] | None = None


class ActionRecord(BaseModel):
    """One action step: what it was asked, what it did, and how it was undone."""

    step_id: str
    name: str
    status: str  # succeeded, failed, skipped, or started (never ended)
    started: datetime | None = None
    ended: datetime | None = None
    inputs: str = ""  # compact: the inputs as rendered for the last attempt
    summary: str = ""
    changes: list[Change] | None = None  # None: none recorded (an older journal)
    evidence: str = ""  # compact: shown when no changes were recorded
    undo: str | None = None  # the undo the action left, when it left one
    rollback: RollbackRecord | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def rollback_call(self) -> str:
        """The rollback's action and inputs, or "its undo" when it ran the undo above."""
        if self.rollback is None:
            return ""
        call = f"{self.rollback.action} {self.rollback.inputs}".strip()
        return "the undo it left" if call == self.undo else call

    @property
    def rollback_words(self) -> str:
        """How the rollback ended, in words, also when none ran."""
        if self.rollback is not None:
            return {"succeeded": "rolled back", "failed": "ROLLBACK FAILED"}.get(
                self.rollback.status, "rollback started, never ended"
            )
        if self.status != "succeeded":
            return "no rollback (the action did not complete)"
        return "not rolled back" + (" (its undo was not needed)" if self.undo else "")


def _name(entry: Entry) -> str:
    return (entry.summary or "").rsplit(" attempt ", 1)[0]


def _undo(undo: dict[str, Any] | None) -> str | None:
    if not undo:
        return None
    return f"{undo.get('action', '?')} {compact(dict(undo.get('with') or {}))}".strip()


def actions_of(entries: list[Entry]) -> list[ActionRecord]:
    """Every action step of the run, in the order they started."""
    rows: dict[str, ActionRecord] = {}
    for entry in entries:
        step = entry.step_id or ""
        if entry.kind == "action" and step:
            _see_action(rows, step, entry)
        elif entry.kind == "rollback" and step in rows:
            _see_rollback(rows[step], entry)
    return list(rows.values())


def _see_action(rows: dict[str, ActionRecord], step: str, entry: Entry) -> None:
    row = rows.setdefault(step, ActionRecord(step_id=step, name="", status="started"))
    if entry.event == "step.started":
        row.name, row.inputs = _name(entry), compact(entry.inputs, None)
        row.started = row.started or entry.ts
    elif entry.event == "step.skipped":
        row.status, row.ended, row.summary = "skipped", entry.ts, entry.summary or ""
        row.inputs = compact(entry.inputs, None)
    elif entry.event in _ENDS:
        row.status, row.ended = _ENDS[entry.event], entry.ts
        row.summary = entry.error or entry.summary or ""
        row.changes = changes.read(entry.evidence)
        shown = {k: v for k, v in entry.evidence.items() if k != changes.KEY}
        row.evidence = compact(shown)
        row.undo = _undo(entry.undo)
    elif entry.event == "step.retried":
        row.notes.append(f"attempt failed, retried: {entry.error or ''}")


def _see_rollback(row: ActionRecord, entry: Entry) -> None:
    if entry.event == "rollback.started":
        row.rollback = RollbackRecord(
            action=_name(entry),
            inputs=compact(entry.inputs, None),
            status="started",
            started=entry.ts,
        )
    elif entry.event in _ROLLBACK_ENDS and row.rollback is not None:
        row.rollback.status, row.rollback.ended = _ROLLBACK_ENDS[entry.event], entry.ts
        row.rollback.summary = entry.error or entry.summary or ""
        row.rollback.changes = changes.read(entry.evidence)
