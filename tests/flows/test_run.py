"""The runbook flow against a real Prefect server (one per test session)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.flow_runs import resume_flow_run

from flows.approval import form_exists
from flows.run import run_sync
from lifeboat.journal import read, verify
from lifeboat.outcome import RunOutcome
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("prefect_server", "lifeboat_home")

HEAD = """\
id: {id}
version: 1.0.0
title: Flow test
owner: sre@example.com
stakeholders:
  oncall: {{channels: ["json://127.0.0.1:9/"], in_drills: false}}
steps:
"""


# Apprise's e-mail plugin imports the stdlib ``imghdr`` (deprecated in 3.11) when Apprise first
# loads its plugins: a `-W error` command line overrides pyproject's ignore, a mark does not.
IMGHDR = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def runbook(tmp_path: Path) -> Callable[[str], str]:
    def _write(steps: str) -> str:
        path = tmp_path / "flow-test.yaml"
        path.write_text(HEAD.format(id="flow-test") + steps)
        return str(path)

    return _write


def run(path: str, **kwargs: Any) -> tuple[State[RunOutcome], RunOutcome]:
    state = run_sync(path, **kwargs)
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, RunOutcome), outcome
    return state, outcome


def events(outcome: RunOutcome) -> list[tuple[str, str | None]]:
    return [(e.event, e.step_id) for e in read(Path(outcome.journal))]


def test_happy_path_is_journaled_and_visible_in_prefect(
    runbook: Callable[[str], str], http_server: str
) -> None:
    port = http_server.rsplit(":", 1)[1]
    state, outcome = run(
        runbook(
            f"  - {{id: up, check: http.status, with: {{url: '{http_server}/health'}}}}\n"
            f"  - {{id: port, check: tcp.open, with: {{host: 127.0.0.1, port: {port}}}}}\n"
        ),
        reason="weekly drill",
    )
    assert state.is_completed()
    assert [s.status for s in outcome.steps] == ["succeeded", "succeeded"]
    assert events(outcome) == [
        ("run.started", None),
        ("step.started", "up"),
        ("step.succeeded", "up"),
        ("step.started", "port"),
        ("step.succeeded", "port"),
        ("run.ended", None),
    ]
    assert verify(Path(outcome.journal)).ok

    async def task_names() -> list[str]:
        async with get_client() as client:
            from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(outcome.run_id)]))
            )
            return sorted(r.name for r in runs)

    import asyncio

    assert asyncio.run(task_names()) == ["port", "up"]


def test_failing_check_aborts_and_skips_the_rest(runbook: Callable[[str], str]) -> None:
    port = closed_port()
    state, outcome = run(
        runbook(
            "  - {id: down, check: tcp.open, "
            f"with: {{host: 127.0.0.1, port: {port}, timeout: 1}}}}\n"
            "  - {id: after, check: wait, with: {duration: 10ms}}\n"
        )
    )
    assert state.is_failed()
    assert f"down: 127.0.0.1:{port}: connection failed" in (state.message or "")
    assert [(s.step_id, s.status) for s in outcome.steps] == [
        ("down", "failed"),
        ("after", "skipped"),
    ]
    assert events(outcome)[-2:] == [("step.skipped", "after"), ("run.ended", None)]


def test_retries_are_journaled(runbook: Callable[[str], str]) -> None:
    port = closed_port()
    _, outcome = run(
        runbook(
            "  - {id: flaky, check: tcp.open, "
            f"with: {{host: 127.0.0.1, port: {port}, timeout: 1}},"
            " retries: 2, retry_delay: 10ms}\n"
        )
    )
    assert [e for e in events(outcome) if e[1] == "flaky"] == [
        ("step.started", "flaky"),
        ("step.retried", "flaky"),
        ("step.started", "flaky"),
        ("step.retried", "flaky"),
        ("step.started", "flaky"),
        ("step.failed", "flaky"),
    ]
    assert outcome.steps[0].attempts == 3


def test_timeout_fails_the_step(runbook: Callable[[str], str]) -> None:
    path = runbook("  - {id: slow, check: wait, with: {duration: 60s}, timeout: 300ms}\n")
    started = time.perf_counter()
    _, outcome = run(path)
    # Not a speed target (bench/overhead.py measures runs): the bound is the step's own 60 s,
    # which a run that waited for its abandoned step could not beat.
    assert time.perf_counter() - started < 60, "the run waited for the step it timed out"
    assert outcome.steps[0].error == "wait: did not finish within 0.3 s"


def test_independent_steps_run_together(runbook: Callable[[str], str]) -> None:
    _, outcome = run(
        runbook(
            "  - {id: one, check: wait, with: {duration: 1s}}\n"
            "  - {id: two, check: wait, with: {duration: 1s}, needs: []}\n"
        )
    )
    assert [s.status for s in outcome.steps] == ["succeeded", "succeeded"]
    one, two = outcome.steps
    assert one.started and two.started and one.ended and two.ended
    # Together means overlapping, as the steps' own times say; how long the whole run took
    # is the benchmark's business (bench/overhead.py).
    assert one.started < two.ended and two.started < one.ended, "the two waits overlapped"


def test_continue_tolerates_a_failure(runbook: Callable[[str], str]) -> None:
    port = closed_port()
    state, outcome = run(
        runbook(
            f"  - {{id: down, check: tcp.open, with: {{host: 127.0.0.1, port: {port}}},"
            " on_failure: continue}\n"
            "  - {id: after, check: wait, with: {duration: 10ms}}\n"
        )
    )
    assert state.is_completed()
    assert [(s.status, s.tolerated) for s in outcome.steps] == [
        ("failed", True),
        ("succeeded", False),
    ]


def test_drill_skips_live_only(runbook: Callable[[str], str]) -> None:
    _, outcome = run(
        runbook(
            "  - {id: risky, check: wait, with: {duration: 10ms}, live_only: true}\n"
            "  - {id: tell, notify: incident.update, to: [oncall]}\n"
        ),
        mode="drill",
    )
    risky, tell = outcome.steps
    assert risky.status == "skipped" and risky.summary == "drill: would wait duration=10ms"
    assert tell.status == "succeeded" and tell.summary == "sent to 0 of 1 channels"
    assert tell.evidence["deliveries"][0]["why"] == "drill: stakeholder not in drills"


GATE = (
    "  - {id: go, approval: {prompt: 'Go?', timeout: %s}}\n"
    "  - {id: after, check: wait, with: {duration: 10ms}}\n"
)


API_POLL_S = 0.1  # each poll is a round trip to the Prefect server: spare it on a busy machine


class Approver:
    """Answers the gate of the run of ``path``, from a thread, as an approver would: once the
    run waits at its gate and the gate's form exists."""

    def __init__(self, path: str, run_input: dict[str, Any]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._answer, args=(path, run_input), daemon=True)
        self.thread.start()

    def _answer(self, path: str, run_input: dict[str, Any]) -> None:
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateName,
        )

        paused = FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))
        )
        try:
            with get_client(sync_client=True) as client:

                def waiting() -> UUID | None:
                    for run in client.read_flow_runs(flow_run_filter=paused):
                        if run.parameters.get("runbook_path") == path and form_exists(client, run):
                            return run.id
                    return None

                gated = wait_until(
                    waiting, f"the run of {path} waits at its gate with its form", every=API_POLL_S
                )
            resume_flow_run(gated, run_input=run_input)
        except BaseException as error:  # the test's own thread raises it, in answered()
            self.error = error

    def answered(self) -> None:
        """Fail unless the answer was given (call it once the run has ended)."""
        self.thread.join(30)  # a guard against a hang: the run that needed it is over
        assert not self.thread.is_alive(), "the approver is still waiting for the gate"
        if self.error is not None:
            raise self.error


