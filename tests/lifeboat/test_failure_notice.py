"""A failed run's closing message (``incident.failed``), end to end through the engine.

Runs go through ``execute`` with the ``InlineExecutor`` against the sandbox's real SMTP
server, HTTP receiver, moto's Route 53 (a real action with a real rollback) and a loopback
HTTP server answering 503 (the check that fails). No mocks: what the stakeholders read is
what the SMTP server and the receiver filed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from lifeboat import dns, failure_notice
from lifeboat.comms import lint
from lifeboat.context import RunContext, identity
from lifeboat.engine import InlineExecutor, execute
from lifeboat.failure_notice import next_update
from lifeboat.journal import Entry, Journal, read, verify
from lifeboat.outcome import RunOutcome
from lifeboat.plan import Mode
from lifeboat.resume import load_prior
from lifeboat.runbook import load
from lifeboat.sandbox.receiver import Delivery, Receiver
from lifeboat.sandbox.s3 import MotoServer
from lifeboat.sandbox.smtp import SmtpServer
from tests.conftest import run_context
from tests.waiting import wait_until

# Apprise loads its e-mail plugin, which imports the stdlib ``imghdr`` (deprecated in 3.11),
# on first use: `-W error` on the command line overrides pyproject's ignore, a mark does not.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
    pytest.mark.usefixtures("lifeboat_home"),
]

HEAD = """\
id: failure-notice-test
version: 1.0.0
title: Fail over the shop from Strasbourg
owner: sre@example.com
objectives: {{rto: 30m, rpo: 24h}}
sites:
  sbg: {{provider: ovh, region: eu-west-3, datacenter: sbg-2}}
  fra: {{provider: aws, region: eu-central-1, datacenter: fra-b}}
hosts:
  web-a: {{site: sbg, address: 203.0.113.5}}
  web-b: {{site: fra, address: 198.51.100.7}}
stakeholders:
  customers: {{language: fr, audience: customers, channels: ['{mail}'], in_drills: true}}
  oncall: {{language: en, channels: [{oncall}], in_drills: true}}
  wacht: {{language: nl, channels: ['{hooks}/wacht-{incident}'], in_drills: true}}
  board: {{language: en, channels: ['{hooks}/board-{incident}'], in_drills: true}}
support: {{email: support@example.com, phone: "+33 1 23 45 67 89"}}
comms:
  service: la boutique en ligne
  affected: vous ne pouvez pas passer commande
  updates_every: 30m
{comms}steps:
"""
TELL = "  - {id: tell, notify: incident.opened, to: [customers, oncall, wacht]}\n"
VALIDATE = "  - {id: validate, title: www answers, check: http.status, with: {url: '%s'}}\n"
RESOLVED = "  - {id: resolved, notify: incident.resolved, to: [customers, oncall, wacht, board]}\n"
SWITCH = (
    "  - id: switch\n"
    "    title: Point www at the standby\n"
    "    action: dns.switch\n"
    "    with: {zone: %(zone)s, record: www, to: web-b, wait: false}\n"
    "    rollback: {action: dns.switch, with: {zone: %(zone)s, record: www, to: web-a, "
    "wait: false}}\n"
)


class World:
    """The real services one test talks to, and a runbook writer aimed at them."""

    def __init__(
        self, tmp_path: Path, smtp: SmtpServer, receiver: Receiver, http_server: str
    ) -> None:
        self.tmp_path, self.smtp, self.receiver = tmp_path, smtp, receiver
        self.incident = f"INC-{uuid.uuid4().hex[:8]}"
        self.hooks = f"json://127.0.0.1:{receiver.port}"
        self.broken = f"{http_server}/status/503"  # what the failing check GETs

    def write(self, steps: str, *, comms: str = "", oncall: list[str] | None = None) -> Path:
        channels = oncall or [f"{self.hooks}/oncall-{self.incident}"]
        path = self.tmp_path / "failure.yaml"
        head = HEAD.format(
            mail=self.smtp.apprise_url(to="clients@example.com"),
            hooks=self.hooks,
            oncall=", ".join(f"'{c}'" for c in channels),
            incident=self.incident,
            comms=comms,
        )
        path.write_text(head + steps, encoding="utf-8")
        return path

    def run(self, path: Path, mode: Mode = "live") -> tuple[RunContext, RunOutcome]:
        ctx = run_context(path, mode, incident=self.incident)
        return ctx, execute(ctx, InlineExecutor(ctx))

    def posts(self, who: str, count: int = 0) -> list[Delivery]:
        """The receiver's requests for ``who`` (at least ``count`` of them)."""
        path = f"/{who}-{self.incident}"

        def filed() -> list[Delivery] | None:
            found = [d for d in self.receiver.deliveries() if d.path == path]
            return found if len(found) >= count else None

        return wait_until(filed, f"{count} request(s) to {path}") if count else filed() or []

    def mails(self, count: int) -> list[EmailMessage]:
        def filed() -> list[EmailMessage] | None:
            found = [m for m in self.smtp.messages() if self.incident in str(m["Subject"])]
            return found if len(found) >= count else None

        return wait_until(filed, f"{count} mail(s) naming {self.incident}")


