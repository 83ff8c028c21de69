"""The one fixture module. Real services are started here, once per test session: for now an
HTTP server on loopback; S3, sshd, SMTP and Prefect join it through the sandbox launchers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from lifeboat.errors import RunbookInvalid
from lifeboat.runbook import LoadedRunbook, load

Write = Callable[..., Path]
REPO = Path(__file__).resolve().parent.parent

HEADER = """\
id: sample
version: 1.0.0
title: Sample runbook
owner: sre@example.com
parameters:
  port: {type: integer, default: 443}
  path: {type: string}
sites:
  par-1: {provider: ovh, region: eu-west-3, datacenter: sbg-2}
  fra-1: {provider: aws, region: eu-central-1, datacenter: fra-b}
hosts:
  web-a: {site: par-1, address: 203.0.113.5}
  web-b: {site: fra-1, address: 198.51.100.7, port: 2222}
stakeholders:
  oncall: {channels: ["json://127.0.0.1:9/hook"]}
steps:
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Prefect flow tests last: the fast tests report first, and the Prefect server's
    background threads do not exist yet while Hypothesis generates data. A test marked
    ``stops_demo`` stops the session's demo sandbox: it runs after every other test, so no
    selection or order of files can leave another ``demo_run`` test without its services."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("stops_demo") is not None,
            "tests/flows/" in str(item.path).replace("\\", "/"),
        )
    )


@pytest.fixture(scope="session", autouse=True)
def _no_heartbeats_in_process() -> Iterator[None]:
    """Flow runs inside the test process send no heartbeats.

    Prefect's heartbeat thread sleeps in 1 s ticks and every sync flow run waits for it at
    its exit: about a second per in-process run, a third of tests/flows/test_run.py and
    test_lock.py's time (84 s against 57 s). No test looks at heartbeats (Prefect's own
    feature: crash detection by an automation), and runs in subprocesses (`lifeboat run`,
    `serve`, the demo) keep theirs. Prefect's setting cannot say "off" from the
    environment (it must be >= 30), hence the engine's own switch: ``None`` means none.
    """
    from prefect.flow_engine import FlowRunEngine

    patch = pytest.MonkeyPatch()
    patch.setattr(FlowRunEngine, "heartbeat_seconds", property(lambda _engine: None))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """One real Prefect server (SQLite) for the whole session; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def no_config(tmp_path: Path) -> Path:
    """An empty SSH config: isolates tests from whatever ~/.ssh/config this machine has."""
    path = tmp_path / "empty_ssh_config"
    path.write_text("")
    return path


@pytest.fixture
def lifeboat_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh LIFEBOAT_HOME for one test: runs and journals land here."""
    home = tmp_path / "home"
    monkeypatch.setenv("LIFEBOAT_HOME", str(home))
    return home


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write a runbook file (text is dedented) and return its path."""

    def _write(content: str | bytes, name: str = "runbook.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def with_steps(write: Write) -> Callable[[str], Path]:
    """A valid header (two sites, two hosts, parameters) followed by the given steps."""

    def _with_steps(steps: str) -> Path:
        return write(HEADER + steps)

    return _with_steps


@pytest.fixture
def errors_of() -> Callable[[Path], list[str]]:
    """Load a file that must be invalid; return its diagnostics as printed."""

    def _errors_of(path: Path) -> list[str]:
        with pytest.raises(RunbookInvalid) as info:
            load(path)
        return [str(d) for d in info.value.diagnostics]

    return _errors_of


@pytest.fixture
def loads() -> Callable[[Path], LoadedRunbook]:
    return load


class _Handler(BaseHTTPRequestHandler):
    """``/status/NNN`` answers NNN; ``/slow`` waits two seconds first."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(2)
        code = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        body = b"ok"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


class _Context:
    """The smallest StepContext: checks must not need the engine to run."""

    mode = "drill"

    def log(self, message: str) -> None:
        pass


@pytest.fixture
def s3(s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """The moto server as the environment's S3 endpoint (boto3 reads AWS_ENDPOINT_URL)."""
    from lifeboat import storage

    for name, value in s3_server.env("eu-west-3").items():
        monkeypatch.setenv(name, value)
    storage.client.cache_clear()
    yield s3_server
    storage.client.cache_clear()


@pytest.fixture
def ctx() -> _Context:
    return _Context()


# --- real services (sandbox launchers) ---
# Launchers for the real services of DESIGN.md ("Real parts, and how each starts"), one
# session fixture per service so a test pays only for what it asks for; `sandbox` composes
# them. Each stops at the end of the session, also when tests failed; children started
# here die with pytest even if it is killed (setpriv --pdeathsig).
from flows.run import build_context  # noqa: E402 - this section is appended
from lifeboat.context import RunContext  # noqa: E402
from lifeboat.plan import Mode  # noqa: E402
from lifeboat.sandbox import Sandbox  # noqa: E402
from lifeboat.sandbox.receiver import Receiver  # noqa: E402
from lifeboat.sandbox.s3 import MotoServer  # noqa: E402
from lifeboat.sandbox.smtp import SmtpServer  # noqa: E402
from lifeboat.sandbox.sshd import SshdSites  # noqa: E402
from lifeboat.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's sandbox state directory (keys, configs, logs, mail, webhooks)."""
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="session")
def s3_server(sandbox_dir: Path) -> Iterator[MotoServer]:
    """A moto server (S3 in every region, Route 53); use unique bucket and zone names."""
    with MotoServer(sandbox_dir / "s3") as server:
        yield server


