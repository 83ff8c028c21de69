"""The keeper: one detached process that owns a sandbox between commands.

SMTP, the webhook receiver and the entry point are threads of whichever process starts the
sandbox, so ``lifeboat sandbox up`` (and ``lifeboat demo``) start a small detached process,
``python -m lifeboat.sandbox.keeper DIR [prefect]``, that owns every service until
``stop`` signals it. With ``prefect`` it also runs the local Prefect server (UI included,
``lifeboat.server``), started while the other services start and recorded in
``sandbox.json`` as the service ``prefect``; it stops that server on the way out unless
the server was already running before.

The keeper is started with ``LIFEBOAT_SANDBOX_OWNER`` in its environment, inherited by every
process it starts, so ``stop`` finds them all (``owned.py``) whatever became of the keeper:
it asks the keeper to stop, waits, then stops what is left itself and says what survived.
A sandbox started afresh starts in an emptied directory: no site files, mails or webhooks
of an earlier one.

Nothing here prints: the commands that call it decide what the user sees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lifeboat.sandbox import Sandbox, SandboxError, read_state
from lifeboat.sandbox import owned as processes
from lifeboat.sandbox.owned import KEEPER_MODULE, Owned
from lifeboat.sandbox.process import OWNER_VAR, pid_alive
from lifeboat.sandbox.state import (
    ADOPTED,
    SandboxState,
    ServiceRecord,
    health,
    owns,
    state_path,
    write_state,
)
from lifeboat.settings import Settings

START_TIMEOUT_S = 90  # the Prefect server alone may take 15 s on a busy 2-CPU machine
STOP_TIMEOUT_S = 30  # the keeper's own orderly stop, a few seconds normally
KILL_TIMEOUT_S = 5  # then for each of SIGTERM and SIGKILL to whatever is left
PREFECT = "prefect"  # the service name of the Prefect server a keeper runs


@dataclass(frozen=True)
class Stopped:
    """What ``stop`` found and did; ``down`` says it."""

    found: bool  # a state file, a keeper or any process of the sandbox was there
    leftovers: list[Owned]  # processes the keeper had not stopped: ``stop`` stopped them
    survivors: list[Owned]  # still running after every deadline


def healthy(directory: Path, *, prefect: bool = False) -> bool:
    """Its keeper runs and every recorded service answers (with ``prefect``, the Prefect
    server among them); an unreadable state file is no healthy sandbox."""
    if not state_path(directory).exists():
        return False
    try:
        state = read_state(directory)
    except SandboxError:
        return False
    if not processes.is_keeper(state.owner_pid, directory):
        return False
    names = {record.name for record in state.services}
    running = all(health(record) == "running" for record in state.services)
    return running and (not prefect or PREFECT in names)


def start(directory: Path, *, prefect: bool = False, fresh: bool = False) -> SandboxState:
    """The running sandbox in ``directory``: kept when healthy (unless ``fresh``), else a new
    keeper starts one afresh.

    Afresh means: every process of the sandbox that still runs is stopped (``stop``; a
    sandbox half alive, or left by a demo), the directory is emptied, then a new keeper
    starts; two keepers never share a directory, and no data of an earlier sandbox is used.
    """
    directory = Path(os.path.abspath(directory))
    if not fresh and healthy(directory, prefect=prefect):
        return read_state(directory)
    left = stop(directory)
    if left.survivors:
        running = ", ".join(map(str, left.survivors))
        raise SandboxError(f"cannot start a fresh sandbox in {directory}: still running: {running}")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = directory / "keeper.log"
    argv = [sys.executable, "-m", KEEPER_MODULE, str(directory), *([PREFECT] if prefect else [])]
    with log.open("ab") as sink:
        keeper = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, OWNER_VAR: processes.owner_key(directory)},
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not healthy(directory, prefect=prefect):
        code = keeper.poll()
        if code is not None or time.monotonic() > deadline:
            stop(directory)  # nothing half-started stays behind
            if code is not None:
                raise SandboxError(f"the sandbox keeper exited with code {code}; see {log}")
            raise SandboxError(f"the sandbox did not come up within {START_TIMEOUT_S} s; see {log}")
        time.sleep(0.2)
    return read_state(directory)


def stop(directory: Path) -> Stopped:
    """Stop every process of the sandbox in ``directory`` and wait for them.

    The keeper is asked first (SIGTERM: it stops its services in order); what it leaves,
    or every process when it is dead or hung after ``STOP_TIMEOUT_S``, is stopped here:
    the processes ``sandbox.json`` records and those ``owned.find`` finds. The state file
    goes once nothing runs. A Prefect server running before ``up`` is left alone.
    """
    directory = Path(os.path.abspath(directory))
    had_state = state_path(directory).exists()
    found = processes.find(directory, also=_recorded(directory))
    keepers = [p.pid for p in found if processes.is_keeper(p.pid, directory)]
    for pid in keepers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(pid_alive(pid) for pid in keepers) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers, survivors = processes.sweep(
        directory, also=_recorded(directory), timeout=KILL_TIMEOUT_S
    )
    if not survivors and not _owner_alive(directory):  # never another's live sandbox
        state_path(directory).unlink(missing_ok=True)
    return Stopped(
        found=had_state or bool(found) or bool(leftovers),
        leftovers=leftovers,
        survivors=survivors,
    )


def _owner_alive(directory: Path) -> bool:
    """Whether the process ``sandbox.json`` names as its owner runs (False: no such file,
    or one nobody can read)."""
    try:
        return pid_alive(read_state(directory).owner_pid)
    except SandboxError:
        return False


def _recorded(directory: Path) -> dict[int, str]:
    """The processes ``sandbox.json`` records that still are themselves, by pid: the keeper
    and the process services, but not a Prefect server adopted by the keeper."""
    try:
        state = read_state(directory)
    except SandboxError:
        return {}
    found = {
        record.pid: record.name
        for record in state.services
        if record.kind == "process" and ADOPTED not in record.details and owns(record)
    }
    if processes.is_keeper(state.owner_pid, directory):
        found[state.owner_pid] = "keeper"
    return found


def keep(directory: Path, *, prefect: bool = False) -> None:
    """Own every service until SIGTERM (or SIGINT), then stop them all."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server = PrefectPart(Settings()) if prefect else None
    if server is not None:
        server.launch()  # its ~10 s start-up overlaps the other services'
    try:
        # die_with_parent: a keeper killed outright takes moto and sshd with it (the kernel
        # signals them); its threads' ports close with it.
        with Sandbox(directory, die_with_parent=True) as sandbox:
            if server is not None:
                state = sandbox.state()
                services = [*state.services, server.record()]
                write_state(directory, state.model_copy(update={"services": services}))
            stopping.wait()
    finally:
        if server is not None:
            server.stop()
        # What the orderly stop left (a Prefect server slow to exit, a process a runbook
        # started on a site): the keeper goes last, so once it is gone, all is gone.
        processes.sweep(directory, timeout=KILL_TIMEOUT_S)


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
            details={ADOPTED: "running before the sandbox"} if self.adopted else {},
        )

    def stop(self) -> None:
        from lifeboat import server

        if self._thread.is_alive():
            self._thread.join()
        if self.adopted is None and self.state is not None:
            server.stop(self.settings)


if __name__ == "__main__":
    keep(Path(sys.argv[1]), prefect=sys.argv[2:] == [PREFECT])
