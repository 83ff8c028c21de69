"""The ``notify`` step renders per stakeholder and records language, audience and subject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.run import build_context
from lifeboat.context import RunContext
from lifeboat.errors import StepError
from lifeboat.notify import deliver
from lifeboat.runbook.model import NotifyStep
from lifeboat.settings import Settings

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


def context(path: Path, mode: str, incident: str = "INC-5") -> RunContext:
    return build_context(
        str(path),
        mode,  # type: ignore[arg-type]
        {},
        run_id=f"run-{mode}",
        reason="site loss",
        incident=incident,
        detected_at="",
        initiator="tester",
        auto_approver=None,
        settings=Settings(),
    )


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
    assert [(d["to"], d["language"], d["audience"], d["sent"]) for d in records] == [
        ("customers", "fr", "customers", True),
        ("oncall", "nl", "internal", True),
    ]
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
    with pytest.raises(StepError):  # nothing listens on port 9: on-call's delivery fails
        deliver(ctx, step(ctx))
    customers, oncall = ctx.outcomes["tell"].evidence["deliveries"]
    assert customers["sent"] is False and customers["why"] == "drill: stakeholder not in drills"
    assert oncall["subject"].startswith("[DRILL] incident.opened: ")
    assert "error" not in oncall and oncall["sent"] is False


@pytest.mark.usefixtures("lifeboat_home")
def test_a_broken_override_fails_the_delivery_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    text = RUNBOOK.format(customers="json://127.0.0.1:9/c", oncall="json://127.0.0.1:9/o")
    path.write_text(
        text.replace(
            "comms: {service: la boutique}", "comms: {templates: {incident.opened: gone.txt.j2}}"
        )
    )
    ctx = context(path, "live")
    with pytest.raises(StepError, match=r"gone\.txt\.j2"):
        deliver(ctx, step(ctx))


@pytest.mark.usefixtures("lifeboat_home")
def test_subject_stays_on_one_line_with_crlf_in_the_incident(tmp_path: Path) -> None:
    path = tmp_path / "rb.yaml"
    path.write_text(RUNBOOK.format(customers="json://127.0.0.1:9/c", oncall="json://127.0.0.1:9/o"))
    ctx = context(path, "drill", incident="INC-6\r\nBcc: everyone@example.com")
    with pytest.raises(StepError):
        deliver(ctx, step(ctx))
    for record in ctx.outcomes["tell"].evidence["deliveries"]:
        assert "\r" not in record["subject"] and "\n" not in record["subject"]
