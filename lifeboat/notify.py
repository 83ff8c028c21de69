"""``notify`` steps: a complete update to each named stakeholder's channels, through Apprise.

Each stakeholder reads the stage's message in their language, worded for their audience
(``lifeboat.comms``: customers get plain words, internal readers the technical details).
Drills must not page customers: in drill mode only stakeholders with ``in_drills: true``
receive the message, marked ``[DRILL]``; the others are recorded as not sent. Each channel's
delivery is recorded with its URL redacted, the language, audience and subject.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import apprise

from lifeboat import secrets
from lifeboat.comms.message import from_run
from lifeboat.comms.render import CommsError, Rendered, override_path, render
from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.runbook.model import NotifyStep


def messages(ctx: RunContext, step: NotifyStep) -> dict[tuple[str, str], Rendered | CommsError]:
    """The rendered message per (language, audience) among the step's stakeholders."""
    message = from_run(ctx, step)
    override = override_path(ctx.runbook, ctx.loaded.path, step.notify)
    rendered: dict[tuple[str, str], Rendered | CommsError] = {}
    for name in step.to:
        stakeholder = ctx.runbook.stakeholders[name]
        key = (stakeholder.language, stakeholder.audience)
        if key not in rendered:
            try:
                rendered[key] = render(message, *key, override=override)
            except CommsError as exc:
                rendered[key] = exc
    return rendered


def deliver(ctx: RunContext, step: NotifyStep) -> StepOutcome:
    started, clock = datetime.now(UTC), time.perf_counter()
    ctx.journal.append(
        "step.started",
        step_id=step.id,
        kind="notify",
        inputs={"stage": step.notify.value, "to": step.to},
    )
    rendered = messages(ctx, step)
    deliveries: list[dict[str, Any]] = []
    for name in step.to:
        stakeholder = ctx.runbook.stakeholders[name]
        msg = rendered[(stakeholder.language, stakeholder.audience)]
        for url in stakeholder.channels:
            record: dict[str, Any] = {
                "to": name,
                "channel": ctx.redactor.text(url),
                "language": stakeholder.language,
                "audience": stakeholder.audience,
            }
            if isinstance(msg, Rendered):
                record["subject"] = msg.subject
            if ctx.mode == "drill" and not stakeholder.in_drills:
                deliveries.append(
                    {**record, "sent": False, "why": "drill: stakeholder not in drills"}
                )
                continue
            if isinstance(msg, CommsError):
                deliveries.append({**record, "sent": False, "error": str(msg)})
                continue
            try:
                delivered = _send(secrets.resolve(url), msg.subject, msg.body)
            except secrets.SecretMissing as exc:
                deliveries.append({**record, "sent": False, "error": str(exc)})
                continue
            deliveries.append({**record, "sent": delivered})
    elapsed = (time.perf_counter() - clock) * 1000
    failed = [d for d in deliveries if d["sent"] is False and "why" not in d]
    sent = sum(1 for d in deliveries if d["sent"] is True)
    summary = f"sent to {sent} of {len(deliveries)} channels"
    evidence = {"deliveries": deliveries}
    outcome = StepOutcome(
        step_id=step.id,
        kind="notify",
        target=step.notify.value,
        status=StepStatus.succeeded,
        summary=summary,
        evidence=evidence,
        started=started,
        duration_ms=elapsed,
        attempts=1,
    )
    if failed:
        error = "delivery failed to " + ", ".join(
            f"{d['to']} ({d['channel']}{': ' + d['error'] if 'error' in d else ''})" for d in failed
        )
        ctx.finish(
            "step.failed",
            outcome.model_copy(
                update={
                    "status": StepStatus.failed,
                    "summary": "",
                    "error": error,
                    "tolerated": step.on_failure == "continue",
                }
            ),
        )
        raise StepError(error)
    return ctx.finish("step.succeeded", outcome)


def _send(url: str, title: str, body: str) -> bool:
    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(sender.notify(title=title, body=body))
