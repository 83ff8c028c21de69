"""``lifeboat approve`` as a person runs it (a subprocess), against gates of real runs on the
session's Prefect server: it waits for the gate's verdict and exits 0 accepted, 1 refused
(saying why), 2 no such run or gate; the journal records how each answer arrived."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
from prefect.client.schemas.objects import State
from prefect.flow_runs import resume_flow_run
from prefect.states import Crashed

from flows.approval import form_exists, pause_key
from flows.run import run_sync
from lifeboat.journal import Entry, read
from lifeboat.outcome import RunOutcome
from tests.conftest import LIFEBOAT_CLI
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("prefect_server", "lifeboat_home")

GATED = """\
id: {id}
version: 1.0.0
title: Approve from the terminal
owner: sre@example.com
sites:
  pg-b: {{provider: aws, region: eu-central-1}}
steps:
  - {{id: {gate}, approval: {{prompt: 'Fail over to pg-b?', confirm: pg-b, timeout: {timeout}}}}}
  - {{id: after, check: wait, with: {{duration: 10ms}}}}
"""
API_POLL_S = 0.1  # each poll is a round trip to the Prefect server: spare it on a busy machine


class Started:
    """A run of the flow in a thread of this process, as `lifeboat run` starts one."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.state: State[RunOutcome] | None = None
        self.thread = threading.Thread(target=self._run, args=(path, options), daemon=True)
        self.thread.start()

    def _run(self, path: Path, options: dict[str, Any]) -> None:
        self.state = run_sync(str(path), **options)

    def wait(self, seconds: float = 60) -> State[RunOutcome]:
        self.thread.join(seconds)  # a guard against a hang: the run was answered already
        assert self.state is not None, "the run did not end in time"
        return self.state

    def outcome(self) -> RunOutcome:
        outcome = self.wait().result(raise_on_failure=False)
        assert isinstance(outcome, RunOutcome), outcome
        return outcome


def gated(tmp_path: Path, gate: str = "go", timeout: str = "120s", rid: str = "approve") -> Path:
    path = tmp_path / f"{rid}.yaml"
    path.write_text(GATED.format(id=rid, gate=gate, timeout=timeout))
    return path


def waiting_run(path: Path, not_: UUID | None = None) -> UUID:
    """The run of ``path`` once it waits at its gate with its form (not the run ``not_``)."""
    paused = FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
    with get_client(sync_client=True) as client:

        def waiting() -> UUID | None:
            for run in client.read_flow_runs(flow_run_filter=paused):
                mine = run.parameters.get("runbook_path") == str(path) and run.id != not_
                if mine and form_exists(client, run):
                    return run.id
            return None

        return wait_until(waiting, f"the run of {path} waits at its gate", every=API_POLL_S)


