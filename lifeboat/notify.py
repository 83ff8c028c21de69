"""``notify`` steps: a complete update to each named stakeholder's channels, through Apprise.

Each stakeholder reads the stage's message in their language, worded for their audience
(``lifeboat.comms``: customers get plain words, internal readers the technical details).
Drills must not page customers: in drill mode only stakeholders with ``in_drills: true``
receive the message, marked ``[DRILL]``; the others are recorded as skipped.

Every channel gets a receipt in the step's evidence (so in the journal): the stakeholder,
the channel's kind and redacted URL, language, audience, subject, its status (``sent``,
``failed`` or ``skipped``), the tries it took and why it failed. Channels are sent at the
same time and each is retried (``lifeboat.delivery``). A failed channel does not fail the
step unless its stakeholder is ``required``: the summary says which ones failed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from lifeboat import secrets
from lifeboat.comms.message import from_run
from lifeboat.comms.render import CommsError, Rendered, override_path, render
from lifeboat.context import RunContext
from lifeboat.delivery import Job, Retry, kind, send_all
from lifeboat.errors import StepError
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.runbook.model import NotifyStep

Receipt = dict[str, Any]


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


def receipts(ctx: RunContext, step: NotifyStep) -> list[Receipt]:
    """Send the step's message to every channel of its stakeholders; one receipt each."""
    rendered = messages(ctx, step)
    for value in secrets.values():  # set after the run started: still never written
        ctx.redactor.add(value)
        # A whole channel URL as a secret: Apprise logs it as http(s)://<the rest>.
        ctx.redactor.add(value.partition("://")[2])
    done: list[Receipt] = []
    jobs: list[Job] = []
    waiting: list[Receipt] = []  # the receipts of ``jobs``, in the same order
    for name in step.to:
        stakeholder = ctx.runbook.stakeholders[name]
        msg = rendered[(stakeholder.language, stakeholder.audience)]
        for url in stakeholder.channels:
            receipt: Receipt = {
                "stakeholder": name,
                "kind": kind(url),
                "target": ctx.redactor.text(url),
                "language": stakeholder.language,
                "audience": stakeholder.audience,
                "subject": msg.subject if isinstance(msg, Rendered) else None,
                "required": stakeholder.required,
                "status": "failed",
                "attempts": 0,
                "why": None,
            }
            done.append(receipt)
            if ctx.mode == "drill" and not stakeholder.in_drills:
                receipt.update(status="skipped", why="drill: stakeholder not in drills")
                continue
            if isinstance(msg, CommsError):
                receipt["why"] = ctx.redactor.text(str(msg))
                continue
            try:
                resolved = secrets.resolve(url)
            except secrets.SecretMissing as exc:
                receipt["why"] = str(exc)
                continue
            receipt["kind"] = ctx.redactor.text(kind(resolved))
            jobs.append(Job(resolved, msg.subject, msg.body))
            waiting.append(receipt)
    retry = Retry(ctx.settings.notify_attempts, ctx.settings.notify_backoff)
    for receipt, sent in zip(waiting, send_all(jobs, retry, ctx.redactor.text), strict=True):
        why = ctx.redactor.text(sent.why) if sent.why else None
        receipt.update(status="sent" if sent.ok else "failed", attempts=sent.attempts, why=why)
    return done


def summary(done: list[Receipt]) -> str:
    """``sent to 2 of 3 channels; 1 failed (oncall: json)``."""
    sent = sum(1 for r in done if r["status"] == "sent")
    text = f"sent to {sent} of {len(done)} channels"
    failed = [r for r in done if r["status"] == "failed"]
    if failed:
        names = ", ".join(f"{r['stakeholder']}: {r['kind']}" for r in failed)
        text += f"; {len(failed)} failed ({names})"
    return text


def describe(receipt: Receipt) -> str:
    """A failed delivery in one line: who, which channel, how many tries, why.

    ``oncall, json channel json://hooks.example.com/x, 3 attempts: <why>``
    """
    tries = receipt["attempts"]
    channel = f"channel {receipt['target']}"
    if receipt["kind"] != "unknown":
        channel = f"{receipt['kind']} {channel}"
    done = f"{tries} attempt{'s' if tries != 1 else ''}" if tries else "not sent"
    return f"{receipt['stakeholder']}, {channel}, {done}: {receipt['why']}"


def deliver(ctx: RunContext, step: NotifyStep) -> StepOutcome:
    started, clock = datetime.now(UTC), time.perf_counter()
    ctx.journal.append(
        "step.started",
        step_id=step.id,
        kind="notify",
        inputs={"stage": step.notify.value, "to": step.to},
    )
    done = receipts(ctx, step)
    outcome = StepOutcome(
        step_id=step.id,
        kind="notify",
        target=step.notify.value,
        status=StepStatus.succeeded,
        summary=summary(done),
        evidence={"deliveries": done},
        started=started,
        duration_ms=(time.perf_counter() - clock) * 1000,
        attempts=1,
    )
    failed = [r for r in done if r["status"] == "failed" and r["required"]]
    if not failed:
        return ctx.finish("step.succeeded", outcome)
    error = "required delivery failed: " + "; ".join(describe(r) for r in failed)
    ctx.finish(
        "step.failed",
        outcome.model_copy(
            update={
                "status": StepStatus.failed,
                "error": error,
                "tolerated": step.on_failure == "continue",
            }
        ),
    )
    raise StepError(ctx.redactor.text(error))
