"""Delivery end to end, against the real SMTP server and HTTP receiver of the sandbox: the
customers' French e-mail and on-call's English JSON update, receipts in the journal, retries
of a failing channel, ``required`` stakeholders, and channel secrets kept out of everything.

Runs go through the engine (``execute`` with the ``InlineExecutor``), as a run does without
Prefect; no mocks: a failing channel is a loopback port nobody listens on, or the
receiver's ``/status/503/`` path.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat import delivery
from lifeboat.comms import lint
from lifeboat.context import RunContext
from lifeboat.delivery import Job, Retry, kind, send
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import read, verify
from lifeboat.outcome import RunOutcome, StepOutcome
from lifeboat.runbook.model import Stage
from lifeboat.sandbox.receiver import Delivery, Receiver
from lifeboat.sandbox.smtp import SmtpServer
from lifeboat.settings import Settings
from tests.conftest import run_context
from tests.waiting import wait_until

# Apprise loads its e-mail plugin, which imports the stdlib ``imghdr`` (deprecated in 3.11),
# on first use: `-W error` on the command line overrides pyproject's ignore, a mark does not.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
    pytest.mark.usefixtures("lifeboat_home"),
]

RUNBOOK = """\
id: delivery-test
version: 1.0.0
title: Fail over the shop from Strasbourg
owner: sre@example.com
{objectives}
sites:
  sbg: {{provider: ovh, region: eu-west-3, datacenter: sbg-2}}
  fra: {{provider: aws, region: eu-central-1, datacenter: fra-b}}
hosts:
  web-a: {{site: sbg, address: web-a.sbg.example.net}}
  web-b: {{site: fra, address: 198.51.100.7}}
stakeholders:
{stakeholders}
support: {{email: support@example.com, phone: "+33 1 23 45 67 89", hours: "9:00-18:00 CET"}}
comms: {{service: la boutique en ligne}}
steps:
  - {{id: scope, check: wait, with: {{duration: 10ms}}}}
  - {{id: tell, notify: incident.opened, to: [{to}]}}
