"""``comms.updates_every``: the timer alone, then a run whose long step gets updates on time
(real HTTP receiver, engine without Prefect)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from lifeboat.cadence import Cadence
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import read, verify
from lifeboat.runbook.model import NotifyStep, Stage
from lifeboat.sandbox.receiver import Receiver
from tests.conftest import run_context


def notify(stage: Stage, *to: str) -> NotifyStep:
    return NotifyStep(id=f"s-{uuid.uuid4().hex[:6]}", notify=stage, to=list(to))


class Sink:
    def __init__(self) -> None:
        self.steps: list[NotifyStep] = []
        self.arrived = threading.Event()

    def __call__(self, step: NotifyStep) -> None:
        self.steps.append(step)
        self.arrived.set()


def test_nothing_is_due_before_an_incident_is_opened() -> None:
    sink = Sink()
    with Cadence(timedelta(milliseconds=50), sink):
        time.sleep(0.3)
    assert sink.steps == []


def test_updates_come_on_time_to_whoever_was_told_until_resolution() -> None:
    sink = Sink()
    with Cadence(timedelta(milliseconds=100), sink) as cadence:
        cadence.sent(notify(Stage.incident_opened, "customers", "oncall"))
        time.sleep(0.35)
        cadence.sent(notify(Stage.incident_resolved, "customers"))
        count = len(sink.steps)
        time.sleep(0.3)
    assert 2 <= count <= 4 and len(sink.steps) == count  # none after the resolution
    assert [s.id for s in sink.steps] == [f"update-{n}" for n in range(1, count + 1)]
    assert {s.notify for s in sink.steps} == {Stage.incident_update}
    assert sink.steps[0].to == ["customers", "oncall"]


def test_an_update_the_runbook_sends_resets_the_timer() -> None:
    sink = Sink()
    with Cadence(timedelta(milliseconds=300), sink) as cadence:
        cadence.sent(notify(Stage.incident_opened, "oncall"))
        for _ in range(4):  # every 150 ms, well inside the 300 ms promise
            time.sleep(0.15)
            cadence.sent(notify(Stage.incident_update, "oncall"))
        assert sink.steps == []
        assert sink.arrived.wait(1.0)
    assert len(sink.steps) == 1


def test_a_failing_sender_does_not_stop_the_timer() -> None:
    calls: list[str] = []

    def send(step: NotifyStep) -> None:
        calls.append(step.id)
        raise RuntimeError("channel exploded")

    with Cadence(timedelta(milliseconds=50), send) as cadence:
        cadence.sent(notify(Stage.incident_opened, "oncall"))
        deadline = time.monotonic() + 2
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert calls[:2] == ["update-1", "update-2"]


RUNBOOK = """\
id: cadence-test
version: 1.0.0
title: Restore the shop's database
owner: sre@example.com
stakeholders:
  oncall: {{channels: ["json://{hook}/oncall"]}}
comms: {{updates_every: 300ms}}
steps:
  - {{id: opened, notify: incident.opened, to: [oncall]}}
  - {{id: restore, check: wait, with: {{duration: 1100ms}}, needs: [opened]}}
  - {{id: resolved, notify: incident.resolved, to: [oncall], needs: [restore]}}
"""


@pytest.mark.usefixtures("lifeboat_home")
def test_a_long_step_gets_updates_on_time(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "cadence.yaml"
    path.write_text(RUNBOOK.format(hook=receiver.url.split("://", 1)[1]), encoding="utf-8")
    incident = f"INC-{uuid.uuid4().hex[:6]}"
    ctx = run_context(path, incident=incident, reason="database lost")
    outcome = execute(ctx, InlineExecutor(ctx))
    assert outcome.status == "succeeded"
    assert [s.step_id for s in outcome.steps] == ["opened", "restore", "resolved"]
    entries = read(Path(outcome.journal))
    assert verify(Path(outcome.journal)).ok
    updates = [e for e in entries if e.event == "update.sent"]
    assert 2 <= len(updates) <= 4, [e.summary for e in updates]
    assert [e.step_id for e in updates] == [f"update-{n}" for n in range(1, len(updates) + 1)]
    assert all(e.evidence["deliveries"][0]["status"] == "sent" for e in updates)
    seqs = {e.step_id: e.seq for e in entries if e.event == "step.succeeded"}
    assert all(seqs["opened"] < e.seq < seqs["resolved"] for e in updates)
    bodies = [d.json for d in receiver.deliveries() if d.path == "/oncall" and incident in d.body]
    titles = [b["title"] for b in bodies]
    assert len(bodies) == 2 + len(updates), titles  # opened, the updates, resolved
    assert sum("update" in t.lower() for t in titles) == len(updates), titles
