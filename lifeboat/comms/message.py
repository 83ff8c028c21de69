"""The parts of a good incident update, as facts taken from the runbook and the run.

A ``Message`` holds no wording: the templates of ``render.py`` turn it into text in the
reader's language, plain for customers and technical for the team. The parts follow the
incident-communication guide: title, introduction with the cause, technical details,
progress, extent, estimated duration (revised, and why), compensation, support contacts,
workarounds, data safety, the next update's time, apology; on resolution, lessons learnt
and preventive measures.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from lifeboat.outcome import StepStatus
from lifeboat.runbook.model import ActionStep, NotifyStep, Runbook, Stage
from lifeboat.runbook.types import format_duration

if TYPE_CHECKING:
    from lifeboat.context import RunContext

#: Promised delay to the next update when the runbook says nothing of cadence.
NEXT_UPDATE = timedelta(minutes=30)


class StepLine(BaseModel):
    id: str
    title: str
    error: str | None = None


class Progress(BaseModel):
    """Real-time progress: what the run did so far."""

    total: int = Field(description="Steps in the runbook")
    done: list[StepLine] = Field(default_factory=list)
    failed: list[StepLine] = Field(default_factory=list)

    @property
    def remaining(self) -> int:
        return max(self.total - len(self.done) - len(self.failed), 0)


class Estimate(BaseModel):
    """Estimated end of the disruption; ``eta`` None means there is no estimate yet."""

    eta: str | None = None
    rto: str | None = None
    revised: bool = False
    reason: str | None = Field(None, description="Why the estimate was revised")


class Contacts(BaseModel):
    email: str | None = None
    phone: str | None = None
    hours: str | None = None
    url: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.email or self.phone or self.url)


class RollbackLine(BaseModel):
    step: str = Field(description="The step whose change was undone")
    status: str = Field(description="How its rollback ended: succeeded or failed")
    error: str | None = None


class Failure(BaseModel):
    """What stopped a run, for its closing message (``incident.failed``).

    Empty fields are what a preview of the stage shows with no failure at hand.
    """

    step: str = ""
    title: str = ""
    kind: str = Field("", description="check, action, notify or approval")
    how: Literal["failed", "refused", "timed_out"] = "failed"
    error: str | None = None
    evidence: list[str] = Field(default_factory=list, description="'key: value' lines")
    rollbacks: list[RollbackLine] = Field(default_factory=list)
    left: list[str] = Field(
        default_factory=list, description="Completed actions without a rollback: left as is"
    )
    review: str = Field("", description="Where the post-incident review is")
    resume: str = Field("", description="The exact command that resumes the run")
    maintenance: bool = Field(
        False, description="Customers were told of a planned maintenance, not of an incident"
    )


def example_failure(runbook: Runbook, path: Path | str | None = None) -> Failure:
    """The failure a preview or lint shows for ``incident.failed``: the runbook's last
    action failed and the actions before it were undone (whether an action records its
    undo is only known when it runs)."""
    actions = [s for s in runbook.steps if isinstance(s, ActionStep)]
    failed = actions[-1] if actions else runbook.steps[-1]
    earlier = actions[:-1]
    stages = {s.notify for s in runbook.steps if isinstance(s, NotifyStep)}
    return Failure(
        step=failed.id,
        title=failed.title or failed.id,
        kind="action" if actions else type(failed).__name__.removesuffix("Step").lower(),
        error="(example) the error the step reports",
        rollbacks=[RollbackLine(step=s.id, status="succeeded") for s in reversed(earlier)],
        review="LIFEBOAT_HOME/runs/RUN/review.md",
        resume=shlex.join(["lifeboat", "run", "--resume", "RUN", str(path or "RUNBOOK")]),
        maintenance=Stage.maintenance_scheduled in stages
        and not stages & {Stage.incident_opened, Stage.incident_update},
    )


class Message(BaseModel):
    """Everything a stakeholder update says, before wording."""

    stage: Stage
    drill: bool = False
    title: str = Field(description="The runbook's title (internal wording)")
    service: str | None = Field(None, description="The service name customers know")
    incident: str = ""
    cause: str = Field("", description="Why the run was started")
    detected_at: str = ""
    runbook: str = Field("", description="id and version")
    run_id: str = ""
    mode: str = "live"
    progress: Progress
    affected: str | None = Field(None, description="What customers cannot do")
    estimate: Estimate = Field(default_factory=Estimate)
    window: str | None = Field(None, description="A planned maintenance window")
    compensation: str | None = None
    support: Contacts = Field(default_factory=Contacts)
    workaround: str | None = None
    rpo: str | None = Field(None, description="Recovery point objective: at most this much data")
    next_update: str = Field(description="When the next update comes, e.g. 14:30 UTC")
    now: str
    failure: Failure | None = Field(None, description="What stopped the run (incident.failed)")

    def context(self) -> dict[str, Any]:
        """The template variables: ``m`` (this message, as plain data) and shortcuts."""
        data = self.model_dump(mode="json")
        data["progress"]["remaining"] = self.progress.remaining
        data["support"]["any"] = self.support.any
        return {"m": data}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _started(detected_at: str, fallback: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(detected_at)
    except ValueError:
        return fallback
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def estimate(runbook: Runbook, progress: Progress, started: datetime, now: datetime) -> Estimate:
    """The ETA from the RTO, revised from progress once the RTO is overrun."""
    rto = runbook.objectives.rto
    if rto is None:
        return Estimate()
    eta = started + rto
    if eta > now:
        return Estimate(eta=clock(eta), rto=format_duration(rto))
    finished = len(progress.done) + len(progress.failed)
    elapsed = now - started
    remaining = elapsed * progress.remaining / finished if finished else rto
    return Estimate(
        eta=clock(now + max(remaining, timedelta(minutes=5))),
        rto=format_duration(rto),
        revised=True,
        reason=f"recovery takes longer than planned: {finished} of {progress.total} steps done",
    )


def build(
    runbook: Runbook,
    stage: Stage,
    *,
    progress: Progress | None = None,
    mode: str = "live",
    incident: str = "",
    reason: str = "",
    detected_at: str = "",
    run_id: str = "",
    params: dict[str, Any] | None = None,
    started: datetime | None = None,
    now: datetime | None = None,
    failure: Failure | None = None,
    next_update: datetime | None = None,
) -> Message:
    """A message from a runbook and what is known of its run (nothing for a preview).

    The ETA counts from ``detected_at`` when given, else from ``started`` (the run's first
    step), else from now. ``next_update`` replaces the usual promise (now plus the cadence):
    a failed run's closing message must not promise later than an earlier message did.
    An ``incident.failed`` message has no ETA: the plan it was computed from has failed.
    """
    now = now or datetime.now(UTC)
    if stage is Stage.incident_failed:
        failure = failure or Failure()
    progress = progress or Progress(total=len(runbook.steps))
    support = runbook.support
    values = params or {}
    window = values.get("window")
    comms = runbook.comms
    return Message(
        stage=stage,
        drill=mode == "drill",
        title=_one_line(runbook.title),
        service=_one_line(comms.service) if comms.service else None,
        incident=_one_line(incident),
        cause=reason or str(values.get("reason") or ""),
        detected_at=detected_at,
        runbook=f"{runbook.id} {runbook.version}",
        run_id=run_id,
        mode=mode,
        progress=progress,
        affected=comms.affected,
        estimate=Estimate()
        if failure is not None
        else estimate(runbook, progress, _started(detected_at, started or now), now),
        window=str(window) if window else None,
        compensation=comms.compensation,
        support=Contacts(**support.model_dump()) if support else Contacts(),
        workaround=comms.workaround,
        rpo=format_duration(runbook.objectives.rpo) if runbook.objectives.rpo else None,
        next_update=clock(next_update or now + (comms.updates_every or NEXT_UPDATE)),
        now=clock(now),
        failure=failure,
    )


def from_run(
    ctx: RunContext,
    step: NotifyStep,
    *,
    failure: Failure | None = None,
    next_update: datetime | None = None,
) -> Message:
    """The message of a ``notify`` step, from the run so far (for a failed run's closing
    message, with its ``failure`` and the ``next_update`` it may promise)."""
    titles = {s.id: s.title or s.id for s in ctx.runbook.steps}
    steps = [o for o in ctx.outcomes.values() if o.step_id in titles]  # not the rollbacks
    done = [
        StepLine(id=o.step_id, title=titles[o.step_id])
        for o in steps
        if o.status == StepStatus.succeeded
    ]
    failed = [
        StepLine(id=o.step_id, title=titles[o.step_id], error=o.error)
        for o in steps
        if o.status == StepStatus.failed
    ]
    return build(
        ctx.runbook,
        step.notify,
        progress=Progress(total=len(ctx.runbook.steps), done=done, failed=failed),
        mode=ctx.mode,
        incident=ctx.incident,
        reason=ctx.reason,
        detected_at=ctx.detected_at,
        run_id=ctx.run_id,
        params=ctx.params,
        started=min((o.started for o in ctx.outcomes.values() if o.started), default=None),
        failure=failure,
        next_update=next_update,
    )
