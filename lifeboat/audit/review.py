"""The post-incident review of one run, computed from its journal (and its runbook, if readable).

The journal is the source of truth: every time, status, approver and receipt below comes from
it. The runbook file adds what the journal does not hold (title, objectives, impact); when its
bytes changed since the run (sha256), the review says so and keeps the journal's identity.

RTO and RPO are measured in ``objectives`` (the same numbers ``audit drills`` charts); a
failed run, or a restore that did not stand at the end of the run, is "not achieved".
Every action is told with its inputs, what it changed and how its rollback ended
(``review_actions``); every message with its full text; the journal's signature and
off-site copy as they were when the review was written (``record_status``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lifeboat.audit import objectives as measure
from lifeboat.audit.record_status import RecordStatus, record_status
from lifeboat.audit.review_actions import ActionRecord, actions_of
from lifeboat.audit.review_parts import (
    Approval,
    Check,
    Message,
    Objective,
    Rollback,
    Step,
    Timeline,
    approvals_of,
    checks_of,
    human,
    messages_of,
    rollbacks_of,
    spec_names,
    steps_of,
    timeline_of,
)
from lifeboat.journal import Entry, RunbookIdentity, read, verify
from lifeboat.redact import Redactor
from lifeboat.settings import Settings

OPEN_QUESTIONS = [
    "What was the root cause?",
    "Can it happen again, and how would we know sooner?",
    "Which preventive actions follow (owner, due date)?",
    "What went well and what did not during the recovery?",
]


class Review(BaseModel):
    run_id: str
    runbook: RunbookIdentity
    title: str
    runbook_path: str
    runbook_note: str | None = None  # changed or unreadable since the run
    plan_hash: str
    journal_path: str
    journal_intact: bool
    journal_problem: str | None = None
    mode: str
    reason: str
    incident: str
    initiator: str | None
    impact: str | None
    outcome: str  # succeeded / failed / unfinished
    outcome_text: str
    detected_at: datetime | None
    started: datetime
    ended: datetime | None
    duration_s: float | None
    rto: Objective
    rpo: Objective
    validated_at: datetime | None = None  # where the RTO stops: the end of the validation
    timeline: list[Timeline] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    actions: list[ActionRecord] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    rollbacks: list[Rollback] = Field(default_factory=list)
    record: RecordStatus | None = None  # signature and off-site copy, when written
    open_questions: list[str] = Field(default_factory=lambda: list(OPEN_QUESTIONS))

    @property
    def what_happened(self) -> str:
        took = f" in {human(self.duration_s)}" if self.duration_s is not None else ""
        who = f" by {self.initiator}" if self.initiator else ""
        why = f" for: {self.reason}" if self.reason else ""
        incident = f" (incident {self.incident})" if self.incident else ""
        return (
            f"{self.mode.capitalize()} run of '{self.title}' ({self.runbook.id} "
            f"{self.runbook.version}) started{who}{why}{incident}. "
            f"Outcome: {self.outcome_text}{took}."
        )


def build(
    journal_path: Path, redactor: Redactor | None = None, settings: Settings | None = None
) -> Review:
    """The review of the run recorded in ``journal_path``, scanned by ``redactor``; the
    signature and off-site copy are checked with ``settings``' key and store."""
    settings = settings or Settings()
    entries = read(journal_path)
    if not entries or entries[0].event != "run.started":
        raise ValueError(f"{journal_path}: no run.started entry: not a run journal")
    first, identity = entries[0], entries[0].runbook
    inputs = first.inputs
    check = verify(journal_path)
    runbook, note = _runbook(Path(str(inputs.get("runbook", ""))), identity)
    ended = next((e for e in reversed(entries) if e.event == "run.ended"), None)
    end = ended.ts if ended else None
    outcome, outcome_text = _outcome(ended, entries)
    detected = measure.parse_moment(inputs.get("detected_at"))
    names = spec_names(entries)
    objectives = getattr(runbook, "objectives", None)
    comms = getattr(runbook, "comms", None)
    impact = (
        ": ".join(x for x in (comms.service, comms.affected) if x) if comms is not None else None
    )
    review = Review(
        run_id=first.run_id,
        runbook=identity,
        title=getattr(runbook, "title", None) or identity.id,
        runbook_path=str(inputs.get("runbook", "")),
        runbook_note=note,
        plan_hash=str(inputs.get("plan_hash", "")),
        journal_path=str(journal_path),
        journal_intact=check.ok,
        journal_problem=check.problem,
        mode=str(inputs.get("mode", "")),
        reason=first.summary or str((inputs.get("params") or {}).get("reason") or ""),
        incident=str(inputs.get("incident") or ""),
        initiator=first.actor,
        impact=impact or None,
        outcome=outcome,
        outcome_text=outcome_text,
        detected_at=detected,
        started=first.ts,
        ended=end,
        duration_s=(end - first.ts).total_seconds() if end else None,
        rto=measure.rto(entries, detected, end, outcome, getattr(objectives, "rto", None)),
        rpo=measure.rpo(entries, names, end, outcome, getattr(objectives, "rpo", None)),
        validated_at=_validated_at(entries),
        timeline=timeline_of(entries, names, detected),
        steps=steps_of(entries),
        approvals=approvals_of(entries),
        checks=checks_of(entries, names),
        actions=actions_of(entries),
        messages=messages_of(entries),
        rollbacks=rollbacks_of(entries),
        record=record_status(journal_path, settings),
    )
    if redactor is None:
        redactor = Redactor(settings.secret_values())
    return Review.model_validate(redactor.data(review.model_dump(mode="json")))


def _validated_at(entries: list[Entry]) -> datetime | None:
    validated = measure.validation(entries)
    return validated.ts if validated is not None else None


def _runbook(path: Path, identity: RunbookIdentity) -> tuple[Any, str | None]:
    """The runbook as it is now, and a note when it is not the one that ran."""
    from lifeboat.runbook import load

    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        loaded = load(path)
    except Exception as exc:  # gone, unreadable or no longer valid: the journal suffices
        return None, f"runbook file {path} unreadable now ({type(exc).__name__}); " + (
            "title, objectives and impact are unknown"
        )
    if digest != identity.sha256:
        return loaded.runbook, (
            f"runbook file {path} changed since the run (sha256 now {digest[:12]}, "
            f"ran {identity.sha256[:12]}): title, objectives and impact come from the "
            "current file; identity below is the journal's"
        )
    return loaded.runbook, None


def _outcome(ended: Entry | None, entries: list[Entry]) -> tuple[str, str]:
    if ended is None:
        return "unfinished", f"unfinished: the journal stops at {entries[-1].event}"
    text = ended.summary or ""
    return ("failed" if text.startswith("failed") else "succeeded"), text
