"""``lifeboat sandbox up|status|down`` as a user runs them: real processes, state on disk;
``down`` leaves nothing running, also after the demo or a killed keeper (issue 18)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from lifeboat import cli_sandbox
from lifeboat.sandbox import keeper, read_state
from lifeboat.sandbox.owned import Owned
from lifeboat.sandbox.process import pid_alive
from tests.conftest import DemoRun, demo_cli
from tests.lifeboat.sandbox.traces import ports_held, traces

LIFEBOAT = Path(sys.executable).parent / "lifeboat"


def lifeboat(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFEBOAT_HOME": str(home)}
    return subprocess.run(
        [str(LIFEBOAT), "sandbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_up_status_down(tmp_path: Path) -> None:
    up = lifeboat(tmp_path, "up")
    try:
        assert up.returncode == 0, up.stderr
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines()
        )
        assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert Path(exports["LIFEBOAT_KNOWN_HOSTS"]).is_file()
        state = json.loads((tmp_path / "sandbox" / "sandbox.json").read_text())
        pids = [service["pid"] for service in state["services"]]
        status = lifeboat(tmp_path, "status")
        assert status.returncode == 0
        names = [line.split()[0] for line in status.stdout.splitlines()]
        assert names == ["s3", "sshd:site-a", "sshd:site-b", "smtp", "receiver", "entry", "status"]
        assert all(line.split()[1] == "running" for line in status.stdout.splitlines())
        again = lifeboat(tmp_path, "up")  # idempotent: the same services, not new ones
        assert again.stdout == up.stdout
    finally:
        down = lifeboat(tmp_path, "down")
    assert down.returncode == 0 and "sandbox stopped" in down.stdout
    assert not any(pid_alive(pid) for pid in pids)
    assert lifeboat(tmp_path, "status").returncode == 1


def test_up_after_a_killed_keeper_starts_afresh_with_its_data_gone(tmp_path: Path) -> None:
    up = lifeboat(tmp_path, "up")
    assert up.returncode == 0, up.stderr
    directory = tmp_path / "sandbox"
    old = read_state(directory)
    ssh_config = old.env["LIFEBOAT_SSH_CONFIG"]
    app = subprocess.run(
        ["ssh", "-F", ssh_config, "site-b", "systemctl", "start", "webapp"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert app.returncode == 0, app.stderr
    app_pid = int((directory / "ssh" / "site-b" / "root" / "webapp.pid").read_text())
    (directory / "mail" / "from-the-old-sandbox.eml").write_text("Subject: old\n\nold\n")
    os.kill(old.owner_pid, signal.SIGKILL)

    again = lifeboat(tmp_path, "up")
    try:
        assert again.returncode == 0, again.stderr
        assert "is not healthy: stopping what is left of it and starting afresh" in again.stderr
        new = read_state(directory)
        assert new.owner_pid != old.owner_pid
        olds = {old.owner_pid, app_pid, *(s.pid for s in old.services)}
        assert not any(pid_alive(pid) for pid in olds)
        assert not (directory / "mail" / "from-the-old-sandbox.eml").exists()
        assert lifeboat(tmp_path, "status").stdout.count(" running ") == len(new.services)
    finally:
        down = lifeboat(tmp_path, "down")
    assert down.returncode == 0 and down.stdout.splitlines()[-1] == "sandbox stopped"
    assert traces(tmp_path) == {}
    twice = lifeboat(tmp_path, "down")
    assert (twice.returncode, twice.stdout) == (0, "no sandbox is running\n")


def test_down_names_what_survived_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stuck = Owned(4242, "web app site-b", (40001,))
    gone = Owned(4243, "keeper", (40002, 40003))
    monkeypatch.setattr(keeper, "stop", lambda d: keeper.Stopped(True, [gone, stuck], [stuck]))

    with pytest.raises(typer.Exit) as info:
        cli_sandbox.down(tmp_path)

    assert info.value.exit_code == 1
    captured = capsys.readouterr()
    assert captured.out == (
        "stopped what was left running: keeper (pid 4243, listening on 40002, 40003)\n"
        "stopped what was left running: web app site-b (pid 4242, listening on 40001)\n"
    )
    assert captured.err == (
        "Error: still running after down: web app site-b (pid 4242, listening on 40001)\n"
    )


@pytest.mark.stops_demo
def test_down_after_the_demo_leaves_no_process_or_port_and_twice_is_harmless(
    demo_run: DemoRun,
) -> None:
    """Whether this test or another ``stops_demo`` one stops the demo's sandbox first, after
    ``down`` nothing started for the demo's LIFEBOAT_HOME runs or listens any more."""
    state = demo_run.state
    down = demo_cli(demo_run.home, "sandbox", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.splitlines()[-1] in ("sandbox stopped", "no sandbox is running")
    assert traces(demo_run.home) == {}
    apps = {
        int(s.details["webapp_url"].rsplit(":", 1)[1])
        for s in state.services
        if s.details.get("webapp_url")
    }
    ports = {s.port for s in state.services} | apps
    pids = {state.owner_pid, *(s.pid for s in state.services)}
    assert ports_held(ports, pids | set(traces(demo_run.home))) == {}
    twice = demo_cli(demo_run.home, "sandbox", "down")
    assert (twice.returncode, twice.stdout) == (0, "no sandbox is running\n")
