"""A failed live run tells the people it told, as Prefect runs it (``lifeboat.failure_notice``).

The shipped failover on the sandbox (tests/flows/test_failover.py's world), failing after
the switch: the customers' French e-mail through the SMTP server, on-call's English webhook
through the receiver and the public status page, each with the closing message, journaled
with receipts. Then a run refused at its approval gate in the Prefect UI's place.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from flows.run import run_sync
from lifeboat.comms import lint
from lifeboat.journal import read, verify
from lifeboat.outcome import RunOutcome
from lifeboat.runbook import load
from lifeboat.sandbox import Sandbox
from lifeboat.sandbox.ports import free_port
from lifeboat.sandbox.receiver import Delivery, Receiver
from lifeboat.sandbox.smtp import SmtpServer
from tests.conftest import run_lifeboat
from tests.flows.test_failover import RUNBOOK, params, world
from tests.flows.test_run import Approver
from tests.waiting import wait_until

__all__ = ["world"]  # the fixture, imported to be used here
# Apprise loads its e-mail plugin, which imports the stdlib ``imghdr`` (deprecated in 3.11).
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def mails(smtp: SmtpServer, incident: str, count: int) -> list[EmailMessage]:
    def filed() -> list[EmailMessage] | None:
        found = [m for m in smtp.messages() if incident in str(m["Subject"])]
        return found if len(found) >= count else None

    return wait_until(filed, f"{count} mail(s) naming {incident}")


def hooks(receiver: Receiver, incident: str, count: int) -> list[Delivery]:
    def filed() -> list[Delivery] | None:
        found = [d for d in receiver.deliveries() if incident in d.body]
        return found if len(found) >= count else None

    return wait_until(filed, f"{count} webhook(s) naming {incident}")


@pytest.fixture
def page_kept(sandbox: Sandbox) -> Iterator[None]:
    """The session's public status page as this test found it, afterwards: the failed run
    leaves its incident open (a major outage), which other tests' pages must not show."""
    s3 = sandbox.s3.client("s3")
    bucket = "status-example"
    before: dict[str, tuple[bytes, str]] = {}
    found = s3.list_objects_v2(Bucket=bucket) if _exists(s3, bucket) else {}
    for item in found.get("Contents", []):
        got = s3.get_object(Bucket=bucket, Key=item["Key"])
        before[item["Key"]] = (got["Body"].read(), got["ContentType"])
    yield
    if not _exists(s3, bucket):
        return
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        if item["Key"] not in before:
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    for key, (body, kind) in before.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind)


def _exists(s3: Any, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in s3.list_buckets().get("Buckets", []))


def text_of(mail: EmailMessage) -> str:
    plain = mail.get_body(preferencelist=("plain",))
    assert plain is not None
    return str(plain.get_content())