@pytest.fixture
def world(tmp_path: Path, smtp_server: SmtpServer, receiver: Receiver, http_server: str) -> World:
    return World(tmp_path, smtp_server, receiver, http_server)


@pytest.fixture
def zone(s3: MotoServer) -> Iterator[str]:
    """A fresh hosted zone in moto's Route 53, www on web-a."""
    dns.client.cache_clear()
    name = f"z{uuid.uuid4().hex[:10]}.example.com"
    route53 = s3.client("route53")
    zone_id = route53.create_hosted_zone(Name=name, CallerReference=uuid.uuid4().hex)
    record = {"Name": f"www.{name}", "Type": "A", "TTL": 60}
    record["ResourceRecords"] = [{"Value": "203.0.113.5"}]  # web-a
    change = {"Action": "UPSERT", "ResourceRecordSet": record}
    route53.change_resource_record_sets(
        HostedZoneId=zone_id["HostedZone"]["Id"], ChangeBatch={"Changes": [change]}
    )
    yield name
    dns.client.cache_clear()


def notices(outcome: RunOutcome) -> list[Entry]:
    return [e for e in read(Path(outcome.journal)) if e.event == "update.sent"]


def by_name(entry: Entry) -> dict[str, dict[str, Any]]:
    return {d["stakeholder"]: d for d in entry.evidence["deliveries"]}


def promise_of(outcome: RunOutcome, step: str = "tell") -> datetime:
    """The next-update time the ``tell`` step promised its readers."""
    tell = next(s for s in outcome.steps if s.step_id == step)
    text = tell.evidence["deliveries"][0]["next_update"]
    return datetime.strptime(text, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)


def body(mail: EmailMessage) -> str:
    plain = mail.get_body(preferencelist=("plain",))
    assert plain is not None
    return str(plain.get_content())


