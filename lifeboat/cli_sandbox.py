"""``lifeboat sandbox up|down|status|seed``: the real local services, kept running between commands.

SMTP and the webhook receiver are threads of whichever process starts the sandbox, so
``up`` starts a small detached keeper process (``python -m lifeboat.cli_sandbox SERVE``)
that owns every service until ``down`` signals it. State lives in
``LIFEBOAT_HOME/sandbox/sandbox.json``; ``up`` prints the environment to export.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from lifeboat.console import EXIT_FAILED, EXIT_INVALID, err, fail, out
from lifeboat.sandbox import Sandbox, SandboxError, read_state, status
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.state import down as stop_processes
from lifeboat.sandbox.state import state_path
from lifeboat.settings import Settings

START_TIMEOUT_S = 60


def sandbox_dir(settings: Settings) -> Path:
    return settings.home / "sandbox"


def _healthy(directory: Path) -> bool:
    if not state_path(directory).exists():
        return False
    return all(health == "running" for health in status(directory).values())


def up(directory: Path) -> None:
    if not _healthy(directory):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        log = directory / "keeper.log"
        with log.open("ab") as sink:
            subprocess.Popen(
                [sys.executable, "-m", "lifeboat.cli_sandbox", str(directory)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(directory):
            if time.monotonic() > deadline:
                fail(f"the sandbox did not come up within {START_TIMEOUT_S} s; see {log}")
            time.sleep(0.2)
    state = read_state(directory)
    err.print(f"sandbox up in {directory}; to use it:")
    for name, value in state.env.items():
        out.print(f"export {name}={value}", markup=False)


def down(directory: Path) -> None:
    if not state_path(directory).exists():
        out.print("no sandbox is running")
        return
    keeper = read_state(directory).owner_pid
    with contextlib.suppress(ProcessLookupError):  # the keeper is gone already
        os.kill(keeper, signal.SIGTERM)
    for _ in range(50):  # the keeper removes the state file, then exits: wait for both
        if not state_path(directory).exists() and not pid_alive(keeper):
            break
        time.sleep(0.1)
    if state_path(directory).exists():  # the keeper died uncleanly: stop what it left
        for name, what in stop_processes(directory).items():
            out.print(f"{name}: {what}")
    out.print("sandbox stopped")


def show(directory: Path) -> None:
    if not state_path(directory).exists():
        err.print("no sandbox is running")
        raise typer.Exit(EXIT_FAILED)
    state = read_state(directory)
    for record in state.services:
        out.print(f"{record.name:12} {status(directory)[record.name]:12} {record.url}")


def seed_runbooks(directory: Path, paths: list[Path]) -> None:
    """Build the world the runbooks describe on the running sandbox (see sandbox.seed)."""
    from lifeboat.console import load_or_exit
    from lifeboat.runbook import load
    from lifeboat.runbook.loader import discover
    from lifeboat.sandbox.seed import seed

    state = read_state(directory)
    paths = paths or [Path("runbooks")]
    files = list(discover(paths))
    if not files:
        fail(f"no runbook found in {', '.join(map(str, paths))}", EXIT_INVALID)
    runbooks = [load_or_exit(functools.partial(load, file)).runbook for file in files]
    seeded = seed(
        runbooks,
        s3_url=state.env["AWS_ENDPOINT_URL"],
        ssh_config=Path(state.env["LIFEBOAT_SSH_CONFIG"]),
    )
    out.print(
        f"seeded {len(files)} runbooks: {len(seeded.buckets)} buckets created, "
        f"{seeded.objects} objects written, {len(seeded.aliases)} hosts mapped to sandbox sites"
    )
    for address, site in sorted(seeded.aliases.items()):
        out.print(f"  {address} -> {site}", markup=False)


def sandbox_command(
    action: Annotated[str, typer.Argument(help="up, down, status or seed")],
    runbooks: Annotated[
        list[Path] | None, typer.Argument(help="seed: runbook files or folders (./runbooks)")
    ] = None,
) -> None:
    """Start, stop, show or seed the local sandbox: S3 (two regions), sshd sites, SMTP, webhooks.

    ``seed`` builds what the runbooks declare: backup buckets with nightly dumps in their
    regions, and SSH aliases from each host's address to a sandbox sshd site.
    """
    directory = sandbox_dir(Settings())
    actions = {"up": up, "down": down, "status": show}
    if action not in (*actions, "seed"):
        fail(f"unknown action {action!r}: use up, down, status or seed", EXIT_INVALID)
    if runbooks and action != "seed":
        fail(f"{action} takes no runbook arguments", EXIT_INVALID)
    try:
        if action == "seed":
            seed_runbooks(directory, runbooks or [])
        else:
            actions[action](directory)
    except SandboxError as exc:
        fail(str(exc))


def keep(directory: Path) -> None:
    """The keeper: own every service until SIGTERM, then stop them all."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Sandbox(directory, die_with_parent=False):
        stop.wait()


if __name__ == "__main__":
    keep(Path(sys.argv[1]))
