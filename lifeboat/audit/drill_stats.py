"""``audit drills``: per runbook, how its drills went and whether its current version is
certified.

Built on the run records (``run_records.runs``): drill counts and pass rate within a window,
the RTO trend of the last passing drills, and certification, which needs a passing drill of
the runbook as it is now (same version and sha256 as its file on disk, else as the newest
journal names it) within a given age.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel

from lifeboat.audit.run_records import Filters, RunRecord, runs


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
