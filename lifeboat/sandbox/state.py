"""``<dir>/sandbox.json``: what a running sandbox consists of, for another process to read.

``lifeboat sandbox up`` starts services and returns; ``status`` and ``down`` run later in
other processes and know nothing but this file. It records, per service, the pid, port,
URL, log and a *marker*: text that must appear in ``/proc/PID/cmdline`` before ``down``
kills that pid, so a stale file can never make us kill an unrelated process that reused it.

Two kinds of service:
- ``process`` (moto, each sshd): a child process with its own pid, stoppable by pid;
- ``in-process`` (SMTP, HTTP receiver): a thread inside the process that started the
  sandbox, recorded with that owner's pid; they stop when the owner stops, and ``down``
  here does not kill the owner. ``lifeboat sandbox down`` (``keeper.stop``) does, when the
  owner is a sandbox keeper, and also stops what no record names (``owned.py``).

The file holds paths, ports and pids, and the environment ``up`` prints, which includes the
sandbox's stand-in channel secrets (the on-call webhook's token): so it is written with mode
0600, like the throwaway SSH keys it points to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from lifeboat.sandbox.errors import SandboxError
from lifeboat.sandbox.ports import tcp_open
from lifeboat.sandbox.process import pid_alive, pid_cmdline, terminate_pid

STATE_FILE = "sandbox.json"
Kind = Literal["process", "in-process"]
Health = Literal["running", "unreachable", "stopped"]
#: In a record's details: a process that ran before the sandbox (a Prefect server the keeper
#: found running); nothing here stops it.
ADOPTED = "adopted"


class ServiceRecord(BaseModel):
    """One service as ``status`` and ``down`` need it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Kind
    host: str
    port: int
    pid: int
    marker: str = ""
    url: str = ""
    log: Path | None = None
    details: dict[str, str] = {}


class SandboxState(BaseModel):
    """Everything in ``sandbox.json``; ``env`` is what ``Sandbox.env()`` returned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    state_dir: Path
    owner_pid: int
    started_at: float
    services: list[ServiceRecord]
    env: dict[str, str]


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def write_state(state_dir: Path, state: SandboxState) -> Path:
    """Write ``sandbox.json`` atomically (temp file + rename); return its path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(state_dir)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def read_state(state_dir: Path) -> SandboxState:
    """Read ``sandbox.json``; ``SandboxError`` if there is none or it is not ours."""
    path = state_path(state_dir)
    try:
        return SandboxState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise SandboxError(f"no sandbox state at {path}: is the sandbox up?") from None
    except (OSError, ValidationError, json.JSONDecodeError) as exc:
        raise SandboxError(f"unreadable sandbox state {path}: {exc}") from exc


def owns(record: ServiceRecord) -> bool:
    """Whether ``record.pid`` still is the process the record describes."""
    if not pid_alive(record.pid):
        return False
    if record.kind == "in-process":
        return True
    return bool(record.marker) and record.marker in pid_cmdline(record.pid)


def health(record: ServiceRecord) -> Health:
    """``running`` (process there and port answering), ``unreachable`` or ``stopped``."""
    if not owns(record):
        return "stopped"
    return "running" if tcp_open(record.host, record.port) else "unreachable"


def status(state_dir: Path) -> dict[str, Health]:
    """Health of every recorded service, by name."""
    return {record.name: health(record) for record in read_state(state_dir).services}


def down(state_dir: Path, timeout: float = 5.0) -> dict[str, str]:
    """Stop every ``process`` service recorded in ``state_dir``; say what became of each.

    ``in-process`` services are reported, not stopped: they belong to their owner process.
    The state file is removed once nothing it lists is still running.
    """
    state = read_state(state_dir)
    outcome: dict[str, str] = {}
    for record in state.services:
        if record.kind == "in-process":
            alive = pid_alive(record.pid)
            outcome[record.name] = f"in process {record.pid}" if alive else "stopped"
        elif ADOPTED in record.details:
            outcome[record.name] = "left running (it was running before the sandbox)"
        elif owns(record) and terminate_pid(record.pid, expect=record.marker, timeout=timeout):
            outcome[record.name] = "stopped"
        else:
            outcome[record.name] = "was not running"
    if all(health(r) == "stopped" for r in state.services if ADOPTED not in r.details):
        state_path(state_dir).unlink(missing_ok=True)
    return outcome
