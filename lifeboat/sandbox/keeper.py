"""The keeper: one detached process that owns a sandbox between commands.

SMTP, the webhook receiver and the entry point are threads of whichever process starts the
sandbox, so ``lifeboat sandbox up`` (and ``lifeboat demo``) start a small detached process,
``python -m lifeboat.sandbox.keeper DIR [prefect]``, that owns every service until
``stop`` signals it. With ``prefect`` it also runs the local Prefect server (UI included,
``lifeboat.server``), started while the other services start and recorded in
``sandbox.json`` as the service ``prefect``; it stops that server on the way out unless
the server was already running before.

Nothing here prints: the commands that call it decide what the user sees.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from lifeboat.sandbox import Sandbox, SandboxError, read_state, status
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.state import SandboxState, ServiceRecord, state_path, write_state
from lifeboat.sandbox.state import down as stop_processes
from lifeboat.settings import Settings

START_TIMEOUT_S = 90  # the Prefect server alone may take 15 s on a busy 2-CPU machine
STOP_TIMEOUT_S = 15
PREFECT = "prefect"  # the service name of the Prefect server a keeper runs


def healthy(directory: Path, *, prefect: bool = False) -> bool:
    """Every recorded service answers (and, with ``prefect``, the Prefect server is one)."""
    if not state_path(directory).exists():
        return False
    health = status(directory)
    return all(h == "running" for h in health.values()) and (not prefect or PREFECT in health)


def start(directory: Path, *, prefect: bool = False) -> SandboxState:
    """The running sandbox in ``directory``, started by a new keeper unless healthy already.

    A sandbox that is up but unhealthy, or without the Prefect server asked for, is stopped
    first: two keepers must never share a directory.
    """
    if healthy(directory, prefect=prefect):
        return read_state(directory)
    if state_path(directory).exists():
        stop(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = directory / "keeper.log"
    argv = [sys.executable, "-m", "lifeboat.sandbox.keeper", str(directory)]
    with log.open("ab") as sink:
        subprocess.Popen(
            [*argv, *([PREFECT] if prefect else [])],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not healthy(directory, prefect=prefect):
        if time.monotonic() > deadline:
            raise SandboxError(f"the sandbox did not come up within {START_TIMEOUT_S} s; see {log}")
        time.sleep(0.2)
    return read_state(directory)


def stop(directory: Path) -> dict[str, str]:
    """Stop the sandbox in ``directory``; what became of each service the keeper left behind
    (empty when the keeper stopped everything itself)."""
    if not state_path(directory).exists():
        return {}
    keeper = read_state(directory).owner_pid
    with contextlib.suppress(ProcessLookupError):  # the keeper is gone already
        os.kill(keeper, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    # The keeper removes the state file, then exits: wait for both.
    while state_path(directory).exists() or pid_alive(keeper):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if state_path(directory).exists():  # the keeper died uncleanly: stop what it left
        return stop_processes(directory)
    return {}


def keep(directory: Path, *, prefect: bool = False) -> None:
    """Own every service until SIGTERM (or SIGINT), then stop them all."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server = PrefectPart(Settings()) if prefect else None
    if server is not None:
        server.launch()  # its ~10 s start-up overlaps the other services'
    try:
        with Sandbox(directory, die_with_parent=False) as sandbox:
            if server is not None:
                state = sandbox.state()
                services = [*state.services, server.record()]
                write_state(directory, state.model_copy(update={"services": services}))
            stopping.wait()
    finally:
        if server is not None:
            server.stop()


class PrefectPart:
    """The local Prefect server as one more sandbox service, started in a thread."""

    def __init__(self, settings: Settings) -> None:
        from lifeboat import server

        self.settings = settings
        self.adopted = server.running(settings)  # a server running already stays running
        self.state = self.adopted
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="prefect-start", daemon=True)

    def launch(self) -> None:
        if self.state is None:
            self._thread.start()

    def _start(self) -> None:
        from lifeboat import server

        try:
            self.state = server.start(self.settings)
        except Exception as exc:  # raised again by record(), in the keeper
            self.error = exc

    def record(self) -> ServiceRecord:
        """The server as ``sandbox.json`` lists it (URL: its UI); waits for its start."""
        if self._thread.is_alive():
            self._thread.join()
        if self.state is None:
            raise SandboxError(f"the Prefect server did not start: {self.error}")
        address = urlsplit(self.state.url)
        return ServiceRecord(
            name=PREFECT,
            kind="process",
            host=address.hostname or "127.0.0.1",
            port=address.port or 80,
            pid=self.state.pid,
            marker="server start",
            url=self.state.url.removesuffix("/api"),
            log=Path(self.state.log),
        )

    def stop(self) -> None:
        from lifeboat import server

        if self._thread.is_alive():
            self._thread.join()
        if self.adopted is None and self.state is not None:
            server.stop(self.settings)


if __name__ == "__main__":
    keep(Path(sys.argv[1]), prefect=sys.argv[2:] == [PREFECT])