def test_approval_through_resume(runbook: Callable[[str], str]) -> None:
    path = runbook(GATE % "30s")
    approver = Approver(path, {"approved": True, "approver": "bob", "comment": "go"})
    state, outcome = run(path, initiator="alice")
    approver.answered()
    assert state.is_completed(), state.message
    assert outcome.steps[0].actor == "bob"
    answered = [e for e in read(Path(outcome.journal)) if e.event == "approval.answered"]
    assert [(e.actor, e.summary) for e in answered] == [("bob", "approved: go")]


def test_rejection_aborts(runbook: Callable[[str], str]) -> None:
    path = runbook(GATE % "30s")
    approver = Approver(path, {"approved": False, "approver": "carol", "comment": "no"})
    state, outcome = run(path)
    approver.answered()
    assert state.is_failed()
    assert outcome.steps[0].error == "rejected by carol: no"
    assert outcome.steps[1].status == "skipped"


def test_approval_timeout_fails_the_step(runbook: Callable[[str], str]) -> None:
    state, outcome = run(runbook(GATE % "2s"))
    assert state.is_failed()
    assert outcome.steps[0].error == "no approval within 2 s"


def test_yes_approves_in_advance_and_says_so(runbook: Callable[[str], str]) -> None:
    state, outcome = run(runbook(GATE % "30s"), auto_approver="alice")
    assert state.is_completed()
    assert outcome.steps[0].actor == "alice (--yes)"


