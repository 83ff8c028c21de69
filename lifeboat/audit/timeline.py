"""``audit show``: one run's journal as a timeline, entry by entry.

Every entry is streamed (``run_records.read_entries``) and given a one-word status (started,
succeeded, waiting, refused...) and its summary or error, redacted once more on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from lifeboat.audit.run_records import parse_ts, read_entries
from lifeboat.redact import Redactor


class TimelineEvent(BaseModel):
    """One journal entry as ``audit show`` prints it."""

    ts: datetime
    event: str
    step: str | None
    status: str
    text: str
    actor: str | None


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
    for entry in read_entries(path, None):
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
            ts=parse_ts(entry["ts"]),
            event=event,
            step=entry.get("step_id"),
            status=status,
            text=redactor.text(text),
            actor=entry.get("actor"),
        )
