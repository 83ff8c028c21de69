"""Serving runbooks as Prefect deployments: one per runbook, each with its own form.

One flow function serves every runbook; each deployment fixes ``runbook_path`` (in its
``parameters``, not in its form) and carries its own ``parameter_openapi_schema``
(``lifeboat.serving``), so the Prefect UI shows each runbook's mode, reason, incident and
typed parameters. A drill that fails tells the runbook's on-call stakeholders
(``in_drills: true``) through Lifeboat's channels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.deployments.runner import RunnerDeployment
from prefect.runtime import deployment, flow_run
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType
from prefect.utilities.callables import ParameterSchema

from flows.run import FLOW_NAME, build_context, run_runbook
from lifeboat.errors import ParameterError
from lifeboat.notify import Receipt, receipts, summary
from lifeboat.outcome import RunOutcome
from lifeboat.runbook.model import NotifyStep, Stage
from lifeboat.serving import DeploymentSpec
from lifeboat.settings import Settings


@flow(name=FLOW_NAME, persist_result=False, log_prints=False, validate_parameters=True)
def run_served(
    runbook_path: str,
    *,
    mode: Literal["drill", "live"] = "drill",
    reason: str = "",
    incident: str = "",
    detected_at: datetime | None = None,
    params: dict[str, Any] | None = None,
) -> State[RunOutcome]:
    """A runbook's deployment: run it with the form's values; a failed drill alerts on-call."""
    _check_fixed(runbook_path)
    try:
        state = run_runbook.fn(
            runbook_path,
            mode=mode,
            reason=reason or ("scheduled drill" if mode == "drill" else ""),
            incident=incident,
            detected_at=detected_at,
            params=params or {},
            initiator=f"prefect deployment {deployment.name}",
        )
    except Exception as exc:
        if mode == "drill":
            alert_drill_failed(runbook_path, params or {}, None, f"{type(exc).__name__}: {exc}")
        raise
    outcome = state.data if isinstance(state.data, RunOutcome) else None
    if mode == "drill" and not state.is_completed():
        alert_drill_failed(runbook_path, params or {}, outcome, state.message or "failed")
    return state


def _check_fixed(runbook_path: str) -> None:
    """Refuse a runbook file other than the deployment's own. The form does not offer the
    field, but Prefect's API (and the UI's JSON view) accept parameters the form lacks."""
    if deployment.id is None:  # called as a plain flow, not from a deployment
        return
    with get_client(sync_client=True) as client:
        fixed = client.read_deployment(UUID(deployment.id)).parameters.get("runbook_path")
    if fixed is not None and runbook_path != fixed:
        raise ParameterError(f"deployment {deployment.name} runs {fixed} only, not {runbook_path}")


def alert_drill_failed(
    runbook_path: str, params: dict[str, Any], outcome: RunOutcome | None, why: str
) -> list[Receipt]:
    """Send ``incident.opened`` "drill failed at STEP" to the runbook's in-drill stakeholders.

    Never raises: a broken runbook or channel is logged, the run's own failure stands.
    """
    logger = get_run_logger()
    failed = outcome.failed_step if outcome else None
    reason = f"drill failed at {failed.step_id}" if failed else f"drill failed: {why}"
    try:
        ctx = build_context(
            runbook_path,
            "drill",
            params,
            run_id=str(flow_run.id),
            reason=reason,
            incident="",
            detected_at="",
            initiator="lifeboat serve",
            auto_approver=None,
            settings=Settings(),
        )
        for step in outcome.steps if outcome else []:
            ctx.outcomes[step.step_id] = step
        oncall = [n for n, s in ctx.runbook.stakeholders.items() if s.in_drills]
        if not oncall:
            logger.warning("%s; no stakeholder has in_drills: true, nobody told", reason)
            return []
        alert = NotifyStep.model_validate(
            {"id": "drill-failed", "notify": Stage("incident.opened"), "to": oncall}
        )
        done = receipts(ctx, alert)
    except Exception as exc:  # the alert must not hide the drill's own failure
        logger.error("%s; could not alert on-call: %s: %s", reason, type(exc).__name__, exc)
        return []
    logger.warning("%s; on-call alerted: %s", reason, ctx.redactor.text(summary(done)))
    return done


def to_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    """The Prefect deployment of one runbook, with its own form and drill schedule."""
    schedules = []
    if spec.cron:
        drill = {"mode": "drill", "reason": "scheduled drill"}
        if spec.drill_parameters:
            drill["params"] = spec.drill_parameters  # type: ignore[assignment]
        schedules.append(Cron(spec.cron, timezone=spec.timezone, parameters=drill))
    deployed = run_served.to_deployment(
        name=spec.name,
        version=spec.version,
        description=spec.description,
        tags=spec.tags,
        parameters={"runbook_path": spec.runbook_path},
        schedules=schedules,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    assert isinstance(deployed, RunnerDeployment)  # sync call: not a coroutine
    deployed._parameter_openapi_schema = ParameterSchema.model_validate(spec.parameter_schema)
    return deployed
