"""A failed run tells everyone it already told: the closing message, ``incident.failed``.

Customers promised "next update by 02:40" must not hear nothing because the run failed at
02:13. When a run fails, aborts, is refused or times out at an approval gate, every
stakeholder who received a message of this run (a ``sent`` receipt in the journal, before
a resume too) gets one more, in their language, through all their channels:

- internal readers: what failed (step, error, evidence), what was rolled back and how each
  rollback ended, what was left as it is, the run id, the review's location and the exact
  command that resumes the run;
- customers: the incident goes on, what it means for them, and the next update's time:
  never later than a time an earlier message of this run promised and that has not passed
  yet (else ``comms.updates_every`` or 30 minutes from now, as for every message).

Nobody hears of the run for the first time from its failure: a stakeholder never told
anything in this run is left out. In a drill only internal stakeholders are told (the
subject starts ``[DRILL]``, like every drill message). Customers whose last message
closed the incident (``incident.resolved``, ``incident.postmortem``) are not told it goes
on. The runbook may reword the stage with ``comms.templates`` (the template sees ``lang``
and ``audience``), but not silence it: an override that fails or renders no text is
replaced by the shipped template, and the entry says why.

Recorded like an automatic update: an ``update.sent`` entry (step id ``failure-notice``,
outside the plan) with one receipt per channel. Nothing here raises: the run's own failure
is what the run reports; a delivery or rendering failure is recorded beside it.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat.comms.message import NEXT_UPDATE, Failure, Message, RollbackLine, from_run
from lifeboat.comms.render import CommsError, Rendered, override_path, render
from lifeboat.context import RunContext
from lifeboat.delivery import kind
from lifeboat.execute import rollback_of
from lifeboat.journal import Entry, read
from lifeboat.notify import Receipt, describe, keys_of, receipts, summary
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.plan import AnyStep
from lifeboat.runbook.model import ActionStep, NotifyStep, OnFailure, Stage

STEP_ID = "failure-notice"
#: Stages after which customers no longer expect news of the incident.
CLOSED = (Stage.incident_resolved, Stage.incident_postmortem)
MAX_EVIDENCE = 12  # items of the failed step's evidence quoted to on-call
MAX_VALUE = 300  # characters per item: the journal and the review keep the whole of it
_PROMISE = "%Y-%m-%d %H:%M UTC"  # lifeboat.comms.message.clock
_STAGES = {s.value for s in Stage}


def send(ctx: RunContext, failed: AnyStep, rollbacks: list[StepOutcome], rolled: bool) -> None:
    """Tell every stakeholder informed in this run that it failed at ``failed``.

    ``rollbacks`` are the compensations the engine ran; ``rolled`` whether it tried any
    (live runs, ``on_failure: rollback``). Never raises.
    """
    try:
        _send(ctx, failed, rollbacks, rolled)
    except Exception as exc:  # the run's failure stays the news, whatever breaks here
        error = f"failure notice not sent: {type(exc).__name__}: {exc}"
        ctx.log(error)
        try:
            ctx.journal.append(
                "update.sent",
                step_id=STEP_ID,
                kind="notify",
                inputs={"stage": Stage.incident_failed.value},
                error=error,
            )
        except Exception as unjournaled:  # logged above; run.ended will say what it can
            ctx.log(f"failure notice: not journaled either: {unjournaled}")


def _send(ctx: RunContext, failed: AnyStep, rollbacks: list[StepOutcome], rolled: bool) -> None:
    entries = read(ctx.journal.path)
    last = informed(ctx, entries)
    if not last:
        ctx.log("failure notice: no stakeholder was told anything in this run; none is now")
        return
    tell, skipped = [], []
    for name, stage in last.items():
        audience = ctx.runbook.stakeholders[name].audience
        if ctx.mode == "drill" and audience != "internal":
            skipped += _skipped(ctx, name, "drill: customers are not told of a failed drill")
        elif audience == "customers" and stage in CLOSED:
            why = f"their incident was closed ({stage.value}): not told that it goes on"
            skipped += _skipped(ctx, name, why)
        else:
            tell.append(name)
    step = NotifyStep.model_construct(  # not a step of the plan: no validation of its stage
        id=_step_id(ctx),
        title="Closing message of the failed run",
        notify=Stage.incident_failed,
        to=tell,
        needs=None,
        live_only=False,
        retries=0,
        retry_delay=None,
        timeout=None,
        on_failure=OnFailure.abort,
    )
    now = datetime.now(UTC)
    failure = failure_of(ctx, failed, rollbacks, rolled, last)
    promise = next_update(entries, now, ctx.runbook.comms.updates_every)
    message = from_run(ctx, step, failure=failure, next_update=promise)
    notes: list[str] = []
    sent = receipts(ctx, step, message=message, rendered=_render(ctx, step, message, notes))
    done = [*sent, *skipped]
    said = summary(done)
    evidence: dict[str, Any] = {"deliveries": [r.model_dump() for r in done]}
    if notes:
        evidence["template"] = notes
    ctx.journal.append(
        "update.sent",
        step_id=step.id,
        kind="notify",
        inputs={"stage": Stage.incident_failed.value, "to": tell},
        summary=f"failure notice ({failure.how.replace('_', ' ')} at {failure.step}): {said}",
        evidence=evidence,
    )
    ctx.log(f"{step.id}: {Stage.incident_failed.value} ({said})")
    for receipt in done:
        if receipt.status == "failed":
            ctx.log(f"{step.id}: not delivered: {describe(receipt)}")
    for note in notes:
        ctx.log(f"{step.id}: {note}")


def informed(ctx: RunContext, entries: list[Entry]) -> dict[str, Stage]:
    """Each stakeholder who received a message of this run, with the last stage sent."""
    stages = {s.id: s.notify for s in ctx.runbook.steps if isinstance(s, NotifyStep)}
    last: dict[str, Stage] = {}
    for entry in entries:
        if entry.event == "update.sent":
            stage = entry.inputs.get("stage")
        elif entry.kind == "notify" and entry.event in ("step.succeeded", "step.failed"):
            stage = stages.get(entry.step_id or "")
        else:
            continue
        if stage not in _STAGES:
            continue
        for delivery in entry.evidence.get("deliveries") or []:
            name = delivery.get("stakeholder")
            if delivery.get("status") == "sent" and name in ctx.runbook.stakeholders:
                last[name] = Stage(stage)
    return {name: last[name] for name in ctx.runbook.stakeholders if name in last}


def next_update(entries: list[Entry], now: datetime, every: timedelta | None) -> datetime:
    """The usual promise (now plus the cadence ``every``), or an earlier one still pending:
    a message of this run promised it and it has not passed yet, so the closing one may not
    say later."""
    usual = now + (every or NEXT_UPDATE)
    pending = [moment for moment in promised(entries) if moment > now]
    return min([usual, *pending])


def promised(entries: list[Entry]) -> list[datetime]:
    """The next-update times the run's delivered messages promised."""
    found = []
    for entry in entries:
        for delivery in entry.evidence.get("deliveries") or []:
            text = delivery.get("next_update")
            if delivery.get("status") == "sent" and isinstance(text, str):
                try:
                    found.append(datetime.strptime(text, _PROMISE).replace(tzinfo=UTC))
                except ValueError:  # not ours to read: no promise known
                    continue
    return found


