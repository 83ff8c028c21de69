"""Approval gates in a flow: pause until a person answers in the Prefect UI or with
``lifeboat approve``. Deciding and recording live in ``lifeboat.approvals``.

Beside Prefect's own form (``<base>-schema``, ``-description``, ``-response``), each pause
of a gate keeps two flow run inputs of its own, so that an approver on another machine
learns through the Prefect API what the gate asks and what it made of the answer:
``<base>-asks`` (written before the pause: the step, the confirmation word it needs) and
``<base>-verdict`` (written once the answer is judged: accepted or refused, and why).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput, keyset_from_paused_state
from prefect.runtime import flow_run
from prefect.states import Paused
from pydantic import ConfigDict

from lifeboat import approvals
from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.outcome import StepOutcome
from lifeboat.runbook.model import ApprovalStep

POLL_INTERVAL_S = 1  # Prefect's default of 10 s would add up to 10 s to every approval
PAUSE_MARGIN_S = 120  # Prefect's pause outlives ours: our watchdog ends the wait first
TIMEOUT_ANSWER = approvals.TIMED_OUT.model_dump(exclude={"via"})
_PREFECT_KEY = re.compile(r"[a-z0-9-]+")  # what Prefect accepts in a flow run input's key


class ApprovalInput(RunInput, approvals.Answer):
    """The form an approver fills in: approved, approver, comment, confirm.

    Prefect's inputs forbid unknown fields, which would put ``additionalProperties: false``
    in the form's schema and make the server refuse ``lifeboat approve``'s hidden ``via``
    (kept out of the schema, so out of the UI's form): this one ignores unknown fields.
    """

    model_config = ConfigDict(extra="ignore")


def pause_key(step_id: str, attempt: int) -> str:
    """The key of one pause of a gate. Prefect keys allow lowercase letters, digits and
    dashes only; a step id may have capitals and underscores, so such an id is folded and
    its hash keeps it apart from another id that folds the same way."""
    if _PREFECT_KEY.fullmatch(step_id):
        return f"{step_id}-{attempt}"
    folded = re.sub(r"[^a-z0-9-]", "-", step_id.lower())
    return f"{folded}-{hashlib.sha256(step_id.encode()).hexdigest()[:8]}-{attempt}"


def extra_key(response_key: str, name: str) -> str:
    """The key of one of our inputs (``asks``, ``verdict``) beside the pause whose answer
    Prefect keeps under ``response_key`` (``paused-<pause key>-response``)."""
    return response_key.removesuffix("-response") + f"-{name}"


def gate(ctx: RunContext, step: ApprovalStep) -> StepOutcome:
    clock = time.perf_counter()
    approvals.ask(ctx, step)
    answer = approvals.in_advance(ctx)
    if answer is not None:
        return approvals.decide(ctx, step, answer, clock)
    form = ApprovalInput.with_initial_data(description=approvals.description(ctx, step))
    limit, attempt = approvals.timeout_of(step), 0
    me = UUID(flow_run.id)  # a resumed run pauses this flow run, not the journal's run id
    while (remaining := limit - (time.perf_counter() - clock)) > 0:
        attempt += 1  # a new key per attempt: Prefect refuses a repeated one (409)
        key = pause_key(step.id, attempt)
        response = keyset_from_paused_state(Paused(pause_key=key))["response"]  # as Prefect's
        _tell(ctx, me, extra_key(response, "asks"), {"step": step.id, "confirm": _word(step)})
        ctx.log(f"{step.id}: waiting for approval, {remaining:.0f} s left")
        watchdog = _Watchdog(me, remaining)
        given = pause_flow_run(
            wait_for_input=form,
            timeout=round(remaining) + PAUSE_MARGIN_S,
            poll_interval=POLL_INTERVAL_S,
            key=key,
        )
        watchdog.cancel()
        if watchdog.fired.is_set() or given is None:
            break
        answer = approvals.arrived(approvals.Answer.model_validate(given.model_dump()))
        why = approvals.refusal(ctx, step, answer)
        verdict = extra_key(response, "verdict")
        if why is None:
            return _decided(ctx, step, answer, clock, tell=(me, verdict))
        approvals.refused(ctx, step, answer, why)
        again = limit - (time.perf_counter() - clock) > 0  # the loop's own condition
        _tell(ctx, me, verdict, {"accepted": False, "step": step.id, "why": why, "again": again})
    return approvals.decide(ctx, step, None, clock)


def _word(step: ApprovalStep) -> str:
    return step.approval.confirm or ""


def _decided(
    ctx: RunContext,
    step: ApprovalStep,
    answer: approvals.Answer,
    clock: float,
    *,
    tell: tuple[UUID, str],
) -> StepOutcome:
    """Record an accepted answer, then tell the approver: a rejection is accepted too (the
    step fails with it). A journal that could not record it tells nobody anything."""
    said = {"accepted": True, "step": step.id, "approved": answer.approved}
    try:
        outcome = approvals.decide(ctx, step, answer, clock)
    except StepError:
        _tell(ctx, *tell, said)
        raise
    _tell(ctx, *tell, said)
    return outcome


def _tell(ctx: RunContext, run: UUID, key: str, value: dict[str, Any]) -> None:
    """Write one of our inputs; the run goes on without it (the approver then reports that
    no verdict came, and the journal has the answer)."""
    try:
        with get_client(sync_client=True) as client:
            client.create_flow_run_input(run, key, json.dumps(value))
    except Exception as exc:
        ctx.log(f"could not write {key} for the approver: {type(exc).__name__}: {exc}")


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

    def __init__(self, run_id: UUID, seconds: float) -> None:
        self.run_id = run_id
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
