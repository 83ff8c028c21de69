"""Which processes belong to a sandbox directory (``owned.find``) and stopping them all
(``owned.sweep``), on real processes: marked ones, a real site web app, strangers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeboat.sandbox import owned, webapp
from lifeboat.sandbox.ports import free_port
from lifeboat.sandbox.process import OWNER_VAR, descendants, pid_alive
from tests.waiting import wait_until

SLEEP = [sys.executable, "-c", "import time; time.sleep(300)"]
WEBAPP = str(Path(webapp.__file__).resolve())


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed at the end whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        for pid in descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def start(
    procs: list[subprocess.Popen[bytes]], argv: list[str], *, mark: Path | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if mark is not None:
        env[OWNER_VAR] = owned.owner_key(mark)
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    procs.append(proc)
    return proc


def test_find_counts_marked_processes_their_children_and_site_apps_only(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    box = tmp_path / "sandbox"
    root = box / "ssh" / "site-b" / "root"
    root.mkdir(parents=True)
    marked = start(procs, ["sh", "-c", f"env -u {OWNER_VAR} sleep 300 & wait"], mark=box)
    port = free_port()
    options = ["--site", "site-b", "--root", str(root), "--port", str(port)]
    app = start(
        procs, [sys.executable, "-I", WEBAPP, *options, "--pidfile", str(root / "webapp.pid")]
    )
    # Strangers: a path of the sandbox merely mentioned, another sandbox's mark.
    reader = start(procs, ["sh", "-c", "sleep 300", str(box / "keeper.log")])
    other = start(procs, SLEEP, mark=tmp_path / "other")
    child = wait_until(lambda: descendants(marked.pid), "the marked shell started its child")[0]
    wait_until((root / "webapp.pid").exists, "the web app listens")

    found = {p.pid: p for p in owned.find(box)}

    assert set(found) == {marked.pid, child, app.pid}
    assert found[app.pid].what == "web app site-b" and found[app.pid].ports == (port,)
    assert str(found[app.pid]) == f"web app site-b (pid {app.pid}, listening on {port})"
    assert reader.pid not in found and other.pid not in found
    assert [p.pid for p in owned.find(tmp_path / "other")] == [other.pid]


def test_a_keeper_is_known_by_its_command_line_even_without_the_mark(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    box = tmp_path / "sandbox"
    box.mkdir()
    # The keeper's command line, as a keeper started before the mark existed has it.
    keeper = start(procs, [*SLEEP, "-m", owned.KEEPER_MODULE, str(box)])
    wait_until(lambda: owned.is_keeper(keeper.pid, box), "the keeper-like process runs")
    assert [(p.pid, p.what) for p in owned.find(box)] == [(keeper.pid, "keeper")]
    assert not owned.is_keeper(keeper.pid, tmp_path / "elsewhere")


def test_the_process_that_looks_is_never_counted(tmp_path: Path) -> None:
    """``down`` run from inside the sandbox's world (its own mark) must not kill itself."""
    script = "import os, sys; from pathlib import Path; from lifeboat.sandbox import owned\n"
    script += "print(os.getpid(), [p.pid for p in owned.find(Path(sys.argv[1]))])"
    env = {**os.environ, OWNER_VAR: owned.owner_key(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pid, found = result.stdout.split(" ", 1)
    assert found.strip() == "[]", (pid, found)


def test_sweep_stops_every_process_even_one_that_ignores_sigterm(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    stubborn += "print('ready', flush=True); time.sleep(300)"
    ignoring = subprocess.Popen(
        [sys.executable, "-c", stubborn],
        env={**os.environ, OWNER_VAR: owned.owner_key(tmp_path)},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    procs.append(ignoring)
    assert ignoring.stdout is not None and ignoring.stdout.readline() == b"ready\n"
    plain = start(procs, SLEEP, mark=tmp_path)

    found, survivors = owned.sweep(tmp_path, timeout=2.0)

    assert {p.pid for p in found} == {ignoring.pid, plain.pid}
    assert survivors == []
    assert not pid_alive(ignoring.pid) and not pid_alive(plain.pid)
    assert owned.sweep(tmp_path, timeout=2.0) == ([], [])