def failure_of(
    ctx: RunContext,
    failed: AnyStep,
    rollbacks: list[StepOutcome],
    rolled: bool,
    told: dict[str, Stage],
) -> Failure:
    """What stopped the run, as the closing message says it."""
    outcome = ctx.outcomes.get(failed.id)
    error = outcome.error if outcome else "failed without a recorded outcome"
    kind_ = outcome.kind if outcome else type(failed).__name__.removesuffix("Step").lower()
    how = "failed"
    if kind_ == "approval":
        how = "timed_out" if (error or "").startswith("no approval within") else "refused"
    elif outcome is not None and outcome.error_code == "step.timeout":
        how = "timed_out"
    left = [
        o.step_id
        for o in ctx.outcomes.values()
        if o.kind == "action"
        and o.status == StepStatus.succeeded
        and not (rolled and _reversible(ctx, o.step_id))
    ]
    stages = set(told.values())
    return Failure(
        step=failed.id,
        title=failed.title or failed.id,
        kind=kind_,
        how=how,
        error=ctx.redactor.text(error) if error else None,
        evidence=[ctx.redactor.text(line) for line in _evidence(outcome)],
        rollbacks=[
            RollbackLine(
                step=r.step_id.removeprefix("rollback:"), status=r.status.value, error=r.error
            )
            for r in rollbacks
        ],
        left=left,
        review=str(ctx.journal.path.parent / "review.md"),
        resume=resume_command(ctx),
        maintenance=Stage.maintenance_scheduled in stages
        and not stages & {Stage.incident_opened, Stage.incident_update},
    )


