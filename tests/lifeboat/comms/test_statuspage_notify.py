"""The status page as a notify channel: a run's customer updates land on it, in the page's
language; internal-only steps and drills leave it alone. Real engine, real HTTP receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lifeboat.engine import InlineExecutor, execute
from lifeboat.outcome import RunOutcome
from lifeboat.plan import Mode
from lifeboat.sandbox.receiver import Receiver
from tests.conftest import run_context

pytestmark = pytest.mark.usefixtures("lifeboat_home")

RUNBOOK = """\
id: page-test
version: 1.0.0
title: Fail over the shop from Strasbourg
owner: sre@example.com
sites:
  sbg: {{provider: ovh, region: sbg, datacenter: sbg-2}}
hosts:
  web-a: {{site: sbg, address: web-a.sbg.example.net}}
stakeholders:
  customers: {{language: fr, audience: customers, channels: ["json://{hook}/customers"]}}
  oncall: {{channels: ["json://{hook}/oncall"], in_drills: true}}
support: {{email: support@example.com}}
comms:
  service: la boutique en ligne
  status_page: {{path: page, language: fr, title: État des services}}
steps:
  - {{id: opened, notify: incident.opened, to: [customers, oncall]}}
  - {{id: internal, notify: incident.update, to: [oncall], needs: [opened]}}
  - {{id: resolved, notify: incident.resolved, to: [customers], needs: [internal]}}
"""


def run(tmp_path: Path, receiver: Receiver, mode: Mode) -> RunOutcome:
    path = tmp_path / "page.yaml"
    path.write_text(RUNBOOK.format(hook=receiver.url.split("://", 1)[1]), encoding="utf-8")
    ctx = run_context(path, mode, incident="INC-77", reason="panne du site principal")
    return execute(ctx, InlineExecutor(ctx))


def page_receipt(outcome: RunOutcome, step: str) -> dict[str, Any] | None:
    found = next(s for s in outcome.steps if s.step_id == step)
    pages = [r for r in found.evidence["deliveries"] if r["kind"] == "statuspage"]
    return pages[0] if pages else None


def test_customer_updates_land_on_the_page_in_its_language(
    tmp_path: Path, receiver: Receiver
) -> None:
    outcome = run(tmp_path, receiver, "live")
    assert outcome.status == "succeeded", outcome
    opened, resolved = page_receipt(outcome, "opened"), page_receipt(outcome, "resolved")
    assert opened is not None and resolved is not None
    assert (opened["status"], opened["language"], opened["audience"]) == (
        "sent",
        "fr",
        "customers",
    )
    assert opened["target"] == str(tmp_path / "page") and resolved["status"] == "sent"
    assert page_receipt(outcome, "internal") is None  # on-call only: not public
    feed = json.loads((tmp_path / "page" / "feed.json").read_text(encoding="utf-8"))
    state = feed["_lifeboat"]
    (incident,) = state["incidents"]
    assert incident["id"] == "INC-77"
    assert [u["stage"] for u in incident["updates"]] == ["incident.opened", "incident.resolved"]
    assert [s["status"] for s in state["services"]] == ["operational"]
    assert [s["name"] for s in state["services"]] == ["la boutique en ligne"]
    html = (tmp_path / "page" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in html and "État des services" in html
    assert "Nous vous présentons nos excuses" in html and "Opérationnel" in html
    assert "Major outage" not in html and "Follow" not in html  # the page speaks French too
    assert "web-a" not in html and "sbg" not in html  # customer wording only


def test_a_drill_never_reaches_the_public_page(tmp_path: Path, receiver: Receiver) -> None:
    outcome = run(tmp_path, receiver, "drill")
    receipt = page_receipt(outcome, "opened")
    assert receipt is not None and receipt["status"] == "skipped"
    assert "drill" in receipt["why"]
    assert not (tmp_path / "page").exists()
