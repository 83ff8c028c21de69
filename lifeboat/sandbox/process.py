"""Child processes for the sandbox: start in their own session, health-check, stop for good.

Real services (moto, sshd) run as separate processes so that a test can kill one and watch
Lifeboat cope, and so that ``lifeboat sandbox down`` in another process can stop them by
pid. Four rules keep a machine clean, even when a test fails or pytest is killed:

- each child starts in a new session (its own process group, no terminal signals);
- with ``die_with_parent`` the child is started through ``setpriv --pdeathsig TERM``, so
  the kernel sends it SIGTERM when the thread that started it dies (pytest killed with
  SIGKILL included). Start services from the main thread: the signal follows the *thread*;
- ``stop`` terminates the process *and its descendants* (sshd forks one child per
  connection, in a session of its own), waits, then SIGKILLs whatever is left;
- a child of a sandbox keeper carries the keeper's ``OWNER_VAR`` in its environment, the
  mark by which ``owned.py`` finds every process of a sandbox that nothing records any more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self

from lifeboat.sandbox.errors import SandboxError, ServiceStartError, log_tail
from lifeboat.sandbox.lifecycle import StartStop
from lifeboat.sandbox.ports import LOOPBACK, free_port, wait_until

_PROC = Path("/proc")
_PORT_ATTEMPTS = 3
#: Set by ``keeper.start`` in the keeper's environment to its sandbox directory. Every process
#: the keeper starts inherits it (``spawn`` passes it on even to a child given its own
#: environment), so ``down`` finds them all in /proc, whatever became of the keeper.
OWNER_VAR = "LIFEBOAT_SANDBOX_OWNER"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid is [1])."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def pid_cmdline(pid: int) -> str:
    """The command line of ``pid`` joined by spaces ("" when it is gone)."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()


def process_table() -> dict[int, int]:
    """Every live process on this machine (zombies included), mapped to its parent's pid."""
    table: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            table[int(entry.name)] = int(fields[1])
    return table


