"""The post-incident review of one run, computed from its journal (and its runbook, if readable).

The journal is the source of truth: every time, status, approver and receipt below comes from
it. The runbook file adds what the journal does not hold (title, objectives, impact); when its
bytes changed since the run (sha256), the review says so and keeps the journal's identity.

Measured, as the review states next to each number:
- RTO: from ``detected_at`` (else the run's start) to the end of the last passing validation
  step: the last check that succeeded after the last action that succeeded; with no such
  check (or no action), the run's end.
- RPO: the age of the restored (``backup.restore``) or verified (``backup.freshness``)
  backup at the failover moment: the start of the first action that succeeded after the
  approval (after the run's start when it had no approval), else the run's end.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

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
    timeline: list[Timeline] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    rollbacks: list[Rollback] = Field(default_factory=list)
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


def build(journal_path: Path, redactor: Redactor | None = None) -> Review:
    """The review of the run recorded in ``journal_path``, scanned by ``redactor``."""
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
    detected = _parse(inputs.get("detected_at"))
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
        rto=_rto(entries, detected, end, outcome, getattr(objectives, "rto", None)),
        rpo=_rpo(entries, names, end, getattr(objectives, "rpo", None)),
        timeline=timeline_of(entries, names, detected),
        steps=steps_of(entries),
        approvals=approvals_of(entries),
        checks=checks_of(entries, names),
        messages=messages_of(entries),
        rollbacks=rollbacks_of(entries),
    )
    if redactor is None:
        from lifeboat.settings import Settings

        redactor = Redactor(Settings().secret_values())
    return Review.model_validate(redactor.data(review.model_dump(mode="json")))


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


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _rto(
    entries: list[Entry],
    detected: datetime | None,
    end: datetime | None,
    outcome: str,
    target: timedelta | None,
) -> Objective:
    start = detected or entries[0].ts
    since = "detection (detected_at)" if detected else "the run's start (no detected_at given)"
    if outcome != "succeeded":
        return Objective.of(
            "RTO", target, None, f"not achieved: the run {outcome}, service not restored by it"
        )
    done = [e for e in entries if e.event == "step.succeeded"]
    actions = [e for e in done if e.kind == "action"]
    after = [e for e in done if e.kind == "check" and (not actions or e.ts > actions[-1].ts)]
    if actions and after:
        stop, to = after[-1].ts, f"the end of validation step '{after[-1].step_id}'"
    else:
        stop = end or entries[-1].ts
        why = "no action ran" if not actions else "no check passed after the last action"
        to = f"the run's end ({why})"
    return Objective.of("RTO", target, (stop - start).total_seconds(), f"from {since} to {to}")


def _rpo(
    entries: list[Entry], names: dict[str, str], end: datetime | None, target: timedelta | None
) -> Objective:
    backup = _backup_time(entries, names)
    if backup is None:
        return Objective.of(
            "RPO", target, None, "not measured: no backup.restore or backup.freshness evidence"
        )
    modified, source = backup
    moment, which = _failover(entries, end)
    age = (moment - modified).total_seconds()
    return Objective.of(
        "RPO", target, age, f"age of {source} (modified {modified:%Y-%m-%d %H:%M:%S} UTC) {which}"
    )


def _backup_time(entries: list[Entry], names: dict[str, str]) -> tuple[datetime, str] | None:
    """The restored backup's time, else the verified one's (the copy a restore test read)."""
    done = [e for e in entries if e.event == "step.succeeded" and e.step_id]
    for entry in done:
        if names.get(entry.step_id or "") == "backup.restore":
            moment = _parse(entry.evidence.get("modified"))
            if moment:
                key = entry.evidence.get("key", "?")
                return moment, f"the restored backup {key} (step '{entry.step_id}')"
    tested = {
        str(e.evidence.get("copy"))
        for e in done
        if names.get(e.step_id or "") == "backup.restore_test"
    }
    found: list[tuple[bool, datetime, str]] = []
    for entry in done:
        if names.get(entry.step_id or "") != "backup.freshness":
            continue
        for row in entry.evidence.get("copies") or []:
            moment = _parse(row.get("modified"))
            if moment is not None:
                proven = row.get("uri") in tested  # prefer the copy a restore test read
                label = "restore-tested" if proven else "verified"
                found.append(
                    (
                        proven,
                        moment,
                        f"the {label} backup {row.get('newest')} in "
                        f"{row.get('uri')} (step '{entry.step_id}')",
                    )
                )
    if not found:
        return None
    _, moment, label = max(found, key=lambda f: (f[0], f[1]))
    return moment, label


def _failover(entries: list[Entry], end: datetime | None) -> tuple[datetime, str]:
    approved = next(
        (e for e in entries if e.event == "step.succeeded" and e.kind == "approval"), None
    )
    since = approved.ts if approved else entries[0].ts
    started = {e.step_id: e.ts for e in entries if e.event == "step.started"}
    for entry in entries:
        if entry.event == "step.succeeded" and entry.kind == "action" and entry.ts > since:
            moment = started.get(entry.step_id, entry.ts)
            if moment < since:
                continue
            after = "after the approval" if approved else "of the run"
            return moment, f"at failover (start of '{entry.step_id}', first action {after})"
    return end or entries[-1].ts, "at the run's end (no action ran)"