@pytest.fixture(scope="session")
def sshd_sites(sandbox_dir: Path) -> Iterator[SshdSites]:
    """Real sshd on loopback for "site-a" and "site-b" (shared client key and known_hosts)."""
    with SshdSites(sandbox_dir / "ssh") as sites:
        yield sites


@pytest.fixture(scope="session")
def smtp_server(sandbox_dir: Path) -> Iterator[SmtpServer]:
    """SMTP on loopback filing each message as .eml (in-process thread, no pid of its own)."""
    with SmtpServer(sandbox_dir / "mail") as server:
        yield server


@pytest.fixture(scope="session")
def receiver(sandbox_dir: Path) -> Iterator[Receiver]:
    """HTTP receiver on loopback filing each POST as JSON (in-process thread)."""
    with Receiver(sandbox_dir / "webhooks") as server:
        yield server


@pytest.fixture(scope="session")
def sandbox(
    sandbox_dir: Path,
    s3_server: MotoServer,
    sshd_sites: SshdSites,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> Iterator[Sandbox]:
    """Every real service, composed from the fixtures above; ``sandbox.env()`` points at them.

    Writes ``<sandbox_dir>/sandbox.json`` as ``lifeboat sandbox up`` would.
    """
    with Sandbox(
        sandbox_dir, s3=s3_server, sshd=sshd_sites, smtp=smtp_server, receiver=receiver
    ) as composed:
        yield composed


@pytest.fixture
def clean_sites(sshd_sites: SshdSites) -> Iterator[SshdSites]:
    """The session's sites with no app running and an empty ``app/data``, before and after:
    the sites are shared by every test, their apps and data must not leak between them."""
    import shutil

    def reset() -> None:
        sshd_sites.stop_apps()
        for site in sshd_sites.sites.values():
            data = site.root / "app" / "data"
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)

    reset()
    yield sshd_sites
    reset()