def test_cli_run_of_a_shipped_runbook_is_readable_from_the_api(
    prefect_server: str, lifeboat_home: Path, repo: Path
) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PREFECT_API_URL": prefect_server, "LIFEBOAT_HOME": str(lifeboat_home)}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "lifeboat"),
            "run",
            str(repo / "runbooks" / "orchestrator-health.yaml"),
            "-p",
            f"prefect_api={prefect_server}",
            "--reason",
            "test",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "orchestrator-health 1.0.0: drill run succeeded" in result.stdout
    (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
    run_id = UUID(journal.parent.name)
    assert verify(journal).ok

    async def from_api() -> tuple[str, list[str], list[str]]:
        import asyncio  # noqa: F401

        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterId,
            LogFilter,
            LogFilterFlowRunId,
        )

        async with get_client() as client:
            flow_run = await client.read_flow_run(run_id)
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
            )
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            assert flow_run.state is not None
            return (
                flow_run.state.type.value,
                sorted(t.name for t in tasks),
                [log.message for log in logs],
            )

    import asyncio

    state, tasks, logs = asyncio.run(from_api())
    assert state == "COMPLETED"
    assert tasks == ["api-again", "api-health", "report", "settle"]
    assert any("api-health:" in message and "answered 200" in message for message in logs)


