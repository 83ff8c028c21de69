"""The sections of a post-incident review, each read from journal entries (``review.py``)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from lifeboat.journal import Entry
from lifeboat.runbook.types import format_duration

_ATTEMPT = re.compile(r"^(?P<name>\S+) attempt \d+$")
_EVIDENCE_CHARS = 400
_KIND_NOUN = {"check": "Check", "action": "Action", "notify": "Message", "approval": "Approval"}


def human(seconds: float | None) -> str:
    """``0.8 s``, ``42.1 s``, ``12m 5s``, ``2h 3m``: exact enough for a review."""
    if seconds is None:
        return "-"
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if whole < 0 else ""
    return f"{sign}{hours}h {minutes}m" if hours else f"{sign}{minutes}m {secs}s"


class Objective(BaseModel):
    name: str
    target: str | None  # the runbook's objective, e.g. 30m
    target_s: float | None
    achieved: str | None
    achieved_s: float | None
    met: bool | None  # None: no objective declared, or nothing measured
    basis: str  # how it was measured
    # The run never reached what is measured (it failed, its restore was rolled back): the
    # verdict says "not achieved", never "met" on a number that did not stand.
    not_achieved: bool = False

    @classmethod
    def not_reached(cls, name: str, target: timedelta | None, basis: str) -> Objective:
        return cls.of(name, target, None, basis).model_copy(update={"not_achieved": True})

    @classmethod
    def of(
        cls, name: str, target: timedelta | None, achieved: float | None, basis: str
    ) -> Objective:
        target_s = target.total_seconds() if target is not None else None
        met: bool | None = None
        if target_s is not None:
            met = achieved is not None and achieved <= target_s
        return cls(
            name=name,
            target=format_duration(target) if target is not None else None,
            target_s=target_s,
            achieved=human(achieved) if achieved is not None else None,
            achieved_s=achieved,
            met=met,
            basis=basis,
        )

    @property
    def verdict(self) -> str:
        if self.not_achieved:
            return "not achieved"
        if self.met is None:
            return "no objective" if self.target is None else "not measured"
        return "met" if self.met else "MISSED"

    @property
    def css(self) -> str:
        """The HTML class of the verdict."""
        if self.not_achieved or self.met is False:
            return "failed"
        return "met" if self.met else "dim"


class Timeline(BaseModel):
    ts: datetime
    text: str


class Step(BaseModel):
    id: str
    kind: str
    status: str
    started: datetime | None
    ended: datetime | None
    duration_s: float | None
    attempts: int
    summary: str


class Approval(BaseModel):
    step_id: str
    asked: datetime | None
    answered: datetime | None
    actor: str | None  # the identity the answer gave
    verdict: str
    comment: str
    via: str = "not recorded"  # how it was given: terminal, ui or api, --yes, watchdog


class Check(BaseModel):
    step_id: str
    name: str
    status: str
    summary: str
    evidence: str  # compact, truncated


class Message(BaseModel):
    ts: datetime
    step_id: str
    automatic: bool
    stage: str
    stakeholder: str
    channel: str
    language: str
    subject: str
    status: str
    target: str = ""  # the channel's URL, redacted
    body: str | None = None  # None: not journaled (a journal written before bodies were)
    attempts: int = 0
    why: str = ""  # why it failed or was skipped


class Rollback(BaseModel):
    step_id: str
    status: str
    ts: datetime
    summary: str


def spec_names(entries: list[Entry]) -> dict[str, str]:
    """step id -> registered check or action name, from ``step.started`` ("NAME attempt N")."""
    names: dict[str, str] = {}
    for entry in entries:
        if entry.event == "step.started" and entry.step_id and entry.summary:
            match = _ATTEMPT.match(entry.summary)
            if match:
                names[entry.step_id] = match["name"]
    return names


def compact(evidence: dict[str, Any], limit: int | None = _EVIDENCE_CHARS) -> str:
    """``key=value; ...``, cut at ``limit`` characters (None: whole)."""
    parts = []
    for key, value in evidence.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={shown}")
    text = "; ".join(parts)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


_TERMINAL = {"step.succeeded": "succeeded", "step.failed": "failed", "step.skipped": "skipped"}


def steps_of(entries: list[Entry]) -> list[Step]:
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not entry.step_id or entry.kind == "rollback" or entry.event == "update.sent":
            continue
        row = rows.setdefault(
            entry.step_id,
            {"id": entry.step_id, "kind": entry.kind or "?", "status": "started",
             "started": None, "ended": None, "attempts": 0, "summary": ""},
        )  # fmt: skip
        if entry.event in ("step.started", "approval.asked") and row["started"] is None:
            row["started"] = entry.ts
        if entry.event == "step.started":
            row["attempts"] += 1
        if entry.event in _TERMINAL:
            row["status"], row["ended"] = _TERMINAL[entry.event], entry.ts
            row["summary"] = entry.error or entry.summary or ""
            row["started"] = row["started"] or entry.ts
    for row in rows.values():
        begun, ended = row["started"], row["ended"]
        row["duration_s"] = (ended - begun).total_seconds() if begun and ended else None
    return [Step(**row) for row in rows.values()]


def approvals_of(entries: list[Entry]) -> list[Approval]:
    asked: dict[str, datetime] = {}
    rows = []
    for entry in entries:
        if entry.event == "approval.asked" and entry.step_id:
            asked.setdefault(entry.step_id, entry.ts)
        elif entry.event == "approval.answered" and entry.step_id:
            text = entry.error or entry.summary or ""
            verdict, _, comment = text.partition(": ")
            rows.append(
                Approval(
                    step_id=entry.step_id,
                    asked=asked.get(entry.step_id),
                    answered=entry.ts,
                    actor=entry.actor,
                    verdict=verdict or "answered",
                    comment=comment,
                    via=via_of(entry),
                )
            )
        elif (
            entry.event == "step.failed"
            and entry.kind == "approval"
            and entry.step_id
            and not any(r.step_id == entry.step_id for r in rows)  # nobody answered in time
        ):
            rows.append(
                Approval(
                    step_id=entry.step_id, asked=asked.get(entry.step_id), answered=None,
                    actor=None, verdict="unanswered", comment=entry.error or "",
                    via="nobody answered",
                )
            )  # fmt: skip
    return rows


def via_of(entry: Entry) -> str:
    """How an answer reached its gate: the journal's ``via`` (terminal, ui or api, --yes,
    watchdog); for a journal written before answers recorded it, ``--yes`` is still known
    from the approver's name, anything else is not."""
    via = entry.evidence.get("via") or entry.inputs.get("via")
    if isinstance(via, str) and via:
        return via
    return "--yes" if (entry.actor or "").endswith("(--yes)") else "not recorded"


