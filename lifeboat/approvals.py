"""Approval decisions, Prefect-free: who may approve, what the approver sees, what is recorded.

``flows/approval.py`` only adds the waiting (Prefect's pause and resume); everything that
decides and records lives here, so ``--yes`` and a UI answer leave the same journal entries.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.plan import describe
from lifeboat.runbook import templates
from lifeboat.runbook.model import ApprovalStep

DEFAULT_TIMEOUT_S = 3600

# How an answer reached the gate, as the journal records it (``evidence.via``).
TERMINAL = "terminal"  # ``lifeboat approve``: it says so itself, in the form's hidden ``via``
UI_OR_API = "ui or api"  # the Prefect UI's form and other API clients send the same request
IN_ADVANCE = "--yes"  # ``lifeboat run --yes`` or the demo: given before the run started
WATCHDOG = "watchdog"  # nobody answered before the runbook's timeout


class Answer(BaseModel):
    """An approver's answer: the fields of the form in the Prefect UI."""

    approved: bool = False
    approver: str = ""
    comment: str = ""
    confirm: str = ""
    # Not a field of the UI's form (kept out of its JSON schema): ``lifeboat approve`` sends
    # "terminal" here; the gate itself sets the channels no remote client may claim.
    via: SkipJsonSchema[str] = ""


def arrived(answer: Answer) -> Answer:
    """A remote answer with the channel it may claim: ``terminal``, else ``ui or api``.

    The UI's form cannot say it is the UI, and it sends the same request as any other API
    client: the two are told apart from ``lifeboat approve`` only, which says so itself.
    """
    via = TERMINAL if answer.via == TERMINAL else UI_OR_API
    return answer.model_copy(update={"via": via})


#: The answer the watchdog gives at the runbook's timeout (never counts as approval).
TIMED_OUT = Answer(approved=False, approver="lifeboat", comment="approval timed out", via=WATCHDOG)


def prompt_of(ctx: RunContext, step: ApprovalStep) -> str:
    return str(templates.render(step.approval.prompt, ctx.scope()))


def timeout_of(step: ApprovalStep) -> float:
    return step.approval.timeout.total_seconds() if step.approval.timeout else DEFAULT_TIMEOUT_S


def description(ctx: RunContext, step: ApprovalStep) -> str:
    """Markdown shown above the form: what will run if approved, and the plan's hash."""
    order = [p.id for p in ctx.plan.steps]
    after = ctx.plan.steps[order.index(step.id) + 1 :]
    lines = [
        f"### {prompt_of(ctx, step)}",
        "",
        f"Runbook **{ctx.runbook.id} {ctx.runbook.version}**, mode **{ctx.mode}**, "
        f"run `{ctx.run_id}`.",
        "",
        "Steps that run next:",
        "",
    ]
    for planned in after:
        mark = " **(mutating)**" if planned.mutating else ""
        lines.append(f"1. `{planned.id}` {planned.kind}: {describe(planned)}{mark}")
    lines += ["", f"Plan hash: `{ctx.plan.hash}`"]
    if step.approval.confirm:
        lines.append(f"\nType **{step.approval.confirm}** in *confirm* to approve.")
    return ctx.redactor.text("\n".join(lines))


def ask(ctx: RunContext, step: ApprovalStep) -> None:
    ctx.journal.append(
        "approval.asked",
        step_id=step.id,
        kind="approval",
        inputs={"prompt": prompt_of(ctx, step), "plan_hash": ctx.plan.hash},
    )


def in_advance(ctx: RunContext) -> Answer | None:
    """The answer ``lifeboat run --yes`` gave before the run started, recorded as such."""
    if not ctx.auto_approver:
        return None
    return Answer(
        approved=True,
        approver=f"{ctx.auto_approver} (--yes)",
        comment="approved in advance with --yes",
        via=IN_ADVANCE,
    )


def refusal(ctx: RunContext, step: ApprovalStep, answer: Answer) -> str | None:
    """Why an answer cannot count, or None when it can. Anyone named may reject."""
    rules = step.approval
    if not answer.approver.strip():
        return "an answer must name its approver"
    if not answer.approved:
        return None
    if rules.approvers and answer.approver not in rules.approvers:
        return f"{answer.approver} is not among the approvers ({', '.join(rules.approvers)})"
    if rules.distinct_approver and answer.approver == ctx.initiator:
        return f"{answer.approver} started this run and may not approve it"
    # Approving in advance names no target: ``--yes`` is the confirmation. Only the gate
    # sets that channel (``arrived``): an approver named "x (--yes)" in the form must confirm.
    if rules.confirm and answer.confirm.strip() != rules.confirm and answer.via != IN_ADVANCE:
        return f"confirmation must be '{rules.confirm}'"
    return None


def _how(answer: Answer) -> dict[str, str]:
    """What the journal keeps of how an answer arrived: its channel, its name as given."""
    return {"via": answer.via or UI_OR_API, "approver": answer.approver}


def refused(ctx: RunContext, step: ApprovalStep, answer: Answer, why: str) -> None:
    ctx.journal.append(
        "approval.answered",
        step_id=step.id,
        kind="approval",
        actor=answer.approver or None,
        error=f"refused: {why}",
        evidence=_how(answer),
    )
    ctx.log(f"{step.id}: answer refused: {why}; asking again")


def decide(
    ctx: RunContext, step: ApprovalStep, answer: Answer | None, started: float | None = None
) -> StepOutcome:
    """Record the final answer (None: nobody answered in time); raise if not approved."""
    begun = datetime.now(UTC)
    clock = started if started is not None else time.perf_counter()
    if answer is None:
        why = f"no approval within {timeout_of(step):g} s"
        ctx.journal.append(
            "approval.answered",
            step_id=step.id,
            kind="approval",
            actor=TIMED_OUT.approver,
            summary=f"timed out: {why}",
            evidence=_how(TIMED_OUT),
        )
        return _failed(ctx, step, why, None, begun=begun, clock=clock)
    verdict = "approved" if answer.approved else "rejected"
    note = f"{verdict}: {answer.comment}" if answer.comment else verdict
    ctx.journal.append(
        "approval.answered",
        step_id=step.id,
        kind="approval",
        actor=answer.approver,
        summary=note,
        evidence=_how(answer),
    )
    if not answer.approved:
        reason = f"rejected by {answer.approver}" + (
            f": {answer.comment}" if answer.comment else ""
        )
        return _failed(ctx, step, reason, answer.approver, begun=begun, clock=clock)
    return ctx.finish(
        "step.succeeded",
        StepOutcome(
            step_id=step.id,
            kind="approval",
            target="approval",
            status=StepStatus.succeeded,
            summary=f"approved by {answer.approver}",
            started=begun,
            duration_ms=(time.perf_counter() - clock) * 1000,
            attempts=1,
            actor=answer.approver,
        ),
    )


def _failed(
    ctx: RunContext,
    step: ApprovalStep,
    error: str,
    actor: str | None,
    *,
    begun: datetime,
    clock: float,
) -> StepOutcome:
    ctx.finish(
        "step.failed",
        StepOutcome(
            step_id=step.id,
            kind="approval",
            target="approval",
            status=StepStatus.failed,
            error=error,
            started=begun,
            duration_ms=(time.perf_counter() - clock) * 1000,
            attempts=1,
            actor=actor,
            tolerated=step.on_failure == "continue",
        ),
    )
    raise StepError(error)