def test_a_failed_live_run_tells_everyone_it_told_in_their_language_with_receipts(
    world: World, zone: str
) -> None:
    path = world.write(TELL + SWITCH % {"zone": zone} + VALIDATE % world.broken + RESOLVED)
    ctx, outcome = world.run(path)

    assert outcome.status == "failed" and outcome.failed_step is not None
    assert outcome.failed_step.step_id == "validate"
    assert [(r.step_id, r.status) for r in outcome.rollbacks] == [("rollback:switch", "succeeded")]
    promised = promise_of(outcome)

    # Customers: a French e-mail saying the incident goes on, what it means, when next.
    opened, closing = world.mails(2)
    assert opened["Subject"].startswith("Interruption de service")
    assert (
        closing["Subject"] == f"Point sur l'interruption de la boutique en ligne ({world.incident})"
    )
    text = body(closing)
    assert "L'interruption de la boutique en ligne n'est pas terminée" in text
    assert "Ce que cela signifie pour vous : vous ne pouvez pas passer commande." in text
    assert "Support : support@example.com, téléphone +33 1 23 45 67 89" in text
    assert "Nous vous présentons nos excuses" in text
    found = text.split("prochain point avant ", 1)[1].split(",", 1)[0]
    said = datetime.strptime(found, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    assert said <= promised, "never later than the time the opened incident promised"
    assert lint.disclosed(text, lint.internal_names(ctx.runbook)) == []
    for internal in ("validate", "switch", "503", "web-b", ctx.run_id):
        assert internal not in text

    # On-call: English, what failed with its evidence, each rollback, run, review, resume.
    _, update = world.posts("oncall", 2)
    assert update.json["title"] == (
        f"incident.failed: run failed at validate: Fail over the shop from Strasbourg "
        f"({world.incident})"
    )
    message = update.json["message"]
    journal = Path(outcome.journal)
    for line in (
        f"The live run {ctx.run_id} stopped at ",
        ": step validate failed (www answers).",
        f"Error: {world.broken}: status 503, expected 200\n",
        f"Evidence:\n  url: {world.broken}\n  status: 503\n",
        "Rolled back, latest change first:\n  - switch: undone\n",
        f"Review: {journal.parent / 'review.md'} (or: lifeboat report {ctx.run_id}).",
        f"(the steps done are kept): lifeboat run --resume {ctx.run_id} {path}\n",
        f"the next one is due by {found}, and it is yours to send.",
    ):
        assert line in message, (line, message)

    # The Dutch-speaking team reads Dutch; a stakeholder never told anything hears nothing.
    _, wacht = world.posts("wacht", 2)
    assert wacht.json["title"].startswith("incident.failed: run mislukt bij stap validate: ")
    dutch = wacht.json["message"]
    assert "Teruggedraaid, laatste wijziging eerst:\n  - switch: teruggedraaid" in dutch
    assert "Hervatten zodra de oorzaak is verholpen" in dutch
    assert world.posts("board") == []

    # Journaled like an update, with a receipt per channel, between rollback and run end.
    assert verify(journal).ok
    entries = read(journal)
    (notice,) = notices(outcome)
    order = [e.event for e in entries]
    assert order.index("rollback.succeeded") < order.index("update.sent") < order.index("run.ended")
    assert notice.step_id == "failure-notice" and notice.kind == "notify"
    assert notice.inputs == {"stage": "incident.failed", "to": ["customers", "oncall", "wacht"]}
    receipts = by_name(notice)
    assert set(receipts) == {"customers", "oncall", "wacht"}
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in receipts.values())
    assert [receipts[n]["language"] for n in ("customers", "oncall", "wacht")] == ["fr", "en", "nl"]
    assert receipts["customers"]["subject"] == closing["Subject"]
    assert receipts["oncall"]["subject"] == update.json["title"]
    assert notice.summary == "failure notice (failed at validate): sent to 3 of 3 channels"
    # The run's own failure stays what the run reports.
    assert entries[-1].event == "run.ended" and entries[-1].error == outcome.failed_step.error


def test_a_failed_drill_tells_only_internal_stakeholders_marked_as_a_drill(world: World) -> None:
    tell = "  - {id: tell, notify: incident.opened, to: [customers, oncall]}\n"
    path = world.write(tell + VALIDATE % world.broken)
    _, outcome = world.run(path, "drill")

    assert outcome.status == "failed"
    (opened,) = world.mails(1)  # customers in drills got the drill's opened message only
    assert opened["Subject"].startswith("[DRILL] ")
    _, update = world.posts("oncall", 2)
    assert update.json["title"].startswith("[DRILL] incident.failed: run failed at validate: ")
    assert "This was a drill: customers were not told." in update.json["message"]
    (notice,) = notices(outcome)
    receipts = by_name(notice)
    assert receipts["oncall"]["status"] == "sent"
    assert receipts["customers"]["status"] == "skipped"
    assert receipts["customers"]["why"] == "drill: customers are not told of a failed drill"
    assert len(world.mails(1)) == 1, "no second mail to customers"


