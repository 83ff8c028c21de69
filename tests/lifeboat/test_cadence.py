"""``comms.updates_every``: the timer alone, then a run whose long step gets updates on time
(real HTTP receiver, engine without Prefect).

The timer runs on a clock the test moves (``Clock``, standing for ``time`` in
``lifeboat.cadence``): which updates are due, and when, is counted in its intervals, never
in how fast a busy machine lets the timer thread run."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lifeboat import cadence as cadence_module
from lifeboat.cadence import Cadence
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import read, verify
from lifeboat.runbook.model import NotifyStep, Stage
from lifeboat.sandbox.receiver import Receiver
from tests.conftest import run_context
from tests.waiting import stays_false, wait_until


class Clock:
    """Stands for the ``time`` module of ``lifeboat.cadence``, whose only use is
    ``monotonic()``: it moves only when the test says. The timer thread still waits for
    real (``Condition.wait`` of what remains on this clock), so it looks again at least
    once an interval; a test that moves the clock then waits for what follows."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(cadence_module, "time", fake)
    return fake


def notify(stage: Stage, *to: str) -> NotifyStep:
    return NotifyStep(id=f"s-{uuid.uuid4().hex[:6]}", notify=stage, to=list(to))


class Sink:
    """Receives the automatic updates, noting the clock's time when each one came."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.steps: list[NotifyStep] = []
        self.at: list[float] = []

    def __call__(self, step: NotifyStep) -> None:
        self.at.append(self.clock.now)
        self.steps.append(step)


def at_least(items: list[Any], count: int) -> Callable[[], bool]:
    return lambda: len(items) >= count


def test_nothing_is_due_before_an_incident_is_opened(clock: Clock) -> None:
    sink = Sink(clock)
    with Cadence(timedelta(milliseconds=50), sink):
        clock.now += 3600  # an hour of intervals, and nobody was told of an incident
        # The window is the thing under test: 0.3 s (six intervals) of real time for the
        # timer to send an update it must not send.
        stays_false(lambda: sink.steps, "an update before any incident was opened", within=0.3)
    assert sink.steps == []


def test_updates_come_on_time_to_whoever_was_told_until_resolution(clock: Clock) -> None:
    sink = Sink(clock)
    dues: list[float] = []
    with Cadence(timedelta(milliseconds=100), sink) as cadence:
        cadence.sent(notify(Stage.incident_opened, "customers", "oncall"))
        for n in range(1, 4):
            # When update n is due, as the timer counts it (same operands, same float).
            dues.append(clock.now + cadence.every)
            clock.now = dues[-1] - cadence.every / 10
            # The window is the thing under test: a tenth of an interval early, no update;
            # the timer looks again every 10 ms of real time meanwhile.
            stays_false(at_least(sink.steps, n), f"update {n}, 10 ms early", within=0.2)
            clock.now = dues[-1]
            wait_until(at_least(sink.steps, n), f"update {n}, once its interval passed")
        cadence.sent(notify(Stage.incident_resolved, "customers"))
        clock.now += 10 * cadence.every
        stays_false(at_least(sink.steps, 4), "an update after the resolution", within=0.3)
    assert sink.at == dues  # each sent when its interval passed, not later on this clock
    assert [s.id for s in sink.steps] == ["update-1", "update-2", "update-3"]
    assert {s.notify for s in sink.steps} == {Stage.incident_update}
    assert all(s.to == ["customers", "oncall"] for s in sink.steps)


def test_an_update_the_runbook_sends_resets_the_timer(clock: Clock) -> None:
    sink = Sink(clock)
    with Cadence(timedelta(milliseconds=300), sink) as cadence:
        cadence.sent(notify(Stage.incident_opened, "oncall"))
        for _ in range(4):  # every 150 ms, well inside the 300 ms promise
            clock.now += cadence.every / 2
            cadence.sent(notify(Stage.incident_update, "oncall"))
        due = clock.now + cadence.every  # 300 ms after the runbook's last update
        clock.now = due - cadence.every / 2  # 750 ms since the incident was opened
        # Without the resets, one would have been due 450 ms ago. The window is the thing
        # under test: longer than the timer waits between two looks (300 ms of real time),
        # time enough to send that update, which it must not.
        stays_false(
            lambda: sink.steps, "an update 150 ms after one the runbook sent", within=0.5
        )
        clock.now = due
        wait_until(lambda: sink.steps, "the update 300 ms after the runbook's last one")
    assert len(sink.steps) == 1 and sink.at == [due]


def test_a_failing_sender_does_not_stop_the_timer(clock: Clock) -> None:
    calls: list[str] = []

    def send(step: NotifyStep) -> None:
        calls.append(step.id)
        raise RuntimeError("channel exploded")

    with Cadence(timedelta(milliseconds=50), send) as cadence:
        cadence.sent(notify(Stage.incident_opened, "oncall"))
        for n in (1, 2):
            clock.now += cadence.every
            wait_until(at_least(calls, n), f"update {n} tried, the sender failing")
    assert calls == ["update-1", "update-2"]


class Gate:
    """A health URL that answers 503 until the test opens it: the run's long step lasts
    until the test has seen the updates it waits for, however slow the machine."""

    def __init__(self) -> None:
        self.asked = threading.Event()  # the long step is running
        self.open = threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.asked.set()
                self.send_response(200 if gate.open.is_set() else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Silent: stderr belongs to the test runner."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/restored"


@pytest.fixture
def gate() -> Iterator[Gate]:
    found = Gate()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
    thread.join(5)


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
  - id: restore
    check: http.wait_healthy
    with: {{url: "{gate}", interval: 0.05, timeout: 120}}
    needs: [opened]
  - {{id: resolved, notify: incident.resolved, to: [oncall], needs: [restore]}}
"""


