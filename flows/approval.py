"""Approval gates in a flow: pause until a person answers in the Prefect UI or with
``lifeboat approve``. Deciding and recording live in ``lifeboat.approvals``."""

from __future__ import annotations

import threading
import time
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput

from lifeboat import approvals
from lifeboat.context import RunContext
from lifeboat.outcome import StepOutcome
from lifeboat.runbook.model import ApprovalStep

POLL_INTERVAL_S = 1  # Prefect's default of 10 s would add up to 10 s to every approval
PAUSE_MARGIN_S = 120  # Prefect's pause outlives ours: our watchdog ends the wait first
TIMEOUT_ANSWER = {"approved": False, "approver": "lifeboat", "comment": "approval timed out"}


class ApprovalInput(RunInput, approvals.Answer):
    """The form an approver fills in: approved, approver, comment, confirm."""


def gate(ctx: RunContext, step: ApprovalStep) -> StepOutcome:
    clock = time.perf_counter()
    approvals.ask(ctx, step)
    answer = approvals.in_advance(ctx)
    if answer is not None:
        return approvals.decide(ctx, step, answer, clock)
    form = ApprovalInput.with_initial_data(description=approvals.description(ctx, step))
    limit, attempt = approvals.timeout_of(step), 0
    while (remaining := limit - (time.perf_counter() - clock)) > 0:
        attempt += 1  # a new key per attempt: Prefect refuses a repeated one (409)
        ctx.log(f"{step.id}: waiting for approval, {remaining:.0f} s left")
        watchdog = _Watchdog(ctx.run_id, remaining)
        given = pause_flow_run(
            wait_for_input=form,
            timeout=round(remaining) + PAUSE_MARGIN_S,
            poll_interval=POLL_INTERVAL_S,
            key=f"{step.id}-{attempt}",
        )
        watchdog.cancel()
        if watchdog.fired.is_set() or given is None:
            break
        answer = approvals.Answer.model_validate(given.model_dump())
        why = approvals.refusal(ctx, step, answer)
        if why is None:
            return approvals.decide(ctx, step, answer, clock)
        approvals.refused(ctx, step, answer, why)
    return approvals.decide(ctx, step, None, clock)


def form_exists(client: SyncPrefectClient, run: FlowRun) -> bool:
    """Whether ``run`` is paused at a gate whose approval form the server holds.

    Prefect saves the form just after the pause and refuses an answer until then ("Run
    input schema not found"): an approver can answer once the form exists, not before.
    """
    state = run.state
    keyset = state.state_details.run_input_keyset if state and state.is_paused() else None
    if not keyset:
        return False
    try:
        client.read_flow_run_input(run.id, keyset["schema"])
    except PrefectHTTPStatusError as error:
        if error.response.status_code == 404:
            return False
        raise
    return True


class _Watchdog:
    """Ends the wait at the runbook's timeout by resuming the run itself.

    Letting Prefect's own pause timeout expire would make the server fail the whole flow
    run ("paused and never resumed"): no rollback, no journal entry, no review. So Prefect
    gets a longer timeout, and at the runbook's deadline this resumes the run with a
    refusal; ``fired`` tells the gate that nobody answered.
    """

    def __init__(self, run_id: str, seconds: float) -> None:
        self.run_id = UUID(run_id)
        self.fired = threading.Event()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        try:
            resume_flow_run(self.run_id, run_input=TIMEOUT_ANSWER)
        except Exception:  # already resumed by a person a moment ago: their answer stands
            return
        self.fired.set()

    def cancel(self) -> None:
        self._timer.cancel()