def test_a_stakeholder_never_reached_in_this_run_hears_nothing_of_its_failure(
    world: World,
) -> None:
    dead = f"json://127.0.0.1:{closed_port()}/pager"
    path = world.write(
        "  - {id: tell, notify: incident.opened, to: [oncall, wacht]}\n"
        + VALIDATE % world.broken
        + RESOLVED,
        oncall=[dead],  # on-call was named, but the page never reached them
    )
    _, outcome = world.run(path)

    assert outcome.status == "failed"
    (notice,) = notices(outcome)
    assert notice.inputs["to"] == ["wacht"]
    assert set(by_name(notice)) == {"wacht"}  # no receipt for on-call, board or customers
    assert len(world.posts("wacht", 2)) == 2
    assert world.posts("board") == []
    assert [m for m in world.smtp.messages() if world.incident in str(m["Subject"])] == []


def test_nobody_told_means_no_closing_message_and_no_entry(world: World) -> None:
    _, outcome = world.run(world.write(VALIDATE % world.broken + RESOLVED))
    assert outcome.status == "failed"
    assert notices(outcome) == []
    assert world.posts("oncall") == [] and world.posts("board") == []


def test_a_closing_message_that_fails_to_deliver_is_recorded_and_the_run_reports_its_own_failure(
    world: World,
) -> None:
    good = f"{world.hooks}/oncall-{world.incident}"
    bad = f"{world.hooks}/status/503/oncall-{world.incident}"
    path = world.write(
        "  - {id: tell, notify: incident.opened, to: [oncall]}\n" + VALIDATE % world.broken,
        oncall=[good, bad],
    )
    _, outcome = world.run(path)

    assert outcome.status == "failed" and outcome.failed_step is not None
    error = f"{world.broken}: status 503, expected 200"
    assert outcome.failed_step.error == error
    (notice,) = notices(outcome)
    sent, failed = notice.evidence["deliveries"]
    assert (sent["status"], failed["status"], failed["attempts"]) == ("sent", "failed", 3)
    assert (
        failed["why"]
        == "Failed to send JSON POST notification: Servers are overloaded., error=503."
    )
    assert notice.summary == (
        "failure notice (failed at validate): sent to 1 of 2 channels; 1 failed (oncall: json)"
    )
    ended = read(Path(outcome.journal))[-1]
    assert ended.event == "run.ended" and ended.error == error


@pytest.mark.parametrize("override", ["{# says nothing #}\n", None], ids=["empty", "missing"])
def test_an_override_cannot_silence_the_closing_message(world: World, override: str | None) -> None:
    if override is not None:
        (world.tmp_path / "failed.txt.j2").write_text(override, encoding="utf-8")
    comms = "  templates: {incident.failed: failed.txt.j2}\n"
    path = world.write(
        "  - {id: tell, notify: incident.opened, to: [oncall]}\n" + VALIDATE % world.broken,
        comms=comms,
    )
    _, outcome = world.run(path)

    _, update = world.posts("oncall", 2)
    assert update.json["title"].startswith("incident.failed: run failed at validate: ")
    (notice,) = notices(outcome)
    assert by_name(notice)["oncall"]["status"] == "sent"
    (note,) = notice.evidence["template"]
    assert "failed.txt.j2" in note and note.endswith("; the shipped template was used")
    if override is not None:
        assert "renders no text for en, internal" in note


def test_an_unanswered_approval_gate_tells_those_told_that_nobody_answered(
    world: World,
) -> None:
    path = world.write(
        "  - {id: tell, notify: incident.opened, to: [oncall]}\n"
        "  - {id: go, title: A person decides, approval: {prompt: 'Fail over?', timeout: 1s}}\n"
    )
    _, outcome = world.run(path)  # no --yes, no Prefect: nobody can answer

    assert outcome.status == "failed"
    _, update = world.posts("oncall", 2)
    assert update.json["title"].startswith("incident.failed: no answer at approval go: ")
    assert "nobody answered approval go in time (A person decides)." in update.json["message"]
    (notice,) = notices(outcome)
    assert notice.summary is not None and notice.summary.startswith(
        "failure notice (timed out at go): "
    )