"""


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write(tmp_path: Path, stakeholders: dict[str, str], objectives: str = "") -> Path:
    """A runbook whose ``tell`` step notifies ``stakeholders`` (name -> YAML mapping)."""
    path = tmp_path / "delivery.yaml"
    lines = "\n".join(f"  {name}: {spec}" for name, spec in stakeholders.items())
    text = RUNBOOK.format(objectives=objectives, stakeholders=lines, to=", ".join(stakeholders))
    path.write_text(text, encoding="utf-8")
    return path


def run(
    path: Path, incident: str, settings: Settings | None = None
) -> tuple[RunContext, RunOutcome]:
    ctx = run_context(path, incident=incident, reason="panne du site principal", settings=settings)
    return ctx, execute(ctx, InlineExecutor(ctx))


def tell(outcome: RunOutcome) -> StepOutcome:
    return next(s for s in outcome.steps if s.step_id == "tell")


def receipts(outcome: RunOutcome) -> dict[str, dict[str, Any]]:
    return {r["stakeholder"]: r for r in tell(outcome).evidence["deliveries"]}


def posted(receiver: Receiver, path: str, count: int = 1) -> list[Delivery]:
    """The requests filed for ``path``, once at least ``count`` of them arrived."""

    def filed() -> list[Delivery] | None:
        found = [d for d in receiver.deliveries() if d.path == path]
        return found if len(found) >= count else None

    return wait_until(filed, f"{count} request(s) to {path} filed by the receiver")


def mail(smtp: SmtpServer, incident: str) -> Any:
    """The one message filed whose subject names ``incident``."""
    found = wait_until(
        lambda: [m for m in smtp.messages() if incident in str(m["Subject"])],
        f"a mail whose subject names {incident} filed by the SMTP server",
    )
    assert len(found) == 1, f"{len(found)} messages for {incident}"
    return found[0]


@pytest.mark.parametrize("rto", [True, False], ids=["eta", "no-eta"])
def test_customers_get_the_french_email_and_oncall_the_english_json(
    tmp_path: Path, smtp_server: SmtpServer, receiver: Receiver, rto: bool
) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    address = smtp_server.apprise_url(to="clients@example.com")
    hook = f"json://127.0.0.1:{receiver.port}/oncall-{incident}"
    path = write(
        tmp_path,
        {
            "customers": f"{{language: fr, audience: customers, channels: ['{address}']}}",
            "oncall": f"{{language: en, channels: ['{hook}']}}",
        },
        objectives="objectives: {rto: 30m}" if rto else "",
    )
    ctx, outcome = run(path, incident)
    sent_at = datetime.now(UTC)

    assert outcome.status == "succeeded", outcome.failed_step
    assert tell(outcome).summary == "sent to 2 of 2 channels"
    customers, oncall = receipts(outcome)["customers"], receipts(outcome)["oncall"]
    promised = customers["next_update"]  # the promise a failed run's closing message keeps
    assert {k: v for k, v in customers.items() if k not in ("next_update", "body")} == {
        "stakeholder": "customers",
        "kind": "mailto",
        "target": ctx.redactor.text(address),  # as the redactor shows it (see the report)
        "language": "fr",
        "audience": "customers",
        "subject": f"Interruption de service : la boutique en ligne ({incident})",
        "required": False,
        "status": "sent",
        "attempts": 1,
        "why": None,
    }
    assert (oncall["kind"], oncall["language"], oncall["audience"]) == ("json", "en", "internal")
    assert (oncall["status"], oncall["attempts"], oncall["target"]) == ("sent", 1, hook)

    # The e-mail, as the SMTP server filed it: French, plain text with its line breaks.
    message = mail(smtp_server, incident)
    assert message["Subject"] == customers["subject"]
    assert message["X-Sandbox-Envelope-To"] == "clients@example.com"
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    body = plain.get_content()
    assert body.startswith("Bonjour,\n\nDepuis ")
    assert customers["body"].strip() == body.strip()  # the journal keeps the text sent
    assert f"prochain point avant {promised}, plus tôt si la situation change" in body
    assert oncall["next_update"] == promised
    assert "la boutique en ligne ne fonctionne pas normalement (panne du site principal)" in body

    # Every part lint requires of an opened incident, found in what the customer received.
    text = f"{message['Subject']}\n{body}"
    if rto:
        found = re.search(r"Retour à la normale estimé : (.+) UTC \(notre objectif .* 30m\)", text)
        assert found is not None, text
        eta = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert timedelta(minutes=28) < eta - sent_at <= timedelta(minutes=30)
        has_eta = True
    else:
        has_eta = "Nous n'avons pas encore d'estimation du retour à la normale" in text
    parts = {
        "an ETA (or a plain statement that there is none yet)": has_eta,
        "a support contact": "Support : support@example.com, téléphone +33 1 23 45 67 89" in text,
        "an apology": "Nous vous présentons nos excuses pour la gêne occasionnée" in text,
    }
    assert set(parts) == set(lint.REQUIRED[Stage.incident_opened])
    assert all(parts.values()), parts

    # Nothing internal: no host, address, site, region, datacenter or provider, no step.
    assert lint.disclosed(text, lint.internal_names(ctx.runbook)) == []
    for internal in ("web-a", "sbg", "ovh", "eu-west-3", "198.51.100.7", "scope"):
        assert internal not in text.lower()

    # On-call's JSON update, in English and technical.
    (update,) = posted(receiver, f"/oncall-{incident}")
    assert (
        update.json["title"] == f"incident.opened: Fail over the shop from Strasbourg ({incident})"
    )
    assert update.json["title"] == oncall["subject"]
    assert "Cause: panne du site principal." in update.json["message"]
    assert "Steps done: scope." in update.json["message"]
    assert "Sorry for the page" in update.json["message"]
    assert "Bonjour" not in update.json["message"]

    # The receipts are in the journal, whose chain still verifies.
    journal = Path(outcome.journal)
    assert verify(journal).ok
    (entry,) = [e for e in read(journal) if e.event == "step.succeeded" and e.step_id == "tell"]
    assert entry.evidence == {"deliveries": [customers, oncall]}


def test_a_dead_channel_is_retried_and_recorded_while_the_others_are_delivered(
    tmp_path: Path, smtp_server: SmtpServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    port = closed_port()
    hook = f"/oncall-{incident}"
    path = write(
        tmp_path,
        {  # the dead channel first: the others must not wait for its retries
            "pager": f"{{channels: ['json://127.0.0.1:{port}/page']}}",
            "oncall": f"{{channels: ['json://127.0.0.1:{receiver.port}{hook}']}}",
            "customers": f"{{language: fr, audience: customers, channels: "
            f"['{smtp_server.apprise_url(to='clients@example.com')}']}}",
        },
    )
    # Which channel each try was for, in the order the tries started: whether on-call waited
    # for the dead channel is an order of events, not a duration a busy machine stretches.
    tries: list[str] = []
    try_once = delivery._try

    def recorded(job: Job) -> tuple[bool, bool, str | None]:
        tries.append(job.url)
        return try_once(job)

    monkeypatch.setattr(delivery, "_try", recorded)
    started = time.time()
    _, outcome = run(path, incident, Settings(notify_attempts=3, notify_backoff=0.4))
    waited = time.time() - started

    assert outcome.status == "succeeded"
    step = tell(outcome)
    assert step.status == "succeeded" and step.error is None
    assert step.summary == "sent to 2 of 3 channels; 1 failed (pager: json)"
    pager = receipts(outcome)["pager"]
    assert pager["target"] == f"json://127.0.0.1:{port}/page"
    assert (pager["kind"], pager["status"], pager["attempts"]) == ("json", "failed", 3)
    assert pager["why"] == "A Connection error occurred sending JSON notification to 127.0.0.1."
    # A lower bound: the backoff's own waits (0.4 s, then 0.8 s) are the thing under test.
    assert waited >= 0.4 + 0.8, "two waits between three tries"
    assert [receipts(outcome)[n]["status"] for n in ("oncall", "customers")] == ["sent", "sent"]
    assert len(posted(receiver, hook)) == 1
    dead = f"json://127.0.0.1:{port}/page"
    assert tries.count(dead) == 3 and len(tries) == 5, tries
    last_retry = len(tries) - 1 - tries[::-1].index(dead)
    # The others' one try each starts with the dead channel's first; its last retry comes
    # 1.2 s later. Waiting for the dead channel would put them after it.
    assert all(n < last_retry for n, url in enumerate(tries) if url != dead), (
        f"on-call or customers waited for the dead channel: tries in order {tries}"
    )
    assert mail(smtp_server, incident)["Subject"].startswith("Interruption de service")


def test_each_retry_reaches_the_channel_as_configured(tmp_path: Path, receiver: Receiver) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    hook = f"/status/503/{incident}"
    path = write(tmp_path, {"oncall": f"{{channels: ['json://127.0.0.1:{receiver.port}{hook}']}}"})
    _, outcome = run(path, incident, Settings(notify_attempts=4, notify_backoff=0.01))
    oncall = receipts(outcome)["oncall"]
    assert (oncall["status"], oncall["attempts"]) == ("failed", 4)
    assert (
        oncall["why"]
        == "Failed to send JSON POST notification: Servers are overloaded., error=503."
    )
    # The receiver files each request before answering it, and the run returned after the
    # channel's last try: what is filed now is every try there was.
    assert len(posted(receiver, hook, 4)) == 4, "no fifth try"


def test_a_required_stakeholder_whose_channel_fails_fails_the_step_naming_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    port = closed_port()
    hook = f"/oncall-{incident}"
    path = write(
        tmp_path,
        {
            "pager": f"{{channels: ['json://127.0.0.1:{port}/page'], required: true}}",
            "oncall": f"{{channels: ['json://127.0.0.1:{receiver.port}{hook}']}}",
        },
    )
    _, outcome = run(path, incident)
    assert outcome.status == "failed"
    step = tell(outcome)
    assert step.status == "failed"
    error = (
        f"required delivery failed: pager, json channel json://127.0.0.1:{port}/page, "
        "3 attempts: A Connection error occurred sending JSON notification to 127.0.0.1."
    )
    assert step.error == error
    assert receipts(outcome)["pager"]["required"] is True
    assert receipts(outcome)["oncall"]["status"] == "sent"
    # On-call got the opened incident, then the failed run's closing message (the run
    # returned after sending it: both are filed).
    opened, closing = posted(receiver, hook, 2)
    assert opened.json["title"].startswith("incident.opened: ")
    assert closing.json["title"].startswith("incident.failed: run failed at tell: ")
    ended = [e for e in read(Path(outcome.journal)) if e.event in {"step.failed", "run.ended"}]
    assert [(e.event, e.error) for e in ended] == [("step.failed", error), ("run.ended", error)]


def test_a_channel_token_appears_nowhere_in_journal_receipts_or_logs(
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    token = f"tok-{uuid.uuid4().hex}"
    audit = f"audit-{uuid.uuid4().hex}"
    monkeypatch.setenv("LIFEBOAT_SECRET_HOOK_TOKEN", token)
    monkeypatch.setenv("LIFEBOAT_SECRET_AUDIT_URL", f"json://127.0.0.1:{receiver.port}/{audit}")
    port = closed_port()
    secret = "${{ secrets.hook_token }}"
    path = write(
        tmp_path,
        {
            "oncall": f"{{channels: ['json://127.0.0.1:{receiver.port}/hooks/{secret}']}}",
            "audit": "{channels: ['${{ secrets.audit_url }}']}",
            "pager": f"{{channels: ['json://127.0.0.1:{port}/{secret}?token={secret}'], "
            "required: true}",
            "odd": f"{{channels: ['bogus://{secret}']}}",  # Apprise logs this URL in full
        },
    )
    caplog.set_level(logging.DEBUG, logger="apprise")  # Apprise's socket errors name the URL
    _, outcome = run(path, incident)

    # The secrets were used: the receiver saw them in the paths (the opened incident, then
    # the closing message of the run, which the required pager's failed delivery failed).
    assert len(posted(receiver, f"/hooks/{token}", 2)) == 2
    assert len(posted(receiver, f"/{audit}", 2)) == 2
    found = receipts(outcome)
    assert found["oncall"]["target"] == f"json://127.0.0.1:{receiver.port}/hooks/{secret}"
    assert (found["audit"]["target"], found["audit"]["kind"]) == (
        "${{ secrets.audit_url }}",
        "json",
    )
    assert [found[n]["status"] for n in ("oncall", "audit", "pager", "odd")] == [
        "sent",
        "sent",
        "failed",
        "failed",
    ]
    assert found["odd"]["why"].startswith("unusable channel URL: Unparseable URL bogus://")
    assert found["odd"]["attempts"] == 0
    assert "Connection refused" in caplog.text and "/***" in caplog.text  # redacted, not lost
    error = tell(outcome).error
    assert outcome.status == "failed" and error is not None
    assert error.startswith(
        f"required delivery failed: pager, json channel json://127.0.0.1:{port}/{secret}?token=***"
    )

    journal = Path(outcome.journal).read_text(encoding="utf-8")
    assert secret in journal and "/hooks/" in journal
    seen = {
        "journal": journal,
        "receipts": json.dumps(tell(outcome).evidence),
        "outcome": outcome.model_dump_json(),
        "logs": caplog.text,
    }
    for where, text in seen.items():
        assert token not in text, f"token in {where}"
        assert audit not in text, f"secret URL in {where}"


def test_concurrent_channels_keep_their_own_reasons(tmp_path: Path, receiver: Receiver) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    port = closed_port()
    path = write(
        tmp_path,
        {
            "pager": f"{{channels: ['json://127.0.0.1:{port}/page']}}",
            "oncall": f"{{channels: ['json://127.0.0.1:{receiver.port}/status/503/{incident}']}}",
        },
    )
    _, outcome = run(path, incident, Settings(notify_attempts=2, notify_backoff=0.01))
    found = receipts(outcome)
    assert (
        found["pager"]["why"]
        == "A Connection error occurred sending JSON notification to 127.0.0.1."
    )
    assert (
        found["oncall"]["why"]
        == "Failed to send JSON POST notification: Servers are overloaded., error=503."
    )
    assert tell(outcome).summary == "sent to 0 of 2 channels; 2 failed (pager: json, oncall: json)"


def test_the_default_policy_waits_half_a_second_then_one() -> None:
    waits: list[float] = []
    job = Job(f"json://127.0.0.1:{closed_port()}/x", "subject", "body")
    sent = send(job, Retry(), sleep=waits.append)
    assert (sent.ok, sent.attempts, waits) == (False, 3, [0.5, 1.0])
    assert Settings().notify_attempts == 3 and Settings().notify_backoff == 0.5


def test_kind_is_the_url_scheme() -> None:
    assert [kind(u) for u in ("MailTo://a", "msteams://t/x", "json://h", "${{ secrets.x }}")] == [
        "mailto",
        "msteams",
        "json",
        "unknown",
    ]
