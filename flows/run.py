"""The Prefect flow that runs a runbook: one task per step, named by its step id.

Thin on purpose: it loads and validates the runbook, builds the run context, and lends the
engine a Prefect ``Executor`` (tasks with the step's retries, approvals as flow pauses).
What runs when, and what is recorded, is the engine's business (``lifeboat.engine``).
"""

from __future__ import annotations

import concurrent.futures
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.futures import PrefectConcurrentFuture
from prefect.runtime import flow_run, task_run
from prefect.states import Completed, Failed
from prefect.tasks import Task

from flows.approval import gate
from flows.lock import hold
from flows.review import publish_review
from flows.secrets import install as install_secrets
from lifeboat import secrets
from lifeboat.context import OPERATOR_NOTICE, RunContext, identity
from lifeboat.engine import current_user, execute, execute_step
from lifeboat.errors import LockHeld, StepError
from lifeboat.execute import compensate
from lifeboat.journal import Journal
from lifeboat.outcome import RunOutcome, StepOutcome
from lifeboat.plan import AnyStep, build_plan
from lifeboat.redact import Redactor
from lifeboat.registry import default_registry
from lifeboat.resume import check_same_plan, load_prior
from lifeboat.runbook import load
from lifeboat.runbook.model import ActionStep, ApprovalStep
from lifeboat.runbook.params import check_text, resolve
from lifeboat.settings import Settings

FLOW_NAME = "lifeboat-runbook"


def _settled(done: concurrent.futures.Future[Any], step_id: str, ctx: RunContext) -> StepOutcome:
    """The outcome of a finished step task; ``StepError`` when the task failed."""
    state = done.result()
    if not state.is_completed():
        raise StepError(state.message or f"{step_id} failed")
    return ctx.outcomes[step_id]