def test_cli_run_refuses_an_invalid_runbook_before_starting(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lifeboat"), "run", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "Error: runbook invalid, 4 errors"


@IMGHDR
def test_live_notify_reaches_webhook_and_mail(
    tmp_path: Path, receiver: Any, smtp_server: Any
) -> None:
    path = tmp_path / "notify.yaml"
    hook = f"json://127.0.0.1:{receiver.port}/notify-test"
    mail = smtp_server.apprise_url(to="customers@example.com")
    path.write_text(
        "id: notify-test\nversion: 1.0.0\ntitle: Notify test\nowner: o\n"
        f"stakeholders:\n  oncall: {{channels: ['{hook}']}}\n"
        f"  customers: {{language: fr, channels: ['{mail}']}}\n"
        "steps:\n  - {id: tell, notify: incident.opened, to: [oncall, customers]}\n"
    )
    before_hooks, before_mail = len(receiver.files()), len(smtp_server.files())
    state, outcome = run(str(path), mode="live", incident="INC-42")
    assert state.is_completed(), state.message
    assert outcome.steps[0].summary == "sent to 2 of 2 channels"
    body = receiver.wait_for(before_hooks + 1)[-1]
    assert body.path == "/notify-test"
    assert "incident.opened: Notify test" in str(body.json)
    message = smtp_server.wait_for(before_mail + 1)[-1]
    assert message["Subject"] == "incident.opened: Notify test (INC-42)"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "Incident: INC-42" in text.get_content()


@IMGHDR
def test_failed_required_delivery_fails_the_step_and_names_the_channel(
    runbook: Callable[[str], str],
) -> None:
    port = closed_port()
    path = runbook("  - {id: tell, notify: incident.opened, to: [oncall]}\n")
    text = Path(path).read_text().replace("json://127.0.0.1:9/", f"json://127.0.0.1:{port}/x")
    Path(path).write_text(text.replace("in_drills: false", "required: true"))
    state, outcome = run(path, mode="live")
    assert state.is_failed()
    assert outcome.steps[0].error == (
        f"required delivery failed: oncall, json channel json://127.0.0.1:{port}/x, "
        "3 attempts: A Connection error occurred sending JSON notification to 127.0.0.1."
    )


def test_killed_run_leaves_a_verifiable_prefix(
    prefect_server: str, lifeboat_home: Path, runbook: Callable[[str], str]
) -> None:
    import os
    import signal
    import subprocess
    import sys

    path = runbook(
        "  - {id: quick, check: wait, with: {duration: 10ms}}\n"
        "  - {id: long, check: wait, with: {duration: 60s}}\n"
    )
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "LIFEBOAT_HOME": str(lifeboat_home)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "lifeboat"), "run", path],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def at_the_long_step() -> Path | None:
        for found in (lifeboat_home / "runs").glob("*/journal.jsonl"):
            if ("step.started", "long") in [(e.event, e.step_id) for e in read(found)]:
                return found
        return None

    try:
        journal = wait_until(
            at_the_long_step, "the run journaled the start of its second step", timeout=60
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    result = verify(journal)
    assert result.ok, result.problem
    assert [(e.event, e.step_id) for e in read(journal)] == [
        ("run.started", None),
        ("step.started", "quick"),
        ("step.succeeded", "quick"),
        ("step.started", "long"),
    ]


def test_live_abort_rolls_back_over_ssh_in_reverse_order(
    tmp_path: Path, sshd_sites: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = sshd_sites.endpoint("site-a")
    monkeypatch.setenv("LIFEBOAT_KNOWN_HOSTS", str(site.known_hosts))
    work = tmp_path / "work"
    work.mkdir()
    path = tmp_path / "rollback.yaml"
    path.write_text(
        "id: rollback-test\nversion: 1.0.0\ntitle: Rollback over SSH\nowner: o\n"
        "sites: {a: {provider: onprem, region: lab}}\n"
        f"hosts: {{web: {{site: a, address: {site.host}, port: {site.port}, "
        f"user: {site.user}, identity_file: '{site.identity_file}'}}}}\n"
        "steps:\n"
        f"  - id: one\n    action: ssh.run\n    with: {{host: web, argv: [mkdir, '{work}/one']}}\n"
        f"    rollback: {{action: ssh.run, with: {{host: web, argv: [rmdir, '{work}/one']}}}}\n"
        f"  - id: two\n    action: ssh.run\n    with: {{host: web, argv: [mkdir, '{work}/two']}}\n"
        f"    rollback: {{action: ssh.run, with: {{host: web, argv: [rmdir, '{work}/two']}}}}\n"
        "  - id: breaks\n    action: ssh.run\n    with: {host: web, argv: ['false']}\n"
        "    rollback: {action: ssh.run, with: {host: web, argv: ['true']}}\n"
    )
    state, outcome = run(str(path), mode="live")
    assert state.is_failed()
    assert [r.step_id for r in outcome.rollbacks] == ["rollback:two", "rollback:one"]
    assert all(r.status == "succeeded" for r in outcome.rollbacks)
    assert list(work.iterdir()) == [], "the rollbacks removed what the steps made"
    journaled = [
        (e.event, e.step_id) for e in read(Path(outcome.journal)) if e.event.startswith("rollback.")
    ]
    assert journaled == [
        ("rollback.started", "two"),
        ("rollback.succeeded", "two"),
        ("rollback.started", "one"),
        ("rollback.succeeded", "one"),
    ]


def test_a_required_channel_secret_that_is_not_set_fails_the_step_saying_which(
    runbook: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIFEBOAT_SECRET_ONCALL_HOOK", raising=False)
    path = runbook("  - {id: tell, notify: incident.opened, to: [oncall]}\n")
    text = Path(path).read_text().replace("json://127.0.0.1:9/", "${{ secrets.oncall_hook }}")
    Path(path).write_text(text.replace("in_drills: false", "required: true"))
    state, outcome = run(path, mode="live")
    assert state.is_failed()
    assert outcome.steps[0].error == (
        "required delivery failed: oncall, channel ${{ secrets.oncall_hook }}, not sent: "
        "secret 'oncall_hook' is not set "
        "(LIFEBOAT_SECRET_ONCALL_HOOK or Prefect Secret block lifeboat-oncall-hook)"
    )
