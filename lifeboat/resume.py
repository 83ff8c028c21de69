"""``lifeboat run --resume RUN``: continue a failed or killed run from its journal.

The journal is the only truth about what already happened. A step counts as done when its
last word is ``step.succeeded`` (or an approval answered yes) and no later rollback undid
it; such steps are never executed again, their recorded outcome (and undo) stands. A step
that failed, or started and never ended (the process was killed), runs again. The resumed
run appends to the same journal, after a ``run.resumed`` entry, under the same run id.

Resuming refuses a changed runbook: the file's SHA-256 and the plan hash must equal the
journal's, or the "remaining" steps would belong to another plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifeboat.errors import LifeboatError
from lifeboat.journal import Entry, read, verify
from lifeboat.outcome import StepOutcome, StepStatus


class CannotResume(LifeboatError):
    """The run cannot be resumed (no journal, tampered, already succeeded, changed runbook)."""


@dataclass
class Prior:
    """What a run's journal says, for resuming it."""

    run_id: str
    journal: Path
    runbook_path: str | None
    sha256: str
    plan_hash: str
    mode: str
    params: dict[str, Any]
    reason: str
    incident: str
    detected_at: str
    initiator: str
    done: dict[str, StepOutcome] = field(default_factory=dict)


def load_prior(runs_dir: Path, run_id: str) -> Prior:
    journal = runs_dir / run_id / "journal.jsonl"
    if not journal.is_file():
        raise CannotResume(f"no journal for run {run_id} in {runs_dir}")
    report = verify(journal)
    if not report.ok:
        raise CannotResume(f"the journal of run {run_id} does not verify: {report.problem}")
    entries = read(journal)
    start = next((e for e in entries if e.event == "run.started"), None)
    if start is None:
        raise CannotResume(f"run {run_id} never started")
    ended = [e for e in entries if e.event in ("run.ended", "run.resumed")]
    if (
        ended
        and ended[-1].event == "run.ended"
        and (ended[-1].summary or "").startswith("succeeded")
    ):
        raise CannotResume(f"run {run_id} already succeeded: nothing to resume")
    inputs = start.inputs
    return Prior(
        run_id=run_id,
        journal=journal,
        runbook_path=inputs.get("runbook"),
        sha256=start.runbook.sha256,
        plan_hash=str(inputs.get("plan_hash", "")),
        mode=str(inputs.get("mode", "drill")),
        params=dict(inputs.get("params") or {}),
        reason=start.summary or "",
        incident=str(inputs.get("incident") or ""),
        detected_at=str(inputs.get("detected_at") or ""),
        initiator=start.actor or "unknown",
        done=completed(entries),
    )


def completed(entries: list[Entry]) -> dict[str, StepOutcome]:
    """Outcomes of the steps that are done and stay done, by step id."""
    last: dict[str, Entry] = {}
    for entry in entries:
        if entry.step_id is None:
            continue
        # An approval answered yes ends with step.succeeded too, so it is kept like a step.
        if entry.event in ("step.succeeded", "step.failed", "step.started", "rollback.succeeded"):
            last[entry.step_id] = entry
    done = {}
    for step_id, entry in last.items():
        if entry.event == "step.succeeded":
            done[step_id] = StepOutcome(
                step_id=step_id,
                kind=entry.kind or "",
                target="resumed",
                status=StepStatus.succeeded,
                summary=f"done before the resume: {entry.summary or ''}".rstrip(": "),
                evidence=entry.evidence,
                started=entry.ts,
                ended=entry.ts,
                actor=entry.actor,
                undo=entry.undo,
            )
    return done


def check_same_plan(prior: Prior, sha256: str, plan_hash: str) -> None:
    if sha256 != prior.sha256:
        raise CannotResume(
            f"the runbook changed since run {prior.run_id} (sha256 {prior.sha256[:12]}, now "
            f"{sha256[:12]}): resuming would run another plan; start a new run"
        )
    if plan_hash != prior.plan_hash:
        raise CannotResume(
            f"the plan of run {prior.run_id} differs from this one (parameters?): "
            f"{prior.plan_hash[:12]} vs {plan_hash[:12]}"
        )
