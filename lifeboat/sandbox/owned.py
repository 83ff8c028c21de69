"""Every process of a sandbox directory, found in /proc, and stopping them for good.

``down`` used to trust the keeper to stop everything and ``sandbox.json`` to name the rest.
A keeper that hung or was killed, a state file a fresh start had deleted, a Prefect server
slow to exit, a web app a runbook started over SSH: each could run on with nothing left
that knew of it, holding its ports and its data (issue 18). So ``down`` and ``up`` look at
the processes themselves. A process belongs to the sandbox in ``DIR`` when:

- its environment holds ``LIFEBOAT_SANDBOX_OWNER=DIR`` (``process.OWNER_VAR``, ``DIR`` real
  and absolute): the keeper is started with it and every process it starts inherits it
  (moto, each sshd and its per-connection processes, the Prefect server it starts);
- its command line is the keeper's for ``DIR`` (also a keeper started before the mark
  existed), an sshd's whose config is under ``DIR``, or a site web app's whose pidfile is
  under ``DIR``: SSH sessions start with a clean environment, so the mark does not reach
  what runbooks start on the sites;
- or it descends from one of those (SSH sessions, their shells, ``sftp-server``).

A path merely mentioned is not enough (``less DIR/keeper.log`` is the user's, not ours), and
this process and its ancestors are never counted: ``down`` must not kill its own shell.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lifeboat.sandbox.process import (
    OWNER_VAR,
    ancestors,
    descendants,
    listening_ports,
    pid_alive,
    process_table,
    terminate_all,
)

KEEPER_MODULE = "lifeboat.sandbox.keeper"
WEBAPP_SCRIPT = "webapp.py"
_ROUNDS = 3  # a keeper killed mid-start may have started one more child meanwhile


@dataclass(frozen=True)
class Owned:
    """One process of a sandbox: what it is (for people) and the TCP ports it listens on."""

    pid: int
    what: str
    ports: tuple[int, ...] = ()

    def __str__(self) -> str:
        ports = f", listening on {', '.join(map(str, self.ports))}" if self.ports else ""
        return f"{self.what} (pid {self.pid}{ports})"


def owner_key(directory: Path) -> str:
    """The value of ``OWNER_VAR`` for the sandbox in ``directory``."""
    return os.path.realpath(directory)


def _roots(directory: Path) -> frozenset[str]:
    return frozenset({owner_key(directory), os.path.abspath(directory)})


def _read(pid: int, name: str) -> bytes:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes()
    except OSError:  # gone, or another user's
        return b""


def _argv(pid: int) -> list[str]:
    return [arg.decode(errors="replace") for arg in _read(pid, "cmdline").split(b"\0") if arg]


def _after(argv: list[str], flag: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return argv[argv.index(flag) + 1]
    return None


def _under(path: str | None, roots: frozenset[str]) -> bool:
    return path is not None and any(path == r or path.startswith(r + "/") for r in roots)


def role(argv: list[str], roots: frozenset[str]) -> str | None:
    """What a command line is to the sandbox rooted at ``roots`` (keeper, sshd, web app)."""
    if KEEPER_MODULE in argv:
        directory = _after(argv, KEEPER_MODULE)
        return "keeper" if directory and os.path.realpath(directory) in roots else None
    if any(Path(arg).name == WEBAPP_SCRIPT for arg in argv[:3]):
        site = _after(argv, "--site") or "?"
        return f"web app {site}" if _under(_after(argv, "--pidfile"), roots) else None
    words = " ".join(argv).split()  # sshd rewrites its title into one string with spaces
    if words and (words[0].startswith("sshd") or Path(words[0]).name == "sshd"):
        config = _after(words, "-f")
        return f"sshd {Path(config).parent.name}" if config and _under(config, roots) else None
    return None


def is_keeper(pid: int, directory: Path) -> bool:
    """Whether ``pid`` runs and is the keeper of the sandbox in ``directory``."""
    return pid_alive(pid) and role(_argv(pid), _roots(directory)) == "keeper"


def _label(argv: list[str]) -> str:
    """A short name for a marked process, for people (its command line, cut short)."""
    if "moto.server" in argv:
        return "s3 (moto)"
    if any(Path(arg).name == "prefect" for arg in argv[:2]) and "server" in argv:
        return "Prefect server"
    text = " ".join(argv)
    return text if len(text) <= 60 else text[:59] + "…"


def find(directory: Path, *, also: Mapping[int, str] | None = None) -> list[Owned]:
    """Every live process of the sandbox in ``directory`` (see the module docstring).

    ``also``: more pids to count and how to name them, the processes ``sandbox.json``
    records (already checked to be themselves by the caller).
    """
    roots = _roots(directory)
    mark = f"{OWNER_VAR}={owner_key(directory)}".encode()
    table = process_table()
    spared = {os.getpid(), *ancestors(os.getpid(), table)}
    names: dict[int, str] = {}
    for pid in table:
        if pid in spared or not pid_alive(pid):
            continue
        argv = _argv(pid)
        what = (also or {}).get(pid) or role(argv, roots)
        if what is None and mark in _read(pid, "environ").split(b"\0"):
            what = _label(argv)
        if what is not None:
            names[pid] = what
    for pid in list(names):
        for child in descendants(pid, table):
            if child not in spared and child not in names and pid_alive(child):
                names[child] = _label(_argv(child))
    return [Owned(pid, what, tuple(listening_ports(pid))) for pid, what in names.items()]


def sweep(
    directory: Path, *, also: Mapping[int, str] | None = None, timeout: float
) -> tuple[list[Owned], list[Owned]]:
    """Stop every process of the sandbox in ``directory``: SIGTERM, SIGKILL after
    ``timeout``; returns what was found, and what still runs after all that."""
    found: dict[int, Owned] = {}
    for _ in range(_ROUNDS):
        batch = find(directory, also=also)
        also = None  # the recorded pids are dead now: a new process may reuse one
        if not batch:
            return list(found.values()), []
        found.update((p.pid, p) for p in batch)
        if terminate_all([p.pid for p in batch], timeout=timeout):
            break  # stuck in the kernel: another round would not do better
    return list(found.values()), find(directory)