def resume_command(ctx: RunContext) -> str:
    """``lifeboat run --resume RUN RUNBOOK``, quoted for a POSIX shell."""
    return shlex.join(["lifeboat", "run", "--resume", ctx.run_id, str(ctx.loaded.path)])


def _reversible(ctx: RunContext, step_id: str) -> bool:
    step = next((s for s in ctx.runbook.steps if s.id == step_id), None)
    return isinstance(step, ActionStep) and rollback_of(ctx, step) is not None


def _evidence(outcome: StepOutcome | None) -> list[str]:
    """The failed step's evidence as ``key: value`` lines, each cut to ``MAX_VALUE``."""
    if outcome is None:
        return []
    lines = []
    for key, value in list(outcome.evidence.items())[:MAX_EVIDENCE]:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        text = " ".join(text.split())
        if len(text) > MAX_VALUE:
            text = text[: MAX_VALUE - 1] + "…"
        lines.append(f"{key}: {text}")
    return lines


def _render(
    ctx: RunContext, step: NotifyStep, message: Message, notes: list[str]
) -> dict[tuple[str, str], Rendered | CommsError]:
    """The closing message per (language, audience): the runbook's override when it renders
    text, else the shipped template, with a note in ``notes`` saying why."""
    try:
        override = override_path(ctx.runbook, ctx.loaded.path, step.notify)
    except CommsError as exc:
        notes.append(f"{exc}; the shipped template was used")
        override = None
    rendered: dict[tuple[str, str], Rendered | CommsError] = {}
    for lang, audience in keys_of(ctx, step):
        if (lang, audience) in rendered:
            continue
        if override is not None:
            try:
                found = render(message, lang, audience, override=override)
                if not silent(found):
                    rendered[(lang, audience)] = found
                    continue
                why = f"template {override} renders no text for {lang}, {audience}"
            except CommsError as exc:
                why = str(exc)
            notes.append(ctx.redactor.text(f"{why}; the shipped template was used"))
        try:
            rendered[(lang, audience)] = render(message, lang, audience)
        except CommsError as exc:
            rendered[(lang, audience)] = exc
    return rendered


def silent(rendered: Rendered) -> bool:
    """A message with no subject or no body: an override must not drop the news."""
    subject = rendered.subject.removeprefix("[DRILL]").strip()
    return not subject or not rendered.body.strip()


def _skipped(ctx: RunContext, name: str, why: str) -> list[Receipt]:
    stakeholder = ctx.runbook.stakeholders[name]
    return [
        Receipt(
            stakeholder=name,
            kind=kind(url),
            target=ctx.redactor.text(url),
            language=stakeholder.language,
            audience=stakeholder.audience,
            required=stakeholder.required,
            status="skipped",
            why=why,
        )
        for url in stakeholder.channels
    ]


def _step_id(ctx: RunContext) -> str:
    """``failure-notice``, unless a step of the runbook is so named."""
    ids = {s.id for s in ctx.runbook.steps}
    name, n = STEP_ID, 1
    while name in ids:
        n += 1
        name = f"{STEP_ID}-{n}"
    return name
