"""Helpers of the process-fault tests (``test_processes.py``): a Prefect server of their own
that can be stopped and started again on the same port, sshd sites killed and restarted,
``lifeboat run`` processes, runbooks whose steps leave a line on a site (what the journals
hold is read with ``support.py``).

Every side effect of these runbooks is one line appended to a file in a site's root, so a
test counts what really ran where it ran, not what the journal says ran.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import warnings
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lifeboat import server
from lifeboat.sandbox.process import descendants, pid_alive
from lifeboat.sandbox.sshd import SshdSite, SshdSites
from lifeboat.settings import Settings
from tests.conftest import LIFEBOAT_CLI
from tests.faults.support import events, journals
from tests.waiting import wait_until

# --- a Prefect server of our own -----------------------------------------------------------


@dataclass
class OwnPrefect:
    """``lifeboat server``'s real ``prefect server start`` (SQLite under ``home``)."""

    settings: Settings
    url: str = ""

    @property
    def port(self) -> int:
        return int(httpx.URL(self.url).port or 0)

    def start(self, port: int | None = None) -> None:
        with warnings.catch_warnings():  # start() leaves the server running, on purpose
            warnings.simplefilter("ignore", ResourceWarning)
            self.url = server.start(self.settings, port=port).url

    def stop(self) -> None:
        """Stop it (SIGTERM to its process group) and wait until its port is free.

        The server is a child of this process: a thread reaps it as soon as it exits, or
        ``server.stop`` would see the zombie as alive and wait out its whole grace period.
        """
        port = self.port
        state = server.running(self.settings)
        if state is not None:
            threading.Thread(target=_reap, args=(state.pid,), daemon=True).start()
        server.stop(self.settings)
        wait_until(lambda: not _listening(port), f"the Prefect server freed port {port}")

    def restart(self) -> None:
        """Start it again on the same port: clients that know its URL reach the new one."""
        self.start(port=self.port)

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/flow_runs/{run_id}", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def active_slots(self, limit: str) -> int:
        """Slots taken of a global concurrency limit (a lock is ``lifeboat:<lock>``)."""
        response = httpx.get(f"{self.url}/v2/concurrency_limits/{limit}", timeout=10)
        response.raise_for_status()
        return int(response.json()["active_slots"])

    def flow_runs_since(self, moment: str) -> list[dict[str, Any]]:
        """Runbook flow runs that started after ``moment`` (ISO 8601), as the API lists them."""
        body = {
            "flows": {"name": {"any_": ["lifeboat-runbook"]}},
            "flow_runs": {"start_time": {"after_": moment}},
            "limit": 200,
        }
        response = httpx.post(f"{self.url}/flow_runs/filter", json=body, timeout=10)
        response.raise_for_status()
        runs: list[dict[str, Any]] = response.json()
        return runs


def _reap(pid: int) -> None:
    with suppress(ChildProcessError):  # not our child, or reaped already
        os.waitpid(pid, 0)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- sshd sites ------------------------------------------------------------------------------


def kill_sshd(site: SshdSite) -> list[int]:
    """SIGKILL a site's sshd and every process under it (the session's sshd, the shell and
    the command it runs), as a crashed host would; the pids killed, sshd first."""
    assert site.pid is not None, f"{site.service} is not running"
    targets = [site.pid, *descendants(site.pid)]
    for pid in targets:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: not any(pid_alive(p) for p in targets),
        f"{site.service} and its sessions died after SIGKILL",
        timeout=10,
    )
    return targets


def restart_site(sites: SshdSites, name: str) -> None:
    """Start a killed site again on its port with its host key: the session's endpoints,
    known_hosts and ssh_config stay right for every later test."""
    site = sites[name]
    port, known_hosts = site.port, sites.known_hosts.read_text()
    site.stop()  # reaps the killed process
    site._fixed_port = site._port = port  # as rotate_host_key does
    site.start()
    sites.write_client_files()
    assert site.port == port and site.probe(), f"{site.service} did not come back on {port}"
    assert sites.known_hosts.read_text() == known_hosts, "the site's host key changed"


@dataclass(frozen=True)
class SiteLog:
    """A file in a site's root that steps append lines to (``relative`` in runbooks: every
    SSH session of a site starts in its root)."""

    site: SshdSite
    relative: str

    @property
    def path(self) -> Path:
        return self.site.root / self.relative

    def lines(self) -> list[str]:
        return self.path.read_text().split() if self.path.exists() else []

    def append(self, word: str) -> str:
        """The argv (YAML flow list) of a command that appends ``word`` on the site."""
        return f"[sh, -c, 'echo {word} >> {self.relative}']"


