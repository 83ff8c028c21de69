"""Execute one step and record it: the engine's inner loop, with no Prefect in sight.

Every path through ``run_step`` journals a start and exactly one end (succeeded, failed,
retried or skipped), so the journal never holds a step that started and vanished, except
when the whole process was killed, which ``audit verify`` and ``--resume`` then see.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from lifeboat.context import RunContext
from lifeboat.errors import StepError, StepTimeout
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.plan import AnyStep, PlannedStep, describe
from lifeboat.registry import StepOutput, StepSpec, Undo
from lifeboat.runbook import templates
from lifeboat.runbook.model import ActionStep, CheckStep


def _now() -> datetime:
    return datetime.now(UTC)


def skip(ctx: RunContext, planned: PlannedStep, why: str) -> StepOutcome:
    """Record a step that does not run (live_only in a drill, or after an abort)."""
    ctx.journal.append(
        "step.skipped", step_id=planned.id, kind=planned.kind, inputs=planned.inputs, summary=why
    )
    outcome = StepOutcome(
        step_id=planned.id,
        kind=planned.kind,
        target=planned.target,
        status=StepStatus.skipped,
        summary=why,
    )
    ctx.record(outcome)
    return outcome


def run_step(ctx: RunContext, step: AnyStep, attempt: int = 1) -> StepOutcome:
    """Run a check or action step once; raise ``StepError`` on failure (after journaling)."""
    assert isinstance(step, CheckStep | ActionStep)
    name = step.check if isinstance(step, CheckStep) else step.action
    planned = next(p for p in ctx.plan.steps if p.id == step.id)
    if ctx.mode == "drill" and step.live_only:
        return skip(ctx, planned, f"drill: would {describe(planned)}")
    spec = ctx.registry.get(name)
    assert spec is not None, "the loader checked every step name"
    return _attempt(
        ctx,
        step,
        spec,
        step.with_,
        attempt=attempt,
        kind=planned.kind,
        events=("step.started", "step.succeeded", "step.failed"),
    )


def rollback_of(ctx: RunContext, step: ActionStep) -> Undo | None:
    """The runbook's ``rollback:`` for a step, else the undo the step recorded when it ran."""
    if step.rollback is not None:
        return Undo(action=step.rollback.action, with_=step.rollback.with_)
    outcome = ctx.outcomes.get(step.id)
    recorded = outcome.undo if outcome is not None else None
    return Undo.model_validate(recorded) if recorded else None


def compensate(ctx: RunContext, step: ActionStep) -> StepOutcome:
    """Run a completed step's rollback; never raises: a failure is recorded loudly."""
    undo = rollback_of(ctx, step)
    assert undo is not None, "the engine compensates only steps that have a rollback"
    spec = ctx.registry.get(undo.action)
    if spec is None:  # a recorded undo naming a step this version no longer registers
        raise StepError(f"rollback action {undo.action!r} is not registered", target=step.id)
    try:
        return _attempt(
            ctx,
            step,
            spec,
            undo.with_,
            attempt=1,
            kind="rollback",
            events=("rollback.started", "rollback.succeeded", "rollback.failed"),
        )
    except StepError:
        outcome = ctx.outcomes[f"rollback:{step.id}"]
        ctx.log(f"ROLLBACK FAILED for step {step.id}: {outcome.error}")
        return outcome


def _attempt(
    ctx: RunContext,
    step: CheckStep | ActionStep,
    spec: StepSpec,
    with_: dict[str, Any],
    *,
    attempt: int,
    kind: str,
    events: tuple[Any, Any, Any],
) -> StepOutcome:
    started_event, succeeded_event, failed_event = events
    key = step.id if kind != "rollback" else f"rollback:{step.id}"
    started, clock = _now(), time.perf_counter()
    inputs: dict[str, Any] = {}
    try:
        inputs = templates.render(with_, ctx.scope())
        ctx.journal.append(
            started_event,
            step_id=step.id,
            kind=kind,
            inputs=inputs,
            summary=f"{spec.name} attempt {attempt}",
        )
        params = spec.params.model_validate(inputs)
        output = _call(ctx, spec, params, step.timeout.total_seconds() if step.timeout else None)
    except Exception as exc:
        error, code = _explain(exc), _code_of(exc)
        retrying = kind != "rollback" and attempt <= step.retries
        elapsed = (time.perf_counter() - clock) * 1000
        failed = ctx.journal.append(
            "step.retried" if retrying else failed_event,
            step_id=step.id,
            kind=kind,
            error=error,
            error_code=code,
            duration_ms=elapsed,
            evidence=getattr(exc, "evidence", None) or {},
        )
        ctx.log(f"{key}: {'will retry: ' if retrying else ''}{error}")
        ctx.record(
            StepOutcome(
                step_id=key,
                kind=kind,
                target=spec.name,
                status=StepStatus.failed,
                error=ctx.redactor.text(error),
                error_code=code,
                evidence=failed.evidence,  # what a failed check found: the drift, the gaps
                started=started,
                ended=_now(),
                duration_ms=elapsed,
                attempts=attempt,
                tolerated=step.on_failure == "continue",
            )
        )
        raise StepError(error, code=code) from exc
    elapsed = (time.perf_counter() - clock) * 1000
    undo = output.undo.model_dump(by_alias=True) if output.undo else None
    entry = ctx.journal.append(
        succeeded_event,
        step_id=step.id,
        kind=kind,
        summary=output.summary,
        evidence=output.evidence,
        duration_ms=elapsed,
        undo=undo,
    )
    ctx.log(f"{key}: {entry.summary}")
    outcome = StepOutcome(
        step_id=key,
        kind=kind,
        target=spec.name,
        status=StepStatus.succeeded,
        summary=entry.summary or "",
        evidence=entry.evidence,
        started=started,
        ended=_now(),
        duration_ms=elapsed,
        attempts=attempt,
        undo=entry.undo,
    )
    ctx.record(outcome)
    return outcome


def _call(ctx: RunContext, spec: StepSpec, params: Any, timeout: float | None) -> StepOutput:
    """Call the step function, giving up after ``timeout`` seconds.

    A Python thread cannot be killed: on timeout the call is abandoned (it keeps its own
    network timeouts) and the step fails now, which is what the runbook asked for.
    """
    if timeout is None:
        return spec.function(params, ctx)
    result: list[StepOutput] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(spec.function(params, ctx))
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    worker = threading.Thread(target=target, name=f"step-{spec.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise StepTimeout(f"did not finish within {timeout:g} s", target=spec.name)
    if error:
        raise error[0]
    return result[0]


def _explain(exc: BaseException) -> str:
    """One line saying what went wrong, in our words when we have them."""
    if isinstance(exc, StepError):
        return str(exc)
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        return f"invalid inputs after rendering: {problems}"
    if isinstance(exc, templates.TemplateError):
        return f"cannot render inputs: {exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


def _code_of(exc: BaseException) -> str:
    """The error code journaled beside the message (see ``lifeboat.errors``)."""
    if isinstance(exc, StepError):
        return exc.code
    if isinstance(exc, ValidationError | templates.TemplateError):
        return "step.bad_inputs"
    return "step.crashed"
