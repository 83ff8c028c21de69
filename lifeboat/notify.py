"""``notify`` steps: a complete update to each named stakeholder's channels, through Apprise.

Each stakeholder reads the stage's message in their language, worded for their audience
(``lifeboat.comms``: customers get plain words, internal readers the technical details).
Drills must not page customers: in drill mode only stakeholders with ``in_drills: true``
receive the message, marked ``[DRILL]``; the others are recorded as skipped.

Every channel gets a receipt in the step's evidence (so in the journal): the stakeholder,
the channel's kind and redacted URL, language, audience, subject and body (the journal
redacts both like every evidence), its status (``sent``, ``failed`` or ``skipped``), the
tries it took and why it failed. Channels are sent at the
same time and each is retried (``lifeboat.delivery``). A failed channel does not fail the
step unless its stakeholder is ``required``: the summary says which ones failed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from lifeboat import secrets
from lifeboat.comms import statuspage
from lifeboat.comms.message import Message, from_run
from lifeboat.comms.render import CommsError, Rendered, override_path, render
from lifeboat.context import RunContext
from lifeboat.delivery import Job, Retry, kind, send_all
from lifeboat.errors import StepError
from lifeboat.outcome import StepOutcome, StepStatus
from lifeboat.runbook.model import NotifyStep, StatusPage


class Receipt(BaseModel):
    """One channel's delivery, as journaled: who, where (redacted), how it went."""

    stakeholder: str
    kind: str = Field(description="The channel's URL scheme (mailto, json, ...), or statuspage")
    target: str = Field(description="The channel's URL, redacted; the page's folder or s3 URI")
    language: str
    audience: str
    subject: str | None = None
    body: str | None = Field(None, description="The text sent (redacted when journaled)")
    required: bool = False
    status: Literal["sent", "failed", "skipped"] = "failed"
    attempts: int = 0
    why: str | None = None
    next_update: str | None = Field(
        None, description="The next update's time this message promised, when it names one"
    )


def messages(
    ctx: RunContext, step: NotifyStep, message: Message | None = None
) -> dict[tuple[str, str], Rendered | CommsError]:
    """The rendered message per (language, audience) among the step's stakeholders, and
    the status page's (its language, customers) when the step updates the page."""
    message = message or from_run(ctx, step)
    rendered: dict[tuple[str, str], Rendered | CommsError] = {}
    keys = keys_of(ctx, step)
    try:
        override = override_path(ctx.runbook, ctx.loaded.path, step.notify)
    except CommsError as exc:  # a template that leads out of the runbook's folder
        return dict.fromkeys(keys, exc)
    for key in keys:
        if key not in rendered:
            try:
                rendered[key] = render(message, *key, override=override)
            except CommsError as exc:
                rendered[key] = exc
    return rendered


def keys_of(ctx: RunContext, step: NotifyStep) -> list[tuple[str, str]]:
    """The (language, audience) pairs the step's messages are rendered for."""
    readers = [ctx.runbook.stakeholders[name] for name in step.to]
    keys: list[tuple[str, str]] = [(s.language, s.audience) for s in readers]
    if page := _page(ctx, step):
        keys.append((page.language, "customers"))
    return keys


def receipts(
    ctx: RunContext,
    step: NotifyStep,
    *,
    message: Message | None = None,
    rendered: dict[tuple[str, str], Rendered | CommsError] | None = None,
) -> list[Receipt]:
    """Send the step's message to every channel of its stakeholders; one receipt each.

    ``message`` and ``rendered`` replace what the run's state gives (a failed run's closing
    message, ``lifeboat.failure_notice``)."""
    message = message or from_run(ctx, step)
    if rendered is None:
        rendered = messages(ctx, step, message)
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
            receipt = Receipt(
                stakeholder=name,
                kind=kind(url),
                target=ctx.redactor.text(url),
                language=stakeholder.language,
                audience=stakeholder.audience,
                subject=msg.subject if isinstance(msg, Rendered) else None,
                body=msg.body if isinstance(msg, Rendered) else None,
                required=stakeholder.required,
            )
            done.append(receipt)
            if ctx.mode == "drill" and not stakeholder.in_drills:
                receipt.status, receipt.why = "skipped", "drill: stakeholder not in drills"
                continue
            if isinstance(msg, CommsError):
                receipt.why = ctx.redactor.text(str(msg))
                continue
            if message.next_update in msg.text:  # a promise this reader will hold us to
                receipt.next_update = message.next_update
            try:
                resolved = secrets.resolve(url)
            except secrets.SecretMissing as exc:
                receipt.why = str(exc)
                continue
            receipt.kind = ctx.redactor.text(kind(resolved))
            jobs.append(Job(resolved, msg.subject, msg.body))
            waiting.append(receipt)
    retry = Retry(ctx.settings.notify_attempts, ctx.settings.notify_backoff)
    for receipt, sent in zip(waiting, send_all(jobs, retry, ctx.redactor.text), strict=True):
        receipt.why = ctx.redactor.text(sent.why) if sent.why else None
        receipt.status, receipt.attempts = ("sent" if sent.ok else "failed"), sent.attempts
    if page := status_page(ctx, step, rendered):
        done.append(page)
    return done


