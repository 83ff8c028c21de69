"""The keeper's ``stop`` and ``start`` when a sandbox was not left cleanly: a hung keeper, a
keeper that dies at start, a process that will not die, a Prefect server that ran before."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.sandbox import SandboxError, keeper
from lifeboat.sandbox.owned import Owned
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.state import (
    ADOPTED,
    SandboxState,
    ServiceRecord,
    read_state,
    state_path,
    write_state,
)
from tests.lifeboat.sandbox.traces import ports_held, traces

LIFEBOAT = Path(sys.executable).parent / "lifeboat"


def sandbox_up(home: Path) -> SandboxState:
    """``lifeboat sandbox up`` as a user runs it: the keeper is not a child of this process."""
    up = subprocess.run(
        [str(LIFEBOAT), "sandbox", "up"],
        env={**os.environ, "LIFEBOAT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    return read_state(home / "sandbox")


def test_down_stops_a_hung_keeper_and_everything_it_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's ghosts: a keeper that does not answer SIGTERM, its four in-process ports,
    and a web app a runbook started over SSH; ``stop`` waits for the keeper, then stops all."""
    state = sandbox_up(tmp_path)
    directory = tmp_path / "sandbox"
    try:
        ssh_config = state.env["LIFEBOAT_SSH_CONFIG"]
        started = subprocess.run(
            ["ssh", "-F", ssh_config, "site-b", "systemctl", "start", "webapp"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        os.kill(state.owner_pid, signal.SIGSTOP)  # hung: SIGTERM stays pending
        monkeypatch.setattr(keeper, "STOP_TIMEOUT_S", 0.5)  # no need to wait for a hung one

        stopped = keeper.stop(directory)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.owner_pid, signal.SIGCONT)
        keeper.stop(directory)

    assert stopped.found and stopped.survivors == []
    left = {p.what: p for p in stopped.leftovers}
    assert {"keeper", "s3", "sshd:site-a", "sshd:site-b", "web app site-b"} <= set(left)
    in_process = {s.port for s in state.services if s.kind == "in-process"}
    assert set(left["keeper"].ports) == in_process and len(in_process) == 4
    app_port = int(state.env["LIFEBOAT_SANDBOX_WEBAPP_SITE_B"].rsplit(":", 1)[1])
    assert left["web app site-b"].ports == (app_port,)
    assert traces(tmp_path) == {}
    recorded = {s.port for s in state.services} | {app_port}
    assert ports_held(recorded, {p.pid for p in stopped.leftovers}) == {}
    assert not state_path(directory).exists()


def test_a_keeper_that_dies_at_start_is_reported_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken" / "lifeboat"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)  # python -m puts the working directory first in sys.path
    monkeypatch.setenv("PYTHONPATH", str(broken.parent))
    directory = tmp_path / "home" / "sandbox"

    with pytest.raises(SandboxError) as info:
        keeper.start(directory)

    log = directory / "keeper.log"
    assert str(info.value) == f"the sandbox keeper exited with code 3; see {log}"
    assert traces(directory) == {}


def test_start_refuses_to_start_afresh_while_a_process_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = Owned(4242, "keeper", (40001, 40002))
    monkeypatch.setattr(keeper, "stop", lambda d: keeper.Stopped(True, [stuck], [stuck]))
    (tmp_path / "mail").mkdir()

    with pytest.raises(SandboxError) as info:
        keeper.start(tmp_path)

    assert str(info.value) == (
        f"cannot start a fresh sandbox in {tmp_path}: still running: "
        "keeper (pid 4242, listening on 40001, 40002)"
    )
    assert (tmp_path / "mail").is_dir()  # its data stays while something still uses it


def test_stop_leaves_a_prefect_server_that_ran_before_the_sandbox(tmp_path: Path) -> None:
    with subprocess.Popen(["sh", "-c", "sleep 300", "prefect", "server start"]) as server:
        record = ServiceRecord(
            name=keeper.PREFECT,
            kind="process",
            host="127.0.0.1",
            port=1,
            pid=server.pid,
            marker="server start",
            details={ADOPTED: "running before the sandbox"},
        )
        state = SandboxState(
            state_dir=tmp_path,
            owner_pid=2**22,  # above any pid Linux hands out: a keeper long gone
            started_at=0.0,
            services=[record],
            env={},
        )
        write_state(tmp_path, state)
        try:
            stopped = keeper.stop(tmp_path)
            assert stopped.found and stopped.leftovers == [] and stopped.survivors == []
            assert pid_alive(server.pid)
            assert not state_path(tmp_path).exists()
        finally:
            server.kill()