@dataclass(frozen=True)
class AuthS3:
    """A moto server that checks credentials, and one IAM user's key it accepts."""

    server: MotoServer
    access_key: str
    secret_key: str

    def env(self, access_key: str, secret_key: str) -> dict[str, str]:
        return {
            **self.server.env("eu-west-3"),
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
        }

    def client(self, region: str) -> Any:
        """An S3 client signing as the accepted user."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.server.url,
            region_name=region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


@pytest.fixture(scope="session")
def s3_auth(sandbox_dir: Path) -> Iterator[AuthS3]:
    """A second moto server that refuses unknown keys (IAM on after 3 set-up calls)."""
    with MotoServer(sandbox_dir / "s3-auth", auth_after=3) as server:
        iam = server.client("iam")
        iam.create_user(UserName="drill")
        key = iam.create_access_key(UserName="drill")["AccessKey"]
        allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        iam.put_user_policy(
            UserName="drill",
            PolicyName="all",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow_all]}),
        )
        yield AuthS3(server, key["AccessKeyId"], key["SecretAccessKey"])


LIFEBOAT_CLI = str(Path(sys.executable).parent / "lifeboat")


def run_lifeboat(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed ``lifeboat`` CLI in a subprocess, as an operator runs it."""
    return subprocess.run(
        [LIFEBOAT_CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.fixture
def sandbox_env(sandbox: Sandbox, prefect_server: str, lifeboat_home: Path) -> dict[str, str]:
    """The environment ``lifeboat sandbox up`` prints, plus the Prefect server and a home
    whose ``sandbox`` folder is the session's sandbox (where ``sandbox seed`` looks)."""
    lifeboat_home.mkdir(parents=True, exist_ok=True)
    (lifeboat_home / "sandbox").symlink_to(sandbox.state_dir)
    return {
        **os.environ,
        **sandbox.env(),
        "PREFECT_API_URL": prefect_server,
        "LIFEBOAT_HOME": str(lifeboat_home),
    }


def run_context(
    path: Path,
    mode: Mode = "live",
    *,
    incident: str = "INC-5",
    reason: str = "site loss",
    settings: Settings | None = None,
) -> RunContext:
    """A context for running a runbook through the engine without Prefect (``execute`` with
    the ``InlineExecutor``); a failing channel is retried after 10 ms, not 0.5 s."""
    return build_context(
        str(path),
        mode,
        {},
        run_id=f"run-{uuid.uuid4().hex[:8]}",
        reason=reason,
        incident=incident,
        detected_at="",
        initiator="tester",
        auto_approver=None,
        settings=settings or Settings(notify_backoff=0.01),
    )


from lifeboat.sandbox.postgres import PostgresServer, missing_reason  # noqa: E402


@pytest.fixture(scope="session")
def postgres(sandbox_dir: Path) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on loopback with a ``prefect`` database (``.url`` for
    Prefect). Root (CI) installs it (``scripts/bootstrap-system.sh``), so there a missing
    server fails the test; a developer who is not root gets a skip that ``-ra`` names."""
    reason = missing_reason()
    if reason is not None:
        if os.geteuid() == 0:
            pytest.fail(f"{reason}: make test installs it as root; it must be here")
        pytest.skip(reason)
    with PostgresServer(sandbox_dir / "postgres") as server:
        yield server


@pytest.fixture(scope="session")
def full_prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A full Prefect server with its UI and scheduler (``lifeboat server``'s, unlike the
    test harness's ephemeral one), the scheduler visiting deployments every 5 s; its API URL."""
    from lifeboat import server

    settings = Settings(home=tmp_path_factory.mktemp("full-prefect"))
    patch = pytest.MonkeyPatch()
    patch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "5")
    patch.delenv("PREFECT_API_URL", raising=False)
    try:
        with warnings.catch_warnings():  # start() leaves the server running, on purpose
            warnings.simplefilter("ignore", ResourceWarning)
            state = server.start(settings)
    finally:
        patch.undo()
    yield state.url
    server.stop(settings)


CHROMIUM = "/usr/bin/chromium"
TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"  # screenshots; gitignored


def chromium() -> str:
    """Debian's chromium (``make test`` installs it when root); skip when absent and not root."""
    found = shutil.which("chromium") or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if found:
        return found
    if os.geteuid() == 0:
        pytest.fail("chromium is missing: run scripts/bootstrap-system.sh (make test does)")
    pytest.skip("chromium is missing and we are not root: install Debian's chromium package")


# --- the demo, once per session -----------------------------------------------------------

from lifeboat.journal import Entry as JournalEntry  # noqa: E402
from lifeboat.journal import read as read_journal  # noqa: E402
from lifeboat.sandbox.state import SandboxState, read_state  # noqa: E402

DEMO_TIMEOUT_S = 300


@dataclass
class DemoRun:
    """A finished ``lifeboat demo``: its home, output, sandbox and the journals it wrote."""

    home: Path
    result: subprocess.CompletedProcess[str]
    state: SandboxState
    journals: dict[str, list[JournalEntry]]  # runbook id -> its run's journal entries
    run_dirs: dict[str, Path]
    auth_string: str  # planted: the Prefect API's auth string (a secret to find nowhere)

    @property
    def api_auth(self) -> tuple[str, str]:
        user, _, password = self.auth_string.partition(":")
        return user, password

    def service(self, name: str) -> str:
        return next(s.url for s in self.state.services if s.name == name)

    def detail(self, name: str, key: str) -> str:
        return next(s.details[key] for s in self.state.services if s.name == name)


def demo_cli_env(home: Path) -> dict[str, str]:
    """This process's environment without PREFECT_API_*, for a CLI working in ``home``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env |= {"LIFEBOAT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env["COLUMNS"] = "400"  # the summary's URLs and paths on one line each, as a wide terminal
    return env


def demo_cli(
    home: Path, *args: str, auth: str = "", extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as ``make demo`` runs it, for ``home``: no PREFECT_API_* of the caller's;
    ``extra``: more variables (a sandbox's, to run a runbook on it)."""
    env = demo_cli_env(home) | (extra or {})
    if auth:
        env["LIFEBOAT_PREFECT_API_AUTH_STRING"] = auth
    return subprocess.run(
        [LIFEBOAT_CLI, *args],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """One whole ``lifeboat demo`` for the session, its Prefect server behind an auth string;
    its sandbox is stopped at the end, whatever happened."""
    home = tmp_path_factory.mktemp("demo-home")
    auth = f"lifeboat:planted-{uuid.uuid4().hex}"
    result = demo_cli(home, "demo", auth=auth)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        journals: dict[str, list[JournalEntry]] = {}
        run_dirs: dict[str, Path] = {}
        for journal in (home / "runs").glob("*/journal.jsonl"):
            entries = read_journal(journal)
            journals[entries[0].runbook.id] = entries
            run_dirs[entries[0].runbook.id] = journal.parent
        state = read_state(home / "sandbox")
        yield DemoRun(home, result, state, journals, run_dirs, auth)
    finally:
        down = demo_cli(home, "sandbox", "down", auth=auth)
        assert down.returncode == 0, down.stderr
