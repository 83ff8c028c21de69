"""One live run per system: the runbook's lock against a real Prefect server.

Each test uses its own runbook ids, hence its own locks: the server is shared by the session.
A live run that stops at an approval gate holds its lock while paused, which is how these
tests keep a holder in place for as long as they need.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import resume_flow_run
from prefect.runtime import flow_run
from prefect.states import Crashed

from flows.approval import form_exists
from flows.lock import hold, limit_name
from flows.run import run_sync
from lifeboat.engine import current_user
from lifeboat.errors import LockHeld
from lifeboat.outcome import RunOutcome
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("prefect_server", "lifeboat_home")

GATED = """\
id: {id}
version: 1.0.0
title: Lock test
owner: sre@example.com
{lock}steps:
  - {{id: go, approval: {{prompt: 'Go?', timeout: 60s}}}}
  - {{id: after, check: wait, with: {{duration: 10ms}}}}
"""
APPROVE = {"approved": True, "approver": "bob", "comment": "go"}
API_POLL_S = 0.1  # each poll is a round trip to the Prefect server: spare it on a busy machine

Write = Callable[..., str]


@pytest.fixture
def runbook(tmp_path: Path) -> Write:
    """A runbook with an approval gate, under the given id and optional shared lock."""

    def _write(runbook_id: str, lock: str | None = None, body: str = GATED) -> str:
        path = tmp_path / f"{runbook_id}.yaml"
        path.write_text(body.format(id=runbook_id, lock=f"lock: {lock}\n" if lock else ""))
        return str(path)

    return _write


class Started:
    """A run of the flow in a thread of this process, as `lifeboat run` starts one."""

    def __init__(
        self,
        path: str,
        mode: str = "live",
        before: Callable[[], Any] = lambda: None,
        **options: Any,
    ) -> None:
        self.state: State[RunOutcome] | None = None
        self.thread = threading.Thread(
            target=self._run, args=(path, mode, before, options), daemon=True
        )
        self.thread.start()

    def _run(
        self, path: str, mode: str, before: Callable[[], Any], options: dict[str, Any]
    ) -> None:
        before()
        self.state = run_sync(path, mode=mode, **options)

    def wait(self, seconds: float = 30) -> State[RunOutcome]:
        self.thread.join(seconds)
        assert self.state is not None, "the run did not end in time"
        return self.state


def refusal(state: State[Any]) -> str:
    """The message of a run refused for its lock (it must have been refused)."""
    assert state.is_failed(), state
    error = state.result(raise_on_failure=False)
    assert isinstance(error, LockHeld), error
    assert error.code == "lock.held"
    return str(error)


def run_id(state: State[Any]) -> UUID:
    assert state.state_details.flow_run_id is not None
    return state.state_details.flow_run_id


def paused_run(path: str, mode: str = "live", timeout: float = 30) -> UUID:
    """The id of the run of ``path`` in ``mode`` once it waits at its gate, form ready."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    paused = FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
    with get_client(sync_client=True) as client:

        def waiting() -> UUID | None:
            for run in client.read_flow_runs(flow_run_filter=paused):
                if (
                    run.parameters.get("runbook_path") == path
                    and run.parameters.get("mode") == mode
                    and form_exists(client, run)
                ):
                    return run.id
            return None

        return wait_until(
            waiting,
            f"a {mode} run of {path} waits at its gate with its form",
            timeout=timeout,
            every=API_POLL_S,
        )


def first_to_end(*runs: Started, timeout: float = 30) -> Started:
    def ended() -> Started | None:
        return next((run for run in runs if not run.thread.is_alive()), None)

    return wait_until(ended, f"one of {len(runs)} runs ended", timeout=timeout)


def slots(lock: str) -> int | None:
    """Active slots of the lock's limit, None if the limit does not exist."""
    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(limit_name(lock)).active_slots
        except ObjectNotFound:
            return None


