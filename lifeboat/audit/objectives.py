"""RTO and RPO of one run, measured from its journal: the review's numbers, and the drill
chart's (``drill_chart``), from the same code.

- RTO: from ``detected_at`` (else the run's start) to the end of the last passing validation
  step: the last check that succeeded after the last action that succeeded; with no such
  check (or no action), the run's end. Not achieved when the run did not succeed.
- RPO: the age of the restored (``backup.restore``) or verified (``backup.freshness``)
  backup at the failover moment: the start of the first action that succeeded after the
  approval (after the run's start when it had no approval), else the run's end. Not
  achieved when the run did not succeed, or when a restore ran and none stood at the end of
  the run (it failed, or it was rolled back): a rolled-back restore recovered no data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat.audit.review_parts import Objective, human
from lifeboat.journal import Entry

RESTORE = "backup.restore"


def parse_moment(value: Any) -> datetime | None:
    """An ISO 8601 time with its zone, else None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def utc(moment: datetime) -> str:
    """``02:04:39 UTC``: a time as people read it."""
    return f"{moment.astimezone(UTC):%H:%M:%S} UTC"


def rto(
    entries: list[Entry],
    detected: datetime | None,
    end: datetime | None,
    outcome: str,
    target: timedelta | None,
) -> Objective:
    start = detected or entries[0].ts
    since = "detection (detected_at)" if detected else "the run's start (no detected_at given)"
    if outcome != "succeeded":
        return Objective.not_reached(
            "RTO", target, f"not achieved: the run {outcome}, service not restored by it"
        )
    validated = validation(entries)
    if validated is not None:
        stop, to = validated.ts, f"the end of validation step '{validated.step_id}'"
    else:
        stop = end or entries[-1].ts
        acted = any(e.event == "step.succeeded" and e.kind == "action" for e in entries)
        why = "no check passed after the last action" if acted else "no action ran"
        to = f"the run's end ({why})"
    return Objective.of("RTO", target, (stop - start).total_seconds(), f"from {since} to {to}")


def validation(entries: list[Entry]) -> Entry | None:
    """The last check that passed after the last action that succeeded (where the RTO
    stops), None when no action succeeded or no check passed after it."""
    done = [e for e in entries if e.event == "step.succeeded"]
    actions = [e for e in done if e.kind == "action"]
    after = [e for e in done if e.kind == "check" and actions and e.ts > actions[-1].ts]
    return after[-1] if after else None


def rpo(
    entries: list[Entry],
    names: dict[str, str],
    end: datetime | None,
    outcome: str,
    target: timedelta | None,
) -> Objective:
    backup = _backup_time(entries, names)
    lost = _no_restore_stood(entries, names)
    if lost is not None or outcome != "succeeded":
        why = lost or f"the run {outcome}: no failover completed"
        if backup is not None and lost is not None:
            moment, _ = _failover(entries, end)
            why += f" (that backup was {human((moment - backup[0]).total_seconds())} old)"
        return Objective.not_reached("RPO", target, f"not achieved: {why}")
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


def _no_restore_stood(entries: list[Entry], names: dict[str, str]) -> str | None:
    """Why no restored data stood at the end of the run, when a restore ran; else None."""
    tried = [
        e for e in entries if e.event == "step.started" and names.get(e.step_id or "") == RESTORE
    ]
    if not tried:
        return None
    ends = {
        e.step_id: e
        for e in entries
        if e.event in ("step.succeeded", "step.failed") and e.step_id in {t.step_id for t in tried}
    }
    undone = {e.step_id: e for e in entries if e.event == "rollback.succeeded"}
    standing = [e for e in ends.values() if e.event == "step.succeeded" and e.step_id not in undone]
    if standing:
        return None
    for step_id, ended in ends.items():
        if ended.event == "step.succeeded" and step_id in undone:
            key = ended.evidence.get("key", "?")
            checksum = str(ended.evidence.get("sha256") or "")[:12]
            return (
                f"the restore of {key} (step '{step_id}', sha256 {checksum}…) was rolled back "
                f"at {utc(undone[step_id].ts)}: no restored data stood at the end of the run"
            )
    failed = next((e for e in ends.values() if e.event == "step.failed"), None)
    if failed is not None:
        return f"the restore (step '{failed.step_id}') failed: {failed.error or 'no reason given'}"
    return f"the restore (step '{tried[0].step_id}') never ended"


def _backup_time(entries: list[Entry], names: dict[str, str]) -> tuple[datetime, str] | None:
    """The restored backup's time, else the verified one's (the copy a restore test read)."""
    done = [e for e in entries if e.event == "step.succeeded" and e.step_id]
    for entry in done:
        if names.get(entry.step_id or "") == RESTORE:
            moment = parse_moment(entry.evidence.get("modified"))
            if moment:
                key = entry.evidence.get("key", "?")
                digest = str(entry.evidence.get("sha256") or "")[:12]
                proof = f", sha256 {digest}…" if digest else ""
                return moment, f"the restored backup {key} (step '{entry.step_id}'{proof})"
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
            moment = parse_moment(row.get("modified"))
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