class PrefectExecutor:
    """Each step a Prefect task (visible in the UI, with Prefect's retries); approvals pause."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def submit(self, step: AnyStep) -> concurrent.futures.Future[StepOutcome]:
        ctx = self.ctx

        def attempt() -> StepOutcome:
            return execute_step(ctx, step, attempt=task_run.run_count or 1)

        step_task = Task(
            attempt,
            name=step.id,
            task_run_name=step.id,
            retries=step.retries,
            retry_delay_seconds=step.retry_delay.total_seconds() if step.retry_delay else 0,
            persist_result=False,
            cache_policy=NO_CACHE,
        )
        settled: concurrent.futures.Future[StepOutcome] = concurrent.futures.Future()

        def settle(done: concurrent.futures.Future[Any]) -> None:
            # Prefect's future yields the task's final state; ours raises like a call would.
            # Whatever goes wrong here must still settle ours: the scheduler waits on it.
            try:
                outcome = _settled(done, step.id, ctx)
            except StepError as exc:
                settled.set_exception(exc)
            except BaseException as exc:  # the task runner itself broke, or a bug of ours
                settled.set_exception(StepError(f"{step.id}: {type(exc).__name__}: {exc}"))
            else:
                settled.set_result(outcome)

        future = step_task.submit()
        assert isinstance(future, PrefectConcurrentFuture)  # the default thread-pool runner
        future.wrapped_future.add_done_callback(settle)
        return settled

    def approve(self, step: ApprovalStep) -> StepOutcome:
        return gate(self.ctx, step)

    def compensate(self, step: ActionStep) -> StepOutcome:
        ctx = self.ctx
        rollback = Task(
            lambda: compensate(ctx, step),
            name=f"rollback:{step.id}",
            task_run_name=f"rollback:{step.id}",
            persist_result=False,
            cache_policy=NO_CACHE,
        )
        outcome: StepOutcome = rollback()
        return outcome


def build_context(
    runbook_path: str,
    mode: Literal["drill", "live"],
    params: dict[str, Any],
    *,
    run_id: str,
    reason: str,
    incident: str,
    detected_at: str,
    initiator: str,
    auto_approver: str | None,
    settings: Settings,
) -> RunContext:
    registry = default_registry()
    loaded = load(runbook_path, registry=registry)
    values = resolve(loaded.runbook, params)
    loaded = load(runbook_path, registry=registry, params=values)
    install_secrets(loaded.runbook)  # before the redactor: it must know the blocks' values
    secrets.refuse_in_parameters(values, settings.secret_values())  # before any journal
    for name, text in (("reason", reason), ("incident", incident), ("detected_at", detected_at)):
        check_text(name, text)  # a form in the UI submits what it likes
    redactor = Redactor(settings.secret_values())
    journal_path = settings.runs_dir / run_id / "journal.jsonl"
    return RunContext(
        run_id=run_id,
        mode=mode,
        loaded=loaded,
        params=values,
        plan=build_plan(loaded, values, registry, mode=mode),
        settings=settings,
        registry=registry,
        journal=Journal(journal_path, run_id, identity(loaded), redactor),
        redactor=redactor,
        initiator=initiator,
        reason=reason,
        incident=incident,
        detected_at=detected_at,
        auto_approver=auto_approver,
    )


@flow(name=FLOW_NAME, persist_result=False, log_prints=False, validate_parameters=True)
def run_runbook(
    runbook_path: str,
    *,
    mode: Literal["drill", "live"] = "drill",
    reason: str = "",
    incident: str = "",
    detected_at: datetime | None = None,
    params: dict[str, Any] | None = None,
    initiator: str | None = None,
    auto_approver: str | None = None,
    resume: str | None = None,
) -> State[RunOutcome]:
    """Run a Lifeboat runbook: validate it, execute its steps, journal every event.

    ``resume``: the id of a failed or killed run to continue (same journal, same run id);
    its steps that succeeded are kept, never executed again.
    """
    settings = Settings()
    logger = get_run_logger()
    prior = load_prior(settings.runs_dir, resume) if resume else None
    ctx = build_context(
        str(Path(runbook_path)),
        prior.mode if prior else mode,  # type: ignore[arg-type]
        prior.params if prior else params or {},
        run_id=prior.run_id if prior else str(flow_run.id),
        reason=prior.reason if prior else reason,
        incident=prior.incident if prior else incident,
        detected_at=prior.detected_at if prior else _iso(detected_at),
        initiator=prior.initiator if prior else initiator or current_user(),
        auto_approver=auto_approver,
        settings=settings,
    )
    if prior is not None:
        check_same_plan(prior, ctx.loaded.sha256, ctx.plan.hash)
        ctx.resumed_by = str(flow_run.id)
    ctx.logger = logger.info
    ctx.warner = lambda message: logger.warning(message, extra={OPERATOR_NOTICE: True})
    try:
        with hold(ctx):  # one live run per system
            if prior is not None:  # after the lock: taking it over needs the old run as is
                _retire(prior.run_id, str(flow_run.id))
            outcome = execute(ctx, PrefectExecutor(ctx), prior.done if prior else None)
    except LockHeld as refused:  # before any step: nothing ran, nothing journaled
        return Failed(message=str(refused), data=refused)
    publish_review(ctx.journal.path, ctx.redactor, logger, ctx.settings)
    if outcome.status == "succeeded":
        return Completed(message="all steps done", data=outcome)
    failed = outcome.failed_step
    why = f"{failed.step_id}: {failed.error}" if failed else "failed"
    return Failed(message=ctx.redactor.text(why), data=outcome)


def _retire(old: str, new: str) -> None:
    """Mark the killed run Crashed, so the UI no longer shows it running or waiting."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        try:
            state = client.read_flow_run(UUID(old)).state
        except ObjectNotFound:  # a run this server never saw: nothing to retire
            return
        if state is not None and (state.is_running() or state.is_paused()):
            message = f"the process running it died; resumed by flow run {new}"
            client.set_flow_run_state(UUID(old), Crashed(message=message), force=True)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def run_sync(runbook_path: str, **options: Any) -> State[RunOutcome]:
    """Run the flow and return its final state (the CLI, tests and benchmarks use this)."""
    state: State[RunOutcome] = run_runbook(runbook_path, return_state=True, **options)  # type: ignore[assignment]
    return state
