"""The production topology for real: a Prefect server on PostgreSQL, a process work pool, a
worker, and the runbook flow deployed from this repository's source (issue 8).

Everything runs on 127.0.0.1: PostgreSQL (``lifeboat.sandbox.postgres``), ``prefect server
start`` and ``prefect worker start`` as subprocesses that die with pytest and are stopped,
with their descendants, at the end. The worker runs the flow in a process of its own, whose
``LIFEBOAT_HOME`` is a temporary directory: the journal there proves the run happened.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.run import FLOW_NAME
from lifeboat.sandbox.ports import LOOPBACK, free_port, wait_until
from lifeboat.sandbox.postgres import PostgresServer
from lifeboat.sandbox.process import spawn, terminate_pid

POOL = "lifeboat-pool"
DEPLOYMENT = "topology"
PREFECT = str(Path(sys.executable).parent / "prefect")

RUNBOOK = """\
id: topology
version: 1.0.0
title: Production topology smoke test
owner: sre@example.com
steps:
  - {id: pause, check: wait, with: {duration: 10ms}}
"""


@dataclass(frozen=True)
class Topology:
    """The running server's API URL, the worker's Lifeboat home, the shared environment."""

    api_url: str
    lifeboat_home: Path
    env: dict[str, str]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _alive(proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is not None:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise AssertionError(f"{log.name}: exited with {proc.returncode}\n{tail}")


@pytest.fixture(scope="module")
def topology(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    """Prefect server on ``postgres``, a process work pool and one worker polling it."""
    root = tmp_path_factory.mktemp("topology")
    port = free_port()
    api_url = f"http://{LOOPBACK}:{port}/api"
    home = root / "lifeboat-home"
    env = {
        **os.environ,
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "DO_NOT_TRACK": "1",
        "LIFEBOAT_HOME": str(home),
        "NO_PROXY": LOOPBACK,
    }
    server_log, worker_log = root / "server.log", root / "worker.log"
    argv = [PREFECT, "server", "start", "--host", LOOPBACK, "--port", str(port)]
    server = spawn(argv, server_log, env=env, die_with_parent=True)
    worker: subprocess.Popen[bytes] | None = None
    try:

        def server_up() -> bool:
            _alive(server, server_log)
            return _healthy(api_url)

        wait_until(server_up, 90, "the Prefect server on PostgreSQL", interval=0.2)
        created = subprocess.run(
            [PREFECT, "work-pool", "create", POOL, "--type", "process"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        worker_argv = [PREFECT, "worker", "start", "--pool", POOL, "--name", "topology-worker"]
        worker = spawn(worker_argv, worker_log, env=env, die_with_parent=True)
        yield Topology(api_url, home, env)
    finally:
        for proc in (worker, server):
            if proc is not None:
                terminate_pid(proc.pid, timeout=10)
                proc.wait(timeout=10)


def test_flow_runs_on_a_worker_against_a_postgres_backed_server(
    topology: Topology, postgres: PostgresServer, repo: Path, tmp_path: Path
) -> None:
    from prefect import Flow, flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    runbook = tmp_path / "topology.yaml"
    runbook.write_text(RUNBOOK)
    started = time.monotonic()
    with temporary_settings(updates={PREFECT_API_URL: topology.api_url}):
        remote = flow.from_source(source=str(repo), entrypoint="flows/run.py:run_runbook")
        assert isinstance(remote, Flow)  # sync context: not a coroutine
        deployment_id = remote.deploy(
            name=DEPLOYMENT,
            work_pool_name=POOL,
            parameters={"runbook_path": str(runbook), "mode": "drill"},
            print_next_steps=False,
        )
        assert deployment_id
        flow_run = run_deployment(f"{FLOW_NAME}/{DEPLOYMENT}", timeout=120, poll_interval=1)
        assert isinstance(flow_run, FlowRun)
        with get_client(sync_client=True) as client:
            read_back = client.read_flow_run(flow_run.id)
    elapsed = time.monotonic() - started

    assert read_back.state is not None
    assert read_back.state.is_completed(), (
        f"{read_back.state!r} after {elapsed:.0f}s; worker log:\n"
        + Path(topology.lifeboat_home.parent / "worker.log").read_text(errors="replace")[-3000:]
    )
    journal = topology.lifeboat_home / "runs" / str(flow_run.id) / "journal.jsonl"
    assert journal.is_file(), f"no journal at {journal}"
    assert journal.read_text().strip(), "the journal is empty"

    # The run's state lives in PostgreSQL, not in some SQLite file next to the server.
    row = subprocess.run(
        [
            str(postgres.bin_dir / "psql"), "-h", postgres.host, "-p", str(postgres.port),
            "-U", "lifeboat", "-d", postgres.database, "-tA",
            "-c", f"select state_type from flow_run where id = '{flow_run.id}'",
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert row.stdout.strip() == "COMPLETED", row.stdout + row.stderr
