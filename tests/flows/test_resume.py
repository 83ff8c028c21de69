"""``lifeboat run --resume``: a SIGKILLed run finishes without repeating a completed step.

The proof is a counter on the host: each step appends its name to a file over SSH (real
sshd), so a step executed twice would leave its name twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from lifeboat.journal import read, verify
from tests.conftest import LIFEBOAT_CLI, run_lifeboat
from tests.waiting import wait_until


def write_runbook(tmp_path: Path, site: Any, counter: Path, flag: Path) -> Path:
    def step(name: str, argv: str) -> str:
        return (
            f"  - id: {name}\n    action: ssh.run\n    with: {{host: db, argv: {argv}}}\n"
            "    rollback: {action: ssh.run, with: {host: db, argv: [uptime]}}\n"
        )

    path = tmp_path / "resume.yaml"
    path.write_text(
        "id: resume-test\nversion: 1.0.0\ntitle: Resume after a crash\nowner: o\n"
        "sites: {a: {provider: onprem, region: lab}}\n"
        f"hosts: {{db: {{site: a, address: {site.host}, port: {site.port}, "
        f"user: {site.user}, identity_file: '{site.identity_file}'}}}}\n"
        "steps:\n"
        + step("one", f"[sh, -c, 'echo one >> {counter}']")
        + step("two", f"[sh, -c, 'echo two >> {counter}']")
        # Slow until the flag exists: the crash happens here, the resume runs it quickly.
        + step("slow", f"[sh, -c, 'echo slow >> {counter}; test -e {flag} || sleep 60']")
        + step("three", f"[sh, -c, 'echo three >> {counter}']")
    )
    return path


def test_a_killed_run_resumes_without_repeating_done_steps(
    prefect_server: str, lifeboat_home: Path, sshd_sites: Any, tmp_path: Path
) -> None:
    site = sshd_sites.endpoint("site-a")
    counter, flag = tmp_path / "counter", tmp_path / "flag"
    path = write_runbook(tmp_path, site, counter, flag)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "LIFEBOAT_HOME": str(lifeboat_home),
        "LIFEBOAT_KNOWN_HOSTS": str(site.known_hosts),
    }
    process = subprocess.Popen(
        [LIFEBOAT_CLI, "run", str(path), "--mode", "live"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def in_the_slow_step() -> Path | None:
        """The run's journal once the slow step has started and is running on the host."""
        if "slow" not in (counter.read_text().split() if counter.exists() else []):
            return None  # journaled as started is not yet run: the kill must find it running
        for found in (lifeboat_home / "runs").glob("*/journal.jsonl"):
            if ("step.started", "slow") in [(e.event, e.step_id) for e in read(found)]:
                return found
        return None

    try:
        journal = wait_until(
            in_the_slow_step, "the slow step started and wrote its name on the host", timeout=90
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    flag.touch()
    run_id = journal.parent.name

    result = run_lifeboat(env, "run", "--resume", run_id)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resuming run {run_id}: 2 steps done before are kept" in result.stdout
    assert counter.read_text().split() == ["one", "two", "slow", "slow", "three"]
    assert verify(journal).ok
    events = [(e.event, e.step_id) for e in read(journal)]
    assert events.count(("step.succeeded", "one")) == 1
    assert ("run.resumed", None) in events and events[-1] == ("run.ended", None)
    assert "the process running it died" in crashed_message(prefect_server, run_id)


def test_resume_refuses_a_changed_runbook_and_a_finished_run(
    prefect_server: str, lifeboat_home: Path, sshd_sites: Any, tmp_path: Path
) -> None:
    site = sshd_sites.endpoint("site-a")
    counter, flag = tmp_path / "counter", tmp_path / "flag"
    flag.touch()
    path = write_runbook(tmp_path, site, counter, flag)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "LIFEBOAT_HOME": str(lifeboat_home),
        "LIFEBOAT_KNOWN_HOSTS": str(site.known_hosts),
    }
    assert run_lifeboat(env, "run", str(path), "--mode", "live").returncode == 0
    (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
    run_id = journal.parent.name
    finished = run_lifeboat(env, "run", "--resume", run_id)
    assert finished.returncode == 2
    assert f"Error: run {run_id} already succeeded: nothing to resume" in finished.stderr
    assert run_lifeboat(env, "run", "--resume", "no-such-run").returncode == 2
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n")  # as if killed before run.ended
    path.write_text(path.read_text().replace("Resume after a crash", "Changed"))
    changed = run_lifeboat(env, "run", "--resume", run_id)
    assert changed.returncode == 2
    assert "is not the runbook run" in changed.stderr


def crashed_message(api: str, run_id: str) -> str:
    """The killed run's state in Prefect after the resume: Crashed, saying by whom."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(run_id)).state
    assert state is not None and state.is_crashed(), state
    return str(state.message)