def descendants(pid: int, table: dict[int, int] | None = None) -> list[int]:
    """Every live process whose parent chain leads to ``pid``, children first."""
    parents: dict[int, list[int]] = {}
    for child, parent in (process_table() if table is None else table).items():
        parents.setdefault(parent, []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def ancestors(pid: int, table: dict[int, int] | None = None) -> set[int]:
    """``pid``'s parent, its parent's parent, and so on up to init."""
    table = process_table() if table is None else table
    found: set[int] = set()
    while (pid := table.get(pid, 0)) > 0 and pid not in found:
        found.add(pid)
    return found


def _listening_sockets(*, loopback_only: bool) -> dict[str, int]:
    """``socket:[INODE]`` -> port of every listening TCP socket (IPv4, and IPv6 unless
    ``loopback_only``, which keeps the IPv4 ones on 127.0.0.1 that sandbox services use)."""
    found: dict[str, int] = {}
    for table in ("tcp",) if loopback_only else ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, _, port = fields[1].rpartition(":")
            if fields[3] == "0A" and (address == "0100007F" or not loopback_only):  # 0A: LISTEN
                found[f"socket:[{fields[9]}]"] = int(port, 16)
    return found


def _sockets_of(pid: int) -> list[str]:
    """What the open file descriptors of ``pid`` point to (``socket:[INODE]`` for sockets)."""
    try:
        fds = list((_PROC / str(pid) / "fd").iterdir())
    except OSError:
        return []
    links = []
    for fd in fds:
        with contextlib.suppress(OSError):
            links.append(os.readlink(fd))
    return links


def listens_on(pid: int, port: int) -> bool:
    """Whether ``pid`` itself holds a listening TCP socket on loopback ``port``.

    A probe alone cannot tell our server from another one on the same port (a stale
    server, or one that won the race for a "free" port): this asks the kernel who owns it.
    """
    sockets = _listening_sockets(loopback_only=True)
    return any(sockets.get(link) == port for link in _sockets_of(pid))


def listening_ports(pid: int) -> list[int]:
    """The TCP ports ``pid`` listens on (any address), sorted."""
    sockets = _listening_sockets(loopback_only=False)
    return sorted({sockets[link] for link in _sockets_of(pid) if link in sockets})


def listeners(port: int) -> set[int]:
    """The pids holding a listening TCP socket on ``port`` (that this user may inspect)."""
    sockets = _listening_sockets(loopback_only=False)
    wanted = {link for link, bound in sockets.items() if bound == port}
    if not wanted:
        return set()
    return {pid for pid in process_table() if wanted.intersection(_sockets_of(pid))}


def terminate_pid(pid: int, *, expect: str | None = None, timeout: float = 5.0) -> bool:
    """SIGTERM ``pid`` and its descendants, SIGKILL them after ``timeout``; True if it ran.

    ``expect`` guards against pid reuse when stopping from a state file written long ago:
    the process is left alone unless its command line contains that text.
    """
    if not pid_alive(pid) or (expect is not None and expect not in pid_cmdline(pid)):
        return False
    terminate_all([*descendants(pid), pid], timeout=timeout)
    return True


def terminate_all(pids: list[int], *, timeout: float = 5.0) -> list[int]:
    """SIGTERM every pid, SIGKILL those still alive after ``timeout``, wait as long again;
    the pids that survived even that (a process stuck in the kernel), normally none."""
    targets = list(dict.fromkeys(pids))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for target in targets:
            if pid_alive(target):  # a pid gone already may be reused: never signal it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(t) for t in targets):
            time.sleep(0.02)
        if not any(pid_alive(t) for t in targets):
            return []
    return [t for t in targets if pid_alive(t)]


def spawn(
    argv: list[str], log_file: Path, *, env: dict[str, str] | None, die_with_parent: bool
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_file``;
    ``env`` None inherits ours, ``OWNER_VAR`` is always passed on."""
    if env is not None and OWNER_VAR in os.environ:
        env = {**env, OWNER_VAR: os.environ[OWNER_VAR]}
    setpriv = shutil.which("setpriv") if die_with_parent else None
    if setpriv is not None:
        argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_file.open("ab") as log:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
    except OSError as exc:
        raise SandboxError(f"cannot run {argv[0]}: {exc}") from exc


class _Exited(Exception):
    """The child died before it became ready (internal to ``wait_ready``)."""


class ProcessService(StartStop, ABC):
    """One service in a child process, on a loopback port, with a log file.

    Subclasses say how to run it (``command``), what to write first (``prepare``) and how
    to tell it is ready (``probe``). ``launch`` and ``wait_ready`` are separate so that a
    composition can launch everything first and then wait: start-up times overlap.
    """

    service = "service"

    def __init__(
        self, log_file: Path, *, port: int | None, die_with_parent: bool, timeout: float
    ) -> None:
        self.log_file = log_file
        self.host = LOOPBACK
        self.die_with_parent = die_with_parent
        self.timeout = timeout
        self.startup_seconds: float | None = None
        self._fixed_port = port
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._launched_at = 0.0

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that runs the service in the foreground on ``self.port``."""

    @abstractmethod
    def probe(self) -> bool:
        """Whether the service answers like itself (not merely that the port is open)."""

    def prepare(self) -> None:
        """Write whatever the service reads at start (config, keys); port is chosen."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)

    def environment(self) -> dict[str, str] | None:
        """The child's environment; None inherits ours."""
        return None

    @property
    def port(self) -> int:
        if self._port is None:
            raise SandboxError(f"{self.service} has no port yet: call start() first")
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def launch(self) -> None:
        """Choose a port (unless fixed), prepare, and start the child; do not wait."""
        if self.running:
            raise SandboxError(f"{self.service} is already running (pid {self.pid})")
        self._reap()
        if self._fixed_port is None:
            self._port = free_port(self.host)
        self.prepare()
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._launched_at = time.monotonic()
        self._proc = spawn(
            self.command(),
            self.log_file,
            env=self.environment(),
            die_with_parent=self.die_with_parent,
        )

    def wait_ready(self) -> None:
        """Wait until ``probe`` passes; relaunch on a fresh port if ours was taken meanwhile.

        On failure the child is stopped and ``ServiceStartError`` carries the log's tail.
        """
        try:
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                what = f"{self.service} on {self.host}:{self.port}"
                try:
                    wait_until(self._ready_or_exited, self.timeout, what)
                except _Exited as exc:
                    tail = self._tail()
                    retry = self._fixed_port is None and attempt < _PORT_ATTEMPTS
                    if retry and "in use" in tail.lower():
                        self.launch()
                        continue
                    raise ServiceStartError(self.service, str(exc), self.log_file, tail) from None
                except SandboxError as exc:
                    raise ServiceStartError(
                        self.service, str(exc), self.log_file, self._tail()
                    ) from None
                self.startup_seconds = time.monotonic() - self._launched_at
                return
        except BaseException:
            self.stop()
            raise

    def start(self) -> Self:
        """Launch and wait until ready; returns self for ``x = Service(...).start()``."""
        self.launch()
        self.wait_ready()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child and its descendants and reap it; harmless when stopped."""
        if self._proc is None:
            return
        terminate_pid(self._proc.pid, timeout=timeout)
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _ready_or_exited(self) -> bool:
        if self._proc is None:
            raise _Exited("the process was not started")
        code = self._proc.poll()
        if code is not None:
            raise _Exited(f"the process exited with code {code}")
        return listens_on(self._proc.pid, self.port) and self.probe()

    def _tail(self) -> str:
        return log_tail(self.log_file, offset=self._log_offset)