def _page(ctx: RunContext, step: NotifyStep) -> StatusPage | None:
    """The runbook's status page when this step updates it: the page is one more customer
    channel, so only a step that tells customers does (an internal-only update or a
    provider escalation stays off the public page)."""
    page = statuspage.configured(ctx.runbook.comms)
    audiences = {ctx.runbook.stakeholders[name].audience for name in step.to}
    return page if page is not None and "customers" in audiences else None


def status_page(
    ctx: RunContext, step: NotifyStep, rendered: dict[tuple[str, str], Rendered | CommsError]
) -> Receipt | None:
    """Publish the step's customer message (from ``rendered``, see ``messages``) on the
    runbook's status page, in the page's language; drills are skipped by ``publish``."""
    page = _page(ctx, step)
    if page is None:
        return None
    receipt = Receipt(
        stakeholder="status page",
        kind="statuspage",
        target=page.path or page.uri or "",
        language=page.language,
        audience="customers",
    )
    msg = rendered[(page.language, "customers")]
    if isinstance(msg, CommsError):
        receipt.why = ctx.redactor.text(str(msg))
        return receipt
    update = statuspage.PageUpdate(
        incident=ctx.incident or ctx.run_id,
        stage=step.notify,
        title=msg.subject,
        body=msg.body,
        time=datetime.now(UTC),
        services=page.services,
        drill=ctx.mode == "drill",
    )
    published = statuspage.publish(page, Path(ctx.loaded.path).parent, update)
    receipt.subject, receipt.target = msg.subject, published.destination
    receipt.body = msg.body
    receipt.attempts = 0 if published.skipped else 1
    if published.skipped:
        receipt.status, receipt.why = "skipped", published.skipped
    elif published.ok:
        receipt.status = "sent"
    else:
        receipt.why = ctx.redactor.text(published.error or "failed")
    return receipt


def summary(done: list[Receipt]) -> str:
    """``sent to 2 of 3 channels; 1 failed (oncall: json)``."""
    sent = sum(1 for r in done if r.status == "sent")
    text = f"sent to {sent} of {len(done)} channels"
    failed = [r for r in done if r.status == "failed"]
    if failed:
        names = ", ".join(f"{r.stakeholder}: {r.kind}" for r in failed)
        text += f"; {len(failed)} failed ({names})"
    return text


def describe(receipt: Receipt) -> str:
    """A failed delivery in one line: who, which channel, how many tries, why.

    ``oncall, json channel json://hooks.example.com/x, 3 attempts: <why>``
    """
    tries = receipt.attempts
    channel = f"channel {receipt.target}"
    if receipt.kind != "unknown":
        channel = f"{receipt.kind} {channel}"
    done = f"{tries} attempt{'s' if tries != 1 else ''}" if tries else "not sent"
    return f"{receipt.stakeholder}, {channel}, {done}: {receipt.why}"


def deliver(ctx: RunContext, step: NotifyStep) -> StepOutcome:
    started, clock = datetime.now(UTC), time.perf_counter()
    ctx.journal.append(
        "step.started",
        step_id=step.id,
        kind="notify",
        inputs={"stage": step.notify.value, "to": step.to},
    )
    done = receipts(ctx, step)
    if ctx.cadence is not None:
        ctx.cadence.sent(step)
    outcome = StepOutcome(
        step_id=step.id,
        kind="notify",
        target=step.notify.value,
        status=StepStatus.succeeded,
        summary=summary(done),
        evidence={"deliveries": [r.model_dump() for r in done]},
        started=started,
        duration_ms=(time.perf_counter() - clock) * 1000,
        attempts=1,
    )
    failed = [r for r in done if r.status == "failed" and r.required]
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


def automatic_update(ctx: RunContext, step: NotifyStep) -> None:
    """An update the cadence sends on its own (``lifeboat.cadence``): journaled as
    ``update.sent``, outside the plan's steps; a failure is recorded, never raised."""
    try:
        done = receipts(ctx, step)
    except Exception as exc:  # the timer thread must survive a broken message or channel
        error = f"automatic update failed: {type(exc).__name__}: {exc}"
        ctx.journal.append("update.sent", step_id=step.id, kind="notify", error=error)
        ctx.log(ctx.redactor.text(error))
        return
    said = summary(done)
    ctx.journal.append(
        "update.sent",
        step_id=step.id,
        kind="notify",
        inputs={"stage": step.notify.value, "to": step.to},
        summary=f"automatic {step.notify.value}: {said}",
        evidence={"deliveries": [r.model_dump() for r in done]},
    )
    ctx.log(f"{step.id}: automatic {step.notify.value} ({said})")