@pytest.fixture
def approve_all() -> Iterator[list[UUID]]:
    """Runs to approve at the end of a test, so that a failing test leaves none paused."""
    pending: list[UUID] = []
    yield pending
    for paused in pending:
        with suppress(Exception):  # answered already: nothing left to clean up
            resume_flow_run(paused, run_input=APPROVE)


def test_two_live_runs_started_together_exactly_one_proceeds(
    runbook: Write, approve_all: list[UUID], lifeboat_home: Path
) -> None:
    path = runbook("lock-pair")
    start = threading.Barrier(2)
    first = Started(path, initiator="alice", before=start.wait)
    second = Started(path, initiator="alice", before=start.wait)
    refused = first_to_end(first, second, timeout=20)
    proceeding = second if refused is first else first
    holder = paused_run(path)
    approve_all.append(holder)
    assert refusal(refused.wait()) == (
        f"live run of lock-pair already in progress: run {holder} "
        "(lock-pair started by alice); wait for it or stop it"
    )
    assert not (lifeboat_home / "runs" / str(run_id(refused.wait()))).exists(), (
        "refused before anything ran: no journal"
    )
    with get_client(sync_client=True) as client:
        assert "lifeboat-lock:lock-pair" in client.read_flow_run(holder).tags
        assert client.read_flow_run(run_id(refused.wait())).tags == []

    # Held across the pause: the holder is paused with its slot taken, a third run refused.
    assert proceeding.thread.is_alive()
    assert slots("lock-pair") == 1
    third = Started(path, initiator="carol").wait()
    assert str(holder) in refusal(third)

    resume_flow_run(holder, run_input=APPROVE)
    done = proceeding.wait()
    assert done.is_completed(), done.message
    assert run_id(done) == holder
    assert slots("lock-pair") == 0
    after = Started(path, auto_approver="alice").wait()
    assert after.is_completed(), after.message


def test_a_drill_waits_for_a_live_run_and_takes_no_slot(
    runbook: Write, approve_all: list[UUID]
) -> None:
    path = runbook("lock-drill")
    live = Started(path, initiator="alice")
    holder = paused_run(path)
    approve_all.append(holder)
    assert refusal(Started(path, mode="drill").wait()) == (
        f"a live run of lock-drill holds the lock: run {holder} (lock-drill started by alice); "
        "drills wait"
    )
    resume_flow_run(holder, run_input=APPROVE)
    assert live.wait().is_completed()

    # A drill alone: paused at its gate it holds nothing, and a live run goes ahead.
    drilling = Started(path, mode="drill")
    drill = paused_run(path, mode="drill")
    approve_all.append(drill)
    assert slots("lock-drill") == 0
    meanwhile = Started(path, auto_approver="alice").wait()
    assert meanwhile.is_completed(), meanwhile.message
    assert drilling.thread.is_alive(), "the drill is still at its gate"
    resume_flow_run(drill, run_input=APPROVE)
    assert drilling.wait().is_completed()


def test_runbooks_sharing_a_lock_exclude_each_other(
    runbook: Write, approve_all: list[UUID]
) -> None:
    database = runbook("failover-db", lock="lock-webapp")
    web = runbook("failover-web", lock="lock-webapp")
    other = runbook("failover-dns")  # its own lock: not concerned
    holding = Started(database, initiator="alice")
    holder = paused_run(database)
    approve_all.append(holder)
    assert refusal(Started(web, initiator="bob").wait()) == (
        f"live run of lock-webapp already in progress: run {holder} "
        "(failover-db started by alice); wait for it or stop it"
    )
    assert Started(other, auto_approver="carol").wait().is_completed()
    resume_flow_run(holder, run_input=APPROVE)
    assert holding.wait().is_completed()
    assert Started(web, auto_approver="bob").wait().is_completed()


FAILING = """id: {id}
version: 1.0.0
title: Lock test
owner: sre@example.com
{lock}steps:
  - {{id: down, check: tcp.open, with: {{host: 127.0.0.1, port: 9, timeout: 1}}}}
"""