def test_a_failed_failover_tells_customers_and_oncall_how_it_ended(
    page_kept: None, world: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path
) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    dead_entry = f"http://127.0.0.1:{free_port()}"  # www never answers: validate fails
    result = run_lifeboat(
        world, "run", RUNBOOK, "--mode", "live", "--yes", "--incident", incident,
        *params(world, dead_entry), cwd=repo,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    (journal,) = Path(world["LIFEBOAT_HOME"], "runs").glob("*/journal.jsonl")
    run_id = journal.parent.name

    # Customers, in French: the incident goes on, what it means, the next update in time.
    opened, closing = mails(sandbox.smtp, incident, 2)
    assert closing["X-Sandbox-Envelope-To"] == "customers@example.com"
    assert (
        closing["Subject"]
        == f"Point sur l'interruption de la boutique en ligne Example ({incident})"
    )
    text = text_of(closing)
    assert "L'interruption de la boutique en ligne Example n'est pas terminée" in text
    assert (
        "Ce que cela signifie pour vous : vous ne pouvez ni vous connecter ni passer commande"
        in text
    )
    assert "vous pouvez passer commande par téléphone auprès de notre support" in text

    def promise(mail: EmailMessage) -> datetime:
        found = text_of(mail).split("prochain point avant ", 1)[1].split(",", 1)[0]
        return datetime.strptime(found, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)

    assert promise(closing) <= promise(opened)
    runbook = load(repo / RUNBOOK).runbook
    assert lint.disclosed(f"{closing['Subject']}\n{text}", lint.internal_names(runbook)) == []

    # On-call, in English: what failed, each rollback and how it ended, review, resume.
    _, update = hooks(sandbox.receiver, incident, 2)
    assert update.json["title"].startswith("incident.failed: run failed at validate: ")
    message = update.json["message"]
    assert f"The live run {run_id} stopped at " in message
    assert ": step validate failed (" in message
    assert (
        "Rolled back, latest change first:\n  - switch: undone\n  - start-standby: undone\n"
        "  - restore: undone\n  - fence-primary: undone\n"
    ) in message
    assert f"Review: {journal.parent / 'review.md'} (or: lifeboat report {run_id})." in message
    assert f"lifeboat run --resume {run_id} {(repo / RUNBOOK).resolve()}\n" in message
    assert (journal.parent / "review.md").is_file(), "the review is where the message says"

    # The public page shows the incident still open, in the customers' words.
    raw = sandbox.s3.client("s3").get_object(Bucket="status-example", Key="feed.json")["Body"]
    page = json.loads(raw.read())["_lifeboat"]
    (shown,) = [i for i in page["incidents"] if i["id"] == incident]
    assert [u["stage"] for u in shown["updates"]] == ["incident.opened", "incident.failed"]
    assert page["status"] == "major_outage"

    # Journaled with a receipt per channel, after the rollbacks, before the run's end.
    assert verify(journal).ok
    entries = read(journal)
    (notice,) = [e for e in entries if e.event == "update.sent" and e.step_id == "failure-notice"]
    assert entries.index(notice) == len(entries) - 2 and entries[-1].event == "run.ended"
    receipts = {d["stakeholder"]: d for d in notice.evidence["deliveries"]}
    assert {n: r["status"] for n, r in receipts.items()} == {
        "customers": "sent",
        "oncall": "sent",
        "status page": "sent",
    }
    assert receipts["customers"]["subject"] == closing["Subject"]
    assert receipts["oncall"]["language"] == "en" and receipts["customers"]["language"] == "fr"
    assert "${{ secrets.oncall_webhook }}" in receipts["oncall"]["target"]
    assert sandbox.hook_token not in journal.read_text(encoding="utf-8")


@pytest.mark.usefixtures("prefect_server", "lifeboat_home")
def test_a_run_refused_at_its_gate_tells_those_already_told(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    incident = f"INC-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "refused.yaml"
    path.write_text(
        "id: refused\nversion: 1.0.0\ntitle: Fail over the shop\nowner: sre@example.com\n"
        "stakeholders:\n"
        f"  oncall: {{channels: ['json://127.0.0.1:{receiver.port}/refused-{incident}']}}\n"
        "  customers: {language: nl, audience: customers, channels: "
        f"['{smtp_server.apprise_url(to='klanten@example.com')}']}}\n"
        "support: {email: support@example.com}\n"
        "steps:\n"
        "  - {id: tell, notify: incident.opened, to: [oncall, customers]}\n"
        "  - {id: go, title: A person decides, approval: {prompt: 'Fail over?', timeout: 60s}}\n"
        "  - {id: after, check: wait, with: {duration: 10ms}}\n",
        encoding="utf-8",
    )
    approver = Approver(str(path), {"approved": False, "approver": "carol", "comment": "not now"})
    state = run_sync(str(path), mode="live", incident=incident)
    approver.answered()
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, RunOutcome) and state.is_failed()

    _, update = hooks(receiver, incident, 2)
    assert update.path == f"/refused-{incident}"
    assert (
        update.json["title"]
        == f"incident.failed: approval go refused: Fail over the shop ({incident})"
    )
    assert (
        ": approval go was refused (A person decides).\nError: rejected by carol: not now"
        in (update.json["message"])
    )
    _, closing = mails(smtp_server, incident, 2)
    assert closing["Subject"] == f"Update over de storing van onze dienst ({incident})"
    assert "De storing van onze dienst is nog niet voorbij" in text_of(closing)
    (notice,) = [e for e in read(Path(outcome.journal)) if e.event == "update.sent"]
    assert {d["stakeholder"]: d["status"] for d in notice.evidence["deliveries"]} == {
        "oncall": "sent",
        "customers": "sent",
    }