@pytest.mark.usefixtures("lifeboat_home")
def test_a_long_step_gets_updates_on_time(
    tmp_path: Path, receiver: Receiver, clock: Clock, gate: Gate
) -> None:
    path = tmp_path / "cadence.yaml"
    hook = receiver.url.split("://", 1)[1]
    path.write_text(RUNBOOK.format(hook=hook, gate=gate.url), encoding="utf-8")
    incident = f"INC-{uuid.uuid4().hex[:6]}"
    ctx = run_context(path, incident=incident, reason="database lost")
    every = timedelta(milliseconds=300).total_seconds()  # the runbook's, as the timer has it

    def titles() -> list[str]:
        mine = [d for d in receiver.deliveries() if d.path == "/oncall" and incident in d.body]
        return [d.json["title"] for d in mine]

    def updates_posted(count: int) -> Callable[[], bool]:
        return lambda: sum("update" in t.lower() for t in titles()) >= count

    # The restore lasts three intervals of the timer: the test moves its clock one interval
    # at a time, sees each update arrive, then lets the restore end.
    with ThreadPoolExecutor(1) as runner:
        running = runner.submit(execute, ctx, InlineExecutor(ctx))
        try:
            wait_until(gate.asked.is_set, "the restore step polling its health URL")
            for n in (1, 2, 3):
                clock.now += every
                wait_until(updates_posted(n), f"automatic update {n} posted to on-call")
        finally:
            gate.open.set()  # the restore ends, also when a wait above failed
        outcome = running.result(timeout=60)  # a hang guard: the run then ends at once
    assert outcome.status == "succeeded"
    assert [s.step_id for s in outcome.steps] == ["opened", "restore", "resolved"]
    entries = read(Path(outcome.journal))
    assert verify(Path(outcome.journal)).ok
    updates = [e for e in entries if e.event == "update.sent"]
    assert [e.step_id for e in updates] == ["update-1", "update-2", "update-3"]
    assert all(e.evidence["deliveries"][0]["status"] == "sent" for e in updates)
    seqs = {e.step_id: e.seq for e in entries if e.event == "step.succeeded"}
    assert all(seqs["opened"] < e.seq < seqs["resolved"] for e in updates)
    posted = titles()
    assert len(posted) == 2 + len(updates), posted  # opened, the updates, resolved
    assert sum("update" in t.lower() for t in posted) == len(updates), posted
