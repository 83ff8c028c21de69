"""The ``notify`` step renders per stakeholder and records language, audience and subject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.notify import deliver
from lifeboat.plan import Mode
from lifeboat.runbook.model import NotifyStep
from tests.conftest import run_context

# Apprise loads its e-mail plugin, which imports the stdlib ``imghdr`` (deprecated in 3.11),
# on first use: `-W error` on the command line overrides pyproject's ignore, a mark does not.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

RUNBOOK = """\
id: notify-comms
version: 1.0.0
title: Fail over from Strasbourg
owner: o
objectives: {{rto: 30m}}
sites: {{sbg: {{provider: ovh, region: sbg}}}}
hosts: {{web-a: {{site: sbg, address: web-a.sbg.example.net}}}}
stakeholders:
  customers: {{language: fr, audience: customers, channels: ['{customers}']}}
  oncall: {{language: nl, channels: ['{oncall}'], in_drills: true}}
support: {{email: support@example.com}}
comms: {{service: la boutique}}
steps:
  - {{id: tell, notify: incident.opened, to: [customers, oncall]}}
"""


def context(path: Path, mode: Mode, incident: str = "INC-5") -> RunContext:
    return run_context(path, mode, incident=incident)


def step(ctx: RunContext) -> NotifyStep:
    found = ctx.runbook.step("tell")
    assert isinstance(found, NotifyStep)
    return found


@pytest.mark.usefixtures("lifeboat_home")
def test_each_stakeholder_reads_their_language_and_audience(tmp_path: Path, receiver: Any) -> None:
    base = f"json://127.0.0.1:{receiver.port}"
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.format(customers=f"{base}/customers", oncall=f"{base}/oncall"))
    before = len(receiver.files())
    ctx = context(path, "live")
    outcome = deliver(ctx, step(ctx))
    assert outcome.summary == "sent to 2 of 2 channels"
    records = outcome.evidence["deliveries"]
    assert [
        (d["stakeholder"], d["kind"], d["language"], d["audience"], d["status"], d["attempts"])
        for d in records
    ] == [
        ("customers", "json", "fr", "customers", "sent", 1),
        ("oncall", "json", "nl", "internal", "sent", 1),
    ]
    assert records[0]["target"] == f"{base}/customers" and records[0]["why"] is None
    assert records[0]["subject"] == "Interruption de service : la boutique (INC-5)"
    assert records[1]["subject"] == "incident.opened: Fail over from Strasbourg (INC-5)"
    posted = {d.path: d.json for d in receiver.wait_for(before + 2)[before:]}
    customers, oncall = posted["/customers"], posted["/oncall"]
    assert "Nous vous présentons nos excuses" in customers["message"]
    assert "support@example.com" in customers["message"]
    assert "web-a" not in customers["message"] and "sbg" not in customers["message"].lower()
    assert "Stappen gedaan" in oncall["message"]


@pytest.mark.usefixtures("lifeboat_home")
def test_drill_reaches_only_in_drills_stakeholders_marked(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.format(customers="json://127.0.0.1:9/c", oncall="json://127.0.0.1:9/o"))
    ctx = context(path, "drill")
    outcome = deliver(ctx, step(ctx))  # nothing listens on port 9: on-call's delivery fails
    assert outcome.status == "succeeded"
    assert outcome.summary == "sent to 0 of 2 channels; 1 failed (oncall: json)"
    customers, oncall = outcome.evidence["deliveries"]
    assert customers["status"] == "skipped" and customers["attempts"] == 0
    assert customers["why"] == "drill: stakeholder not in drills"
    assert oncall["subject"].startswith("[DRILL] incident.opened: ")
    assert oncall["status"] == "failed" and oncall["attempts"] == 3
    assert "Connection error" in oncall["why"]


@pytest.mark.usefixtures("lifeboat_home")
def test_a_broken_override_fails_the_delivery_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    text = RUNBOOK.format(customers="json://127.0.0.1:9/c", oncall="json://127.0.0.1:9/o")
    broken = text.replace(
        "comms: {service: la boutique}", "comms: {templates: {incident.opened: gone.txt.j2}}"
    )
    path.write_text(broken)
    ctx = context(path, "live")
    outcome = deliver(ctx, step(ctx))
    assert outcome.summary == "sent to 0 of 2 channels; 2 failed (customers: json, oncall: json)"
    for record in outcome.evidence["deliveries"]:
        assert record["status"] == "failed" and record["attempts"] == 0
        assert record["subject"] is None and "gone.txt.j2" in record["why"]
    path.write_text(broken.replace("in_drills: true", "in_drills: true, required: true"))
    ctx = context(path, "live")
    with pytest.raises(StepError, match=r"^required delivery failed: oncall, json channel .*gone"):
        deliver(ctx, step(ctx))
    assert ctx.outcomes["tell"].status == "failed"


@pytest.mark.usefixtures("lifeboat_home")
def test_subject_stays_on_one_line_with_crlf_in_the_incident(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.format(customers="json://127.0.0.1:9/c", oncall="json://127.0.0.1:9/o"))
    ctx = context(path, "drill", incident="INC-6\r\nBcc: everyone@example.com")
    deliver(ctx, step(ctx))
    subjects = [r["subject"] for r in ctx.outcomes["tell"].evidence["deliveries"]]
    assert len(subjects) == 2 and all("INC-6 Bcc: everyone@example.com" in s for s in subjects)
    assert not any("\r" in s or "\n" in s for s in subjects)