def checks_of(entries: list[Entry], names: dict[str, str]) -> list[Check]:
    return [
        Check(
            step_id=entry.step_id or "",
            name=names.get(entry.step_id or "", "?"),
            status="passed" if entry.event == "step.succeeded" else "failed",
            summary=entry.error or entry.summary or "",
            evidence=compact(entry.evidence),
        )
        for entry in entries
        if entry.kind == "check" and entry.event in ("step.succeeded", "step.failed")
    ]


def messages_of(entries: list[Entry]) -> list[Message]:
    """Every delivery the journal holds, whatever its stage or event: a notify step's, an
    automatic update's, a failed run's closing message (``update.sent`` too)."""
    stages = {
        e.step_id: str(e.inputs.get("stage", ""))
        for e in entries
        if e.kind == "notify" and e.event == "step.started"
    }
    rows = []
    for entry in entries:
        automatic = entry.event == "update.sent"
        if entry.event == "step.started" or not (automatic or entry.event in _TERMINAL):
            continue
        stage = str(entry.inputs.get("stage") or stages.get(entry.step_id, ""))
        for delivery in entry.evidence.get("deliveries") or []:
            if not isinstance(delivery, dict):
                continue
            body = delivery.get("body")
            rows.append(
                Message(
                    ts=entry.ts,
                    step_id=entry.step_id or "",
                    automatic=automatic,
                    stage=stage,
                    stakeholder=str(delivery.get("stakeholder", "")),
                    channel=str(delivery.get("kind", "")),
                    language=str(delivery.get("language") or ""),
                    subject=str(delivery.get("subject") or ""),
                    status=str(delivery.get("status", "")),
                    target=str(delivery.get("target") or ""),
                    body=body if isinstance(body, str) else None,
                    attempts=int(delivery.get("attempts") or 0),
                    why=str(delivery.get("why") or ""),
                )
            )
    return rows


def rollbacks_of(entries: list[Entry]) -> list[Rollback]:
    return [
        Rollback(
            step_id=entry.step_id or "",
            status=entry.event.split(".")[1],
            ts=entry.ts,
            summary=entry.error or entry.summary or "",
        )
        for entry in entries
        if entry.event in ("rollback.succeeded", "rollback.failed")
    ]


def timeline_of(
    entries: list[Entry], names: dict[str, str], detected: datetime | None
) -> list[Timeline]:
    items = [Timeline(ts=detected, text="The incident was detected.")] if detected else []
    for entry in entries:
        text = _sentence(entry, names)
        if text:
            items.append(Timeline(ts=entry.ts, text=text))
    return sorted(items, key=lambda item: item.ts)


def _sentence(entry: Entry, names: dict[str, str]) -> str | None:  # noqa: PLR0911, PLR0912
    """One plain sentence per journal event (None: said by another event)."""
    step = f"'{entry.step_id}'"
    noun = _KIND_NOUN.get(entry.kind or "", "Step")
    said = (entry.summary or "").rstrip(".")
    why = (entry.error or said).rstrip(".")
    match entry.event:
        case "run.started":
            mode = entry.inputs.get("mode", "")
            incident = entry.inputs.get("incident")
            return (
                f"The {mode} run started, by {entry.actor or 'unknown'}"
                + (f", for: {said}" if said else "")
                + (f" (incident {incident})" if incident else "")
                + "."
            )
        case "run.resumed":
            return f"The run was resumed by {entry.actor or 'unknown'}: {said}."
        case "run.ended":
            return f"The run ended: {said}."
        case "step.started" if entry.kind == "action":
            return f"Action {step} started ({names.get(entry.step_id or '', '?')})."
        case "step.succeeded":
            verb = {"check": "passed", "action": "done", "notify": "sent"}.get(
                entry.kind or "", "succeeded"
            )
            if entry.kind == "approval":
                return None  # said by approval.answered
            return f"{noun} {step} {verb}: {said}."
        case "step.failed":
            return f"{noun} {step} failed: {why}."
        case "step.retried":
            return f"{noun} {step} failed, will retry: {why}."
        case "step.skipped":
            return f"{noun} {step} skipped: {said}."
        case "approval.asked":
            prompt = str(entry.inputs.get("prompt", "")).strip().splitlines()
            return f"Approval {step} asked: {prompt[0] if prompt else ''}"
        case "approval.answered":
            return f"{entry.actor or 'Someone'} answered approval {step}: {why}."
        case "update.sent":
            return f"Automatic update {step} sent: {why}."
        case "rollback.started":
            return f"Rollback of {step} started."
        case "rollback.succeeded":
            return f"Rollback of {step} done: {said}."
        case "rollback.failed":
            return f"Rollback of {step} FAILED: {why}."
    return None