def approve(
    env: dict[str, str], *args: str, stdin: int = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    """``lifeboat approve ARGS`` with no terminal (stdin is not a TTY, nothing is asked)."""
    return subprocess.run(
        [LIFEBOAT_CLI, "approve", *args], env=env, stdin=stdin, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def env(prefect_server: str, lifeboat_home: Path) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": prefect_server, "LIFEBOAT_HOME": str(lifeboat_home)}


def answers(journal: str | Path) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    """(actor, what was said or why it was refused, evidence) of each answer journaled."""
    found: list[Entry] = [e for e in read(Path(journal)) if e.event == "approval.answered"]
    return [(e.actor, e.error or e.summary, e.evidence) for e in found]


def test_without_the_word_exits_1_saying_why_and_with_it_by_a_prefix_exits_0(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = gated(tmp_path)
    started = Started(path, initiator="carol")
    run = waiting_run(path)

    refused = approve(env, str(run), "--by", "alice")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.strip() == (
        f"Error: run {run}, gate go: the gate refused the answer: "
        "confirmation must be 'pg-b'; it asks again"
    )
    accepted = approve(env, str(run)[:8], "--by", "alice", "--confirm", "pg-b")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.strip() == (
        f"run {run}, gate go: approved: the run goes on (answered as alice)"
    )
    outcome = started.outcome()
    assert outcome.status == "succeeded"
    terminal = {"via": "terminal", "approver": "alice"}
    assert answers(outcome.journal) == [
        ("alice", "refused: confirmation must be 'pg-b'", terminal),
        ("alice", "approved", terminal),
    ]


def test_on_a_terminal_it_asks_for_the_word(tmp_path: Path, env: dict[str, str]) -> None:
    path = gated(tmp_path)
    started = Started(path)
    run = waiting_run(path)
    typist, terminal = pty.openpty()
    try:
        os.write(typist, b"pg-b\n")  # the terminal keeps the line until approve reads it
        given = approve(env, str(run), "--by", "dave", stdin=terminal)
    finally:
        os.close(terminal)
        os.close(typist)
    assert given.returncode == 0, given.stdout + given.stderr
    assert "Type pg-b to confirm:" in given.stdout
    outcome = started.outcome()
    assert answers(outcome.journal) == [
        ("dave", "approved", {"via": "terminal", "approver": "dave"})
    ]


def test_an_accepted_rejection_exits_0_and_the_step_fails(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = gated(tmp_path)
    started = Started(path)
    run = waiting_run(path)
    given = approve(env, str(run), "--by", "erin", "--reject", "--comment", "not now")
    assert given.returncode == 0, given.stdout + given.stderr
    assert given.stdout.strip() == (
        f"run {run}, gate go: rejected: the gate's step fails (answered as erin)"
    )
    outcome = started.outcome()
    assert outcome.status == "failed" and outcome.steps[0].error == "rejected by erin: not now"


def test_an_unknown_run_exits_2(env: dict[str, str]) -> None:
    nobody = "00000000-0000-4000-8000-000000000000"
    given = approve(env, nobody, "--by", "alice")
    assert given.returncode == 2, given.stdout + given.stderr
    assert given.stderr.strip() == f"Error: no run {nobody} on the Prefect server"


def test_an_unknown_prefix_exits_2(env: dict[str, str]) -> None:
    given = approve(env, "zz", "--by", "alice")
    assert given.returncode == 2, given.stdout + given.stderr
    assert given.stderr.strip() == (
        "Error: no run 'zz' waits at an approval gate or has a journal here"
    )


def test_an_ambiguous_prefix_exits_2_naming_the_runs(
    env: dict[str, str], lifeboat_home: Path
) -> None:
    names = ["abcdef01-0000-4000-8000-000000000001", "abcdef01-0000-4000-8000-000000000002"]
    for name in names:  # two runs journaled here (as `lifeboat audit show` finds them)
        (lifeboat_home / "runs" / name).mkdir(parents=True)
        (lifeboat_home / "runs" / name / "journal.jsonl").write_text("")
    given = approve(env, "abcdef01", "--by", "alice")
    assert given.returncode == 2, given.stdout + given.stderr
    assert given.stderr.strip() == (
        f"Error: 'abcdef01' names several runs: {names[0]}, {names[1]}; give more of the id"
    )


def test_a_run_not_at_a_gate_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "no-gate.yaml"
    path.write_text(
        "id: no-gate\nversion: 1.0.0\ntitle: No gate\nowner: sre@example.com\n"
        "steps:\n  - {id: only, check: wait, with: {duration: 10ms}}\n"
    )
    state = run_sync(str(path))
    assert state.is_completed() and state.state_details.flow_run_id is not None
    run = state.state_details.flow_run_id
    given = approve(env, str(run), "--by", "alice")
    assert given.returncode == 2, given.stdout + given.stderr
    assert given.stderr.strip() == (
        f"Error: run {run} is not waiting at an approval gate (state: Completed)"
    )


def test_answers_from_the_ui_or_api_and_from_the_watchdog_are_journaled_as_such(
    tmp_path: Path,
) -> None:
    path = gated(tmp_path, rid="channels")
    started = Started(path)
    run = waiting_run(path)
    # What the Prefect UI's form sends, and any other API client: no `via`.
    resume_flow_run(run, run_input={"approved": True, "approver": "Frank ", "confirm": "pg-b"})
    answered = started.outcome()
    assert answers(answered.journal) == [
        ("Frank ", "approved", {"via": "ui or api", "approver": "Frank "})
    ]
    timed_out = Started(gated(tmp_path, timeout="2s", rid="nobody")).outcome()
    assert timed_out.steps[0].error == "no approval within 2 s"
    assert answers(timed_out.journal) == [
        (
            "lifeboat",
            "timed out: no approval within 2 s",
            {"via": "watchdog", "approver": "lifeboat"},
        )
    ]


def test_a_gate_whose_step_id_prefect_would_refuse_as_a_key_is_answered(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert re.fullmatch(r"go-now-[0-9a-f]{8}-1", pause_key("Go_Now", 1))  # letters, digits, -
    assert pause_key("Go_Now", 1) != pause_key("go-now", 1) == "go-now-1"
    path = gated(tmp_path, gate="Go_Now")
    started = Started(path)
    run = waiting_run(path)
    given = approve(env, str(run), "--by", "alice", "--confirm", "pg-b")
    assert given.returncode == 0, given.stdout + given.stderr
    assert started.outcome().status == "succeeded"


def test_a_resumed_runs_journal_id_names_the_run_that_resumed_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = gated(tmp_path, rid="resumed")
    first = subprocess.Popen(
        [LIFEBOAT_CLI, "run", str(path)], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        killed = waiting_run(path)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    try:
        started = Started(path, resume=str(killed))
        resumer = waiting_run(path, not_=killed)
        # The journal (and `lifeboat run`'s screen) says the first run's id.
        given = approve(env, str(killed), "--by", "alice", "--confirm", "pg-b")
        assert given.returncode == 0, given.stdout + given.stderr
        assert given.stdout.startswith(f"run {resumer}, gate go: approved")
        assert started.outcome().status == "succeeded"
    finally:  # not left Paused, for another test to find
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(killed).state
            if state is not None and state.is_paused():
                client.set_flow_run_state(killed, Crashed(message="killed by the test"), force=True)
