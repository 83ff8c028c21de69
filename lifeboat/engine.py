"""The run lifecycle: schedule steps along the DAG, apply ``on_failure``, roll back, journal.

Prefect-free on purpose: an ``Executor`` decides how a step runs (a Prefect task in
``flows/``, a plain call in unit tests) and the engine decides what runs when:

- a step starts when every step it needs has ended; independent steps run together;
- a failed step with ``on_failure: continue`` is tolerated and its dependents run;
- ``abort`` (the default) starts nothing more, waits for running steps, and in live mode
  runs the rollbacks of completed steps in reverse order of completion; ``rollback`` does
  that in drills too;
- every step that never ran is journaled as skipped, so the record is complete;
- a failed run tells every stakeholder it already informed (``lifeboat.failure_notice``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import getpass
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Protocol

from lifeboat import approvals, failure_notice
from lifeboat.audit import offsite
from lifeboat.cadence import Cadence
from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.execute import compensate, rollback_of, run_step, skip
from lifeboat.notify import automatic_update, deliver
from lifeboat.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus
from lifeboat.plan import AnyStep
from lifeboat.runbook.model import ActionStep, ApprovalStep, NotifyStep, OnFailure
from lifeboat.ssh import close_pool


class Executor(Protocol):
    def submit(self, step: AnyStep) -> concurrent.futures.Future[StepOutcome]: ...

    def approve(self, step: ApprovalStep) -> StepOutcome: ...

    def compensate(self, step: ActionStep) -> StepOutcome: ...


def execute_step(ctx: RunContext, step: AnyStep, attempt: int = 1) -> StepOutcome:
    """One attempt at a check, action or notify step (what a Prefect task wraps)."""
    try:
        if isinstance(step, NotifyStep):
            return deliver(ctx, step)
        return run_step(ctx, step, attempt)
    except StepError:
        raise
    except Exception as exc:  # a bug or an unconverted vendor error: still one failed step
        error = f"unexpected {type(exc).__name__}: {exc}"
        kind = "notify" if isinstance(step, NotifyStep) else type(step).__name__[:-4].lower()
        code = "step.crashed"
        ctx.journal.append("step.failed", step_id=step.id, kind=kind, error=error, error_code=code)
        ctx.record(
            StepOutcome(
                step_id=step.id,
                kind=kind,
                target=kind,
                attempts=attempt,
                status=StepStatus.failed,
                error=ctx.redactor.text(error),
                error_code=code,
            )
        )
        raise StepError(error, code=code) from exc


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def execute(
    ctx: RunContext, executor: Executor, done: dict[str, StepOutcome] | None = None
) -> RunOutcome:
    """Run the plan; ``done`` (from ``lifeboat.resume``) are steps a resumed run keeps."""
    started = datetime.now(UTC)
    if done is None:
        ctx.journal.append(
            "run.started",
            actor=ctx.initiator,
            summary=ctx.reason or None,
            inputs={
                "mode": ctx.mode,
                "params": ctx.params,
                "incident": ctx.incident,
                "plan_hash": ctx.plan.hash,
                "detected_at": ctx.detected_at,
                "runbook": str(ctx.loaded.path),
            },
        )
    else:
        ctx.journal.append(
            "run.resumed",
            actor=current_user(),
            summary=f"resumed: {len(done)} steps done before are kept, the rest runs",
            inputs={"kept": sorted(done), "resumed_by_flow_run": ctx.resumed_by},
        )
        for outcome in done.values():
            ctx.record(outcome)
    try:
        with _cadence(ctx, done or {}):
            failure = _schedule(ctx, executor)
            rollbacks: list[StepOutcome] = []
            rolled = failure is not None and (
                failure.on_failure == OnFailure.rollback or ctx.mode == "live"
            )
            if rolled:
                rollbacks = _roll_back(ctx, executor)
    finally:
        close_pool(ctx)  # one SSH connection per host per run: closed with the run
    if failure is not None:  # after the rollbacks, which it reports; the timer is stopped
        failure_notice.send(ctx, failure, rollbacks, rolled)
    status = RunStatus.failed if failure is not None else RunStatus.succeeded
    summary = f"failed at {failure.id}" if failure else "all steps done"
    if any(r.status == StepStatus.failed for r in rollbacks):
        summary += "; ROLLBACK INCOMPLETE: see rollback.failed entries"
    ctx.journal.append(
        "run.ended",
        summary=f"{status.value}: {summary}",
        error=None if failure is None else _error_of(ctx, failure.id),
    )
    offsite.after_run(ctx.journal.path, ctx.settings, ctx.log)  # sign; WORM copy if set
    order = [p.id for p in ctx.plan.steps]
    return RunOutcome(
        run_id=ctx.run_id,
        runbook_id=ctx.runbook.id,
        version=ctx.runbook.version,
        mode=ctx.mode,
        status=status,
        plan_hash=ctx.plan.hash,
        steps=[ctx.outcomes[i] for i in order if i in ctx.outcomes],
        rollbacks=rollbacks,
        journal=str(ctx.journal.path),
        started=started,
        ended=datetime.now(UTC),
    )


@contextlib.contextmanager
def _cadence(ctx: RunContext, done: dict[str, StepOutcome]) -> Iterator[None]:
    """The timer of ``comms.updates_every`` for the run's duration (none without it).

    A resumed run restarts it from the notify steps it keeps: an incident opened before
    the interruption still gets its updates."""
    every = ctx.runbook.comms.updates_every
    if not every:
        yield
        return
    with Cadence(every, functools.partial(automatic_update, ctx)) as cadence:
        ctx.cadence = cadence
        for step in ctx.runbook.steps:
            if isinstance(step, NotifyStep) and step.id in done:
                cadence.sent(step)
        try:
            yield
        finally:
            ctx.cadence = None


def _error_of(ctx: RunContext, step_id: str) -> str | None:
    outcome = ctx.outcomes.get(step_id)
    return outcome.error if outcome else "failed without a recorded outcome"


def _schedule(ctx: RunContext, executor: Executor) -> AnyStep | None:
    """Run the DAG; return the step whose failure stopped the run, if one did."""
    needs = {p.id: p.needs for p in ctx.plan.steps}
    waiting = [p.id for p in ctx.plan.steps if p.id not in ctx.outcomes]  # resumed: kept
    running: dict[concurrent.futures.Future[StepOutcome], str] = {}
    failure: AnyStep | None = None
    while True:
        ready = [s for s in waiting if all(n in ctx.outcomes for n in needs[s])]
        for step_id in ready if failure is None else []:
            waiting.remove(step_id)
            failure = _start(ctx, executor, ctx.runbook.step(step_id), running)
            if failure is not None:
                break
        if running:
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                step = ctx.runbook.step(running.pop(future))
                if future.exception() is not None and failure is None:
                    failure = _stops(ctx, step)
        elif failure is not None or not ready:
            break
    for step_id in waiting:  # never started: say so, so the record is complete
        planned = next(p for p in ctx.plan.steps if p.id == step_id)
        skip(ctx, planned, f"not run: the run stopped at {failure.id if failure else '?'}")
    return failure


def _start(
    ctx: RunContext,
    executor: Executor,
    step: AnyStep,
    running: dict[concurrent.futures.Future[StepOutcome], str],
) -> AnyStep | None:
    if isinstance(step, ApprovalStep):
        if ctx.mode == "drill" and step.live_only:
            planned = next(p for p in ctx.plan.steps if p.id == step.id)
            skip(ctx, planned, "drill: would ask for approval")
            return None
        try:
            executor.approve(step)
        except StepError:
            return _stops(ctx, step)
        return None
    running[executor.submit(step)] = step.id
    return None


def _stops(ctx: RunContext, step: AnyStep) -> AnyStep | None:
    """The failed step, unless its ``on_failure`` lets the run continue."""
    if step.on_failure == OnFailure.continue_:
        ctx.log(f"{step.id} failed; on_failure: continue")
        return None
    return step


def _roll_back(ctx: RunContext, executor: Executor) -> list[StepOutcome]:
    """Compensations of completed action steps, latest first; all run even if one fails."""
    completed = sorted(
        (
            o
            for o in ctx.outcomes.values()
            if o.status == StepStatus.succeeded and o.kind == "action"
        ),
        key=lambda o: o.ended or o.started or datetime.min.replace(tzinfo=UTC),
        reverse=True,
    )
    results = []
    for outcome in completed:
        step = ctx.runbook.step(outcome.step_id)
        if isinstance(step, ActionStep) and rollback_of(ctx, step) is not None:
            results.append(executor.compensate(step))
        else:
            ctx.log(f"{outcome.step_id} has no declared rollback: left as it is")
    return results


class InlineExecutor:
    """Runs steps in threads without Prefect: unit tests and ``compensate`` reuse."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)

    def submit(self, step: AnyStep) -> concurrent.futures.Future[StepOutcome]:
        return self.pool.submit(self._with_retries, step)

    def _with_retries(self, step: AnyStep) -> StepOutcome:
        for attempt in range(1, step.retries + 2):
            try:
                return execute_step(self.ctx, step, attempt)
            except StepError:
                if attempt > step.retries:
                    raise
                if step.retry_delay:
                    time.sleep(step.retry_delay.total_seconds())
        raise AssertionError("unreachable")

    def approve(self, step: ApprovalStep) -> StepOutcome:
        return approvals.decide(self.ctx, step, approvals.in_advance(self.ctx))

    def compensate(self, step: ActionStep) -> StepOutcome:
        return compensate(self.ctx, step)