def test_customers_whose_incident_was_closed_are_not_told_it_goes_on(world: World) -> None:
    path = world.write(
        "  - {id: tell, notify: incident.opened, to: [customers, oncall]}\n"
        "  - {id: done, notify: incident.resolved, to: [customers]}\n" + VALIDATE % world.broken
    )
    _, outcome = world.run(path)

    (notice,) = notices(outcome)
    receipts = by_name(notice)
    assert receipts["oncall"]["status"] == "sent"
    assert receipts["customers"]["status"] == "skipped"
    assert receipts["customers"]["why"] == (
        "their incident was closed (incident.resolved): not told that it goes on"
    )
    assert len(world.mails(2)) == 2  # opened and resolved, nothing after


def test_a_resumed_run_that_fails_again_tells_those_told_before_the_resume(
    world: World,
) -> None:
    path = world.write(
        "  - {id: tell, notify: incident.opened, to: [oncall]}\n" + VALIDATE % world.broken
    )
    first, outcome = world.run(path)
    assert outcome.status == "failed"

    prior = load_prior(first.settings.runs_dir, first.run_id)
    assert list(prior.done) == ["tell"]  # kept: on-call is not told again that it opened
    ctx = run_context(path, incident=world.incident)
    ctx.run_id = prior.run_id
    ctx.journal = Journal(prior.journal, prior.run_id, identity(load(path)), ctx.redactor)
    again = execute(ctx, InlineExecutor(ctx), prior.done)

    assert again.status == "failed"
    titles = [d.json["title"] for d in world.posts("oncall", 3)]
    assert [t.split(":", 1)[0] for t in titles] == [
        "incident.opened",
        "incident.failed",
        "incident.failed",
    ]
    assert [e.step_id for e in notices(again)] == ["failure-notice", "failure-notice"]
    assert verify(Path(again.journal)).ok


def entries_promising(tmp_path: Path, *promises: str) -> list[Entry]:
    """A real journal whose one update promised each of ``promises`` to a reader."""
    loaded = load(Path(__file__).resolve().parents[2] / "runbooks" / "webapp-failover.yaml")
    journal = Journal(tmp_path / "journal.jsonl", "run-1", identity(loaded))
    deliveries = [
        {"stakeholder": "customers", "status": "sent", "next_update": text} for text in promises
    ]
    deliveries.append(
        {"stakeholder": "oncall", "status": "failed", "next_update": "2026-01-01 02:20 UTC"}
    )
    journal.append("update.sent", step_id="update-1", evidence={"deliveries": deliveries})
    return read(journal.path)


def test_the_next_update_is_never_later_than_one_already_promised(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, 2, 13, tzinfo=UTC)
    every = timedelta(minutes=30)
    promised = entries_promising(tmp_path, "2026-01-01 02:40 UTC")
    assert next_update(promised, now, every) == datetime(2026, 1, 1, 2, 40, tzinfo=UTC)
    # A promise already past, or later than the usual one, does not bind; nor one that
    # never reached its reader (on-call's failed 02:20 above).
    for text in ("2026-01-01 02:10 UTC", "2026-01-01 03:00 UTC"):
        assert next_update(entries_promising(tmp_path / text[-9:-4], text), now, every) == (
            now + every
        )
    assert next_update([], now, None) == now + timedelta(minutes=30)


def test_a_step_cannot_send_the_closing_message(write: Any, errors_of: Any) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "stakeholders: {oncall: {channels: ['json://127.0.0.1:9/']}}\n"
        "steps:\n  - {id: tell, notify: incident.failed, to: [oncall]}\n"
    )
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:7:")
    assert "incident.failed is sent by the run itself when it fails" in error


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_whatever_breaks_the_closing_message_is_recorded_never_raised(world: World) -> None:
    path = world.write("  - {id: tell, notify: incident.opened, to: [oncall]}\n")
    ctx, outcome = world.run(path)
    assert outcome.status == "succeeded"
    with ctx.journal.path.open("ab") as journal:  # a line no reader can parse
        journal.write(b"not json\n")

    failure_notice.send(ctx, ctx.runbook.step("tell"), [], rolled=False)

    last = ctx.journal.path.read_bytes().splitlines()[-1]
    entry = Entry.model_validate_json(last)
    assert (entry.event, entry.step_id) == ("update.sent", "failure-notice")
    assert entry.error is not None and entry.error.startswith("failure notice not sent: ")
    assert len(world.posts("oncall", 1)) == 1, "only the opened incident"
