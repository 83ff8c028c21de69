"""Which Prefect API a command talks to, and the local server Lifeboat starts when none is set.

``PREFECT_API_URL`` wins when set (production: a Prefect server on PostgreSQL). Otherwise
Lifeboat runs its own Prefect server (SQLite under ``LIFEBOAT_HOME/prefect``, UI included)
on 127.0.0.1, started on first use and kept running, so run history persists between
commands; ``lifeboat server start|stop|status`` manages it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from lifeboat.errors import LifeboatError
from lifeboat.settings import Settings

START_TIMEOUT_S = 90


class ServerError(LifeboatError):
    """The local Prefect server could not be started or reached."""


class ServerState(BaseModel):
    pid: int
    url: str  # the API URL, ending in /api
    log: str


def state_file(settings: Settings) -> Path:
    return settings.home / "prefect" / "server.json"


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def running(settings: Settings) -> ServerState | None:
    path = state_file(settings)
    if not path.exists():
        return None
    state = ServerState.model_validate_json(path.read_text())
    return state if _alive(state.pid) and healthy(state.url) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(settings: Settings, port: int | None = None) -> ServerState:
    """Start the local server unless it runs already; wait until its API answers.

    ``port``: listen there (e.g. the port of a server stopped a moment ago, so clients that
    know its URL reach the restarted one); a free port by default.
    """
    current = running(settings)
    if current is not None:
        return current
    home = settings.home / "prefect"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = port or _free_port()
    log = home / "server.log"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Lock leases (one live run per system) on disk, not in memory: a restarted
        # server must still know which live run holds a system's lock.
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": (
            "prefect.server.concurrency.lease_storage.filesystem"
        ),
        "PREFECT_UI_URL": f"http://127.0.0.1:{port}",
        # The UI's pages call the API from the browser: by default at port 4200, which is
        # not ours (the UI then shows "Can't connect to Server API" and no deployment).
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }
    env.pop("PREFECT_API_URL", None)
    if settings.prefect_api_auth_string is not None:  # Basic auth on every API call but /health
        env["PREFECT_SERVER_API_AUTH_STRING"] = settings.prefect_api_auth_string.get_secret_value()
    prefect = Path(sys.executable).with_name("prefect")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    state = ServerState(pid=process.pid, url=f"http://127.0.0.1:{port}/api", log=str(log))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the Prefect server exited at start-up; see {log}")
        if healthy(state.url):
            state_file(settings).write_text(state.model_dump_json())
            return state
        time.sleep(0.5)
    process.terminate()
    raise ServerError(f"the Prefect server did not answer within {START_TIMEOUT_S} s; see {log}")


def use_auth(settings: Settings) -> None:
    """Hand the API auth string to this process's Prefect client (which sends it as Basic
    auth). Prefect's own PREFECT_API_AUTH_STRING, when set, is left as it is."""
    if settings.prefect_api_auth_string is not None and not os.environ.get(
        "PREFECT_API_AUTH_STRING"
    ):
        os.environ["PREFECT_API_AUTH_STRING"] = settings.prefect_api_auth_string.get_secret_value()


def stop(settings: Settings) -> bool:
    """Stop the local server; False when none was running."""
    path = state_file(settings)
    if not path.exists():
        return False
    state = ServerState.model_validate_json(path.read_text())
    path.unlink()
    if not _alive(state.pid):
        return False
    os.killpg(state.pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(state.pid):
            break
        time.sleep(0.1)
    return True


def api_url(settings: Settings, *, start_if_needed: bool = True) -> str:
    """The Prefect API to use, exported as PREFECT_API_URL for this process (with the auth
    string, ``LIFEBOAT_PREFECT_API_AUTH_STRING``, as PREFECT_API_AUTH_STRING when set)."""
    use_auth(settings)
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        state = start(settings) if start_if_needed else running(settings)
        if state is None:
            raise ServerError("no Prefect API: set PREFECT_API_URL or run 'lifeboat server start'")
        url = state.url
        os.environ["PREFECT_API_URL"] = url
    return url
