"""``lifeboat sandbox up|status|down`` as a user runs them: real processes, state on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lifeboat.sandbox.process import pid_alive

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