def host_yaml(name: str, site: SshdSite, sites: SshdSites, site_key: str) -> str:
    return (
        f"{name}: {{site: {site_key}, address: {site.host}, port: {site.port}, "
        f"user: {site.user}, identity_file: '{sites.identity_file}'}}"
    )


@dataclass
class Step:
    """An ``ssh.run`` step; every step declares a rollback (ssh.run is irreversible)."""

    id: str
    host: str
    argv: str
    rollback_argv: str = "['true']"
    needs: list[str] = field(default_factory=list)
    timeout: float = 60

    def yaml(self) -> str:
        needs = f"    needs: [{', '.join(self.needs)}]\n" if self.needs else ""
        return (
            f"  - id: {self.id}\n    action: ssh.run\n{needs}"
            f"    with: {{host: {self.host}, argv: {self.argv}, timeout: {self.timeout:g}}}\n"
            f"    rollback: {{action: ssh.run, with: {{host: {self.host}, "
            f"argv: {self.rollback_argv}}}}}\n"
        )


def chain(names: list[str], host: str, log: SiteLog, seconds: float) -> list[Step]:
    """Steps run one after the other, each appending its name to ``log`` then sleeping."""
    return [
        Step(
            name,
            host,
            f"[sh, -c, 'echo {name} >> {log.relative}; sleep {seconds:g}']",
            needs=names[i - 1 : i],
        )
        for i, name in enumerate(names)
    ]


def chain_runbook(
    folder: Path, runbook_id: str, sites: SshdSites, log: SiteLog, names: list[str], seconds: float
) -> Path:
    """``chain`` on the host ``primary``: the site ``log`` is on."""
    hosts = {"primary": log.site.name}
    steps = chain(names, "primary", log, seconds)
    return write_runbook(folder / f"{runbook_id}.yaml", runbook_id, sites, hosts, steps)


def write_runbook(
    path: Path, runbook_id: str, sites: SshdSites, hosts: dict[str, str], steps: list[Step]
) -> Path:
    """A runbook whose hosts (name -> sandbox site name) are the session's sshd sites."""
    site_keys = {name: f"s{i}" for i, name in enumerate(sorted(set(hosts.values())))}
    declared = ", ".join(
        f"{key}: {{provider: onprem, region: lab-{key}}}" for key in site_keys.values()
    )
    hosts_yaml = ", ".join(
        host_yaml(host, sites[site], sites, site_keys[site]) for host, site in hosts.items()
    )
    path.write_text(
        f"id: {runbook_id}\nversion: 1.0.0\ntitle: Process fault {runbook_id}\n"
        "owner: sre@example.com\n"
        f"sites: {{{declared}}}\nhosts: {{{hosts_yaml}}}\nsteps:\n"
        + "".join(step.yaml() for step in steps)
    )
    return path


# --- lifeboat run ------------------------------------------------------------------------------


def cli_env(api: str, home: Path, sites: SshdSites) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_URL": api,
        "LIFEBOAT_HOME": str(home),
        "LIFEBOAT_KNOWN_HOSTS": str(sites.known_hosts),
        "COLUMNS": "200",  # the summary table's rows on one line each
    }


@dataclass
class Launched:
    """A ``lifeboat`` process in a session of its own, output in files."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    started: float

    @property
    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL its whole process group (the CLI, its flow, its threads)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def launch(env: dict[str, str], folder: Path, name: str, *args: str) -> Launched:
    folder.mkdir(parents=True, exist_ok=True)
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [LIFEBOAT_CLI, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return Launched(process, out, err, time.monotonic())


def launch_live(env: dict[str, str], folder: Path, path: Path, name: str = "run") -> Launched:
    """``lifeboat run PATH --mode live --yes``, its output in ``folder/NAME.out|.err``."""
    return launch(env, folder, name, "run", str(path), "--mode", "live", "--yes")


def wait_started(home: Path, step: str, what: str) -> Path:
    """The journal of the one run under ``home``, once it has journaled ``step`` started."""
    (journal,) = wait_until(lambda: journals(home), "the run's journal exists", timeout=60)
    wait_until(lambda: ("step.started", step) in events(journal), what, timeout=60)
    return journal