def test_runs_are_tagged_with_runbook_mode_and_lock_and_not_with_the_lease(
    runbook: Write,
) -> None:
    import json

    from flows.lock import LEASE_KEY

    path = runbook("lock-tags", lock="tagged")
    live = run_id(Started(path, auto_approver="alice").wait())
    drill = run_id(Started(path, mode="drill", auto_approver="alice").wait())
    with get_client(sync_client=True) as client:
        live_tags, drill_tags = client.read_flow_run(live).tags, client.read_flow_run(drill).tags
        lease = json.loads(client.read_flow_run_input(live, LEASE_KEY))  # for --resume
    assert set(live_tags) == {
        "lifeboat-runbook:lock-tags",
        "lifeboat-mode:live",
        "lifeboat-lock:tagged",
        f"lifeboat-by:{current_user()}",
    }
    assert UUID(lease) and not any(lease in tag for tag in live_tags)
    assert set(drill_tags) == {"lifeboat-runbook:lock-tags", "lifeboat-mode:drill"}


def test_the_lock_is_released_when_a_run_fails(runbook: Write) -> None:
    path = runbook("lock-fails", body=FAILING)
    failed = Started(path).wait()
    assert failed.is_failed()
    assert isinstance(failed.result(raise_on_failure=False), RunOutcome), "a step failed: ran"
    assert slots("lock-fails") == 0
    assert Started(path).wait().is_failed()  # ran again (and failed again), not refused
    assert isinstance(Started(path).wait().result(raise_on_failure=False), RunOutcome)


def test_the_lock_is_released_when_the_body_raises() -> None:
    @flow(name="lifeboat-lock-test", persist_result=False)
    def breaks() -> None:
        ctx: Any = SimpleNamespace(
            mode="live",
            run_id=str(flow_run.id),
            initiator="alice",
            runbook=SimpleNamespace(id="lock-raises", lock_name="lock-raises"),
            log=lambda message: None,
        )
        with hold(ctx):
            assert slots("lock-raises") == 1
            raise RuntimeError("the engine broke")

    with pytest.raises(RuntimeError, match="the engine broke"):
        breaks()
    assert slots("lock-raises") == 0


def test_cli_refusal_is_one_error_line_naming_the_holder(
    runbook: Write, approve_all: list[UUID], prefect_server: str, lifeboat_home: Path
) -> None:
    path = runbook("lock-cli")
    holding = Started(path, initiator="alice")
    holder = paused_run(path)
    approve_all.append(holder)
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "LIFEBOAT_HOME": str(lifeboat_home)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lifeboat"), "run", path, "--mode", "live"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: live run of lock-cli already in progress: run {holder} "
        "(lock-cli started by alice); wait for it or stop it"
    ], result.stderr
    assert "Traceback" not in result.stderr
    assert "failed to process item" not in result.stderr, "Prefect's own line for the 423"
    resume_flow_run(holder, run_input=APPROVE)
    assert holding.wait().is_completed()


def test_a_killed_holder_blocks_new_runs_and_its_resume_takes_over(
    runbook: Write, prefect_server: str, lifeboat_home: Path
) -> None:
    import signal

    path = runbook("lock-killed")
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "LIFEBOAT_HOME": str(lifeboat_home)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "lifeboat"), "run", path, "--mode", "live"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        killed = paused_run(path, timeout=60)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    try:
        # Its lease is no longer renewed, but stands until it expires: new runs are refused.
        assert slots("lock-killed") == 1
        assert str(killed) in refusal(Started(path, initiator="bob").wait())
        # Resuming the killed run asserts it is dead: the resumed run takes its lock over.
        resumed = Started(path, resume=str(killed), auto_approver="alice").wait()
        assert resumed.is_completed(), resumed.message
        assert slots("lock-killed") == 0
    finally:  # not left Paused, for another test's approver to answer
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(killed, Crashed(message="killed by the test"), force=True)
