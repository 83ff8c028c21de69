"""``notify`` steps: a plain message to each named stakeholder's channels, through Apprise.

Drills must not page customers: in drill mode only stakeholders with ``in_drills: true``
receive the message, marked ``[DRILL]``; the others are recorded as not sent. Each channel's
delivery is recorded with its URL redacted. (The comms work replaces the plain text with
complete, multilingual updates.)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import apprise

from lifeboat import secrets
from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.runbook.model import NotifyStep


def message(ctx: RunContext, step: NotifyStep) -> tuple[str, str]:
    """(title, body) of a plain update, from the run so far."""
    drill = "[DRILL] " if ctx.mode == "drill" else ""
    title = f"{drill}{step.notify.value}: {ctx.runbook.title}"
    done = [o for o in ctx.outcomes.values() if o.status == StepStatus.succeeded]
    failed = [o for o in ctx.outcomes.values() if o.status == StepStatus.failed]
    lines = [
        f"Runbook {ctx.runbook.id} {ctx.runbook.version}, run {ctx.run_id} ({ctx.mode}).",
        f"Reason: {ctx.reason or '-'}. Incident: {ctx.incident or '-'}.",
        f"Steps done: {', '.join(o.step_id for o in done) or 'none yet'}.",
    ]
    if failed:
        lines.append("Failed: " + "; ".join(f"{o.step_id}: {o.error}" for o in failed))
    # A header value must stay on one line: no CR/LF smuggled in through a title.
    return " ".join(title.split()), "\n".join(lines)


def deliver(ctx: RunContext, step: NotifyStep) -> StepOutcome:
    started, clock = datetime.now(UTC), time.perf_counter()
    title, body = message(ctx, step)
    deliveries: list[dict[str, Any]] = []
    ctx.journal.append(
        "step.started",
        step_id=step.id,
        kind="notify",
        inputs={"stage": step.notify.value, "to": step.to, "title": title},
    )
    for name in step.to:
        stakeholder = ctx.runbook.stakeholders[name]
        for url in stakeholder.channels:
            shown = ctx.redactor.text(url)
            if ctx.mode == "drill" and not stakeholder.in_drills:
                deliveries.append(
                    {
                        "to": name,
                        "channel": shown,
                        "sent": False,
                        "why": "drill: stakeholder not in drills",
                    }
                )
                continue
            try:
                delivered = _send(secrets.resolve(url), title, body)
            except secrets.SecretMissing as exc:
                deliveries.append({"to": name, "channel": shown, "sent": False, "error": str(exc)})
                continue
            deliveries.append({"to": name, "channel": shown, "sent": delivered})
    elapsed = (time.perf_counter() - clock) * 1000
    failed = [d for d in deliveries if d["sent"] is False and "why" not in d]
    sent = sum(1 for d in deliveries if d["sent"] is True)
    summary = f"sent to {sent} of {len(deliveries)} channels"
    evidence = {"title": title, "deliveries": deliveries}
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
