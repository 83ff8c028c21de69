"""A throwaway PostgreSQL cluster on loopback: the database of a production Prefect server.

Prefect's default SQLite database serves one process well; a production topology (a server,
several workers, the UI) puts Prefect on PostgreSQL. This launcher lets tests exercise that
topology for real: ``initdb`` a fresh cluster in a private temporary directory, run
``postgres`` on 127.0.0.1 on a free port (TCP only, no Unix socket), and create the
``prefect`` database. The cluster is deleted when the service stops.

PostgreSQL refuses to run as root. As root, ``initdb`` and ``postgres`` run as the
``postgres`` system user (created by the Debian package) through ``setpriv``, which also
sets the parent-death signal *after* changing user, so the server still dies with us; the
data directory is created in the system temp dir (pytest's own, mode 0700 and owned by
root, is not reachable by that user) and chown'd to it. Not root: everything runs as the
current user. Authentication is ``trust`` for loopback TCP: a sandbox for tests, never a
production database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from lifeboat.sandbox.errors import SandboxError
from lifeboat.sandbox.process import ProcessService, pid_alive

#: Where Debian's ``postgresql-NN`` packages put their server binaries.
DEBIAN_ROOT = Path("/usr/lib/postgresql")
#: The system user PostgreSQL runs as when we are root (created by the Debian package).
RUN_AS_WHEN_ROOT = "postgres"
SUPERUSER = "lifeboat"
DATABASE = "prefect"


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``postgres``."""

    def version(path: Path) -> tuple[int, ...]:
        parts = path.parent.name.split(".")
        return tuple(int(p) for p in parts if p.isdigit())

    found = [
        d
        for d in DEBIAN_ROOT.glob("*/bin")
        if (d / "initdb").is_file() and (d / "postgres").is_file()
    ]
    return max(found, key=version) if found else None


def missing_reason() -> str | None:
    """Why a PostgreSQL sandbox cannot start here, or None when it can."""
    if postgres_bin_dir() is None:
        return (
            f"PostgreSQL server binaries not found under {DEBIAN_ROOT}/*/bin "
            "(install the Debian package `postgresql`: scripts/bootstrap-system.sh does as root)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS_WHEN_ROOT)
        except KeyError:
            return f"running as root and no `{RUN_AS_WHEN_ROOT}` system user to run PostgreSQL"
    return None


class PostgresServer(ProcessService):
    """``postgres`` on 127.0.0.1 with a fresh cluster; its log is ``<state_dir>/postgres.log``."""

    service = "postgres"
    #: Text that identifies our process in ``/proc/PID/cmdline`` (see ``terminate_pid``).
    marker = "postgres"

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int | None = None,
        die_with_parent: bool = True,
        timeout: float = 30.0,
        database: str = DATABASE,
    ) -> None:
        reason = missing_reason()
        if reason is not None:
            raise SandboxError(reason)
        bin_dir = postgres_bin_dir()
        assert bin_dir is not None  # checked by missing_reason
        self.bin_dir = bin_dir
        self.state_dir = state_dir
        self.database = database
        self.data_dir: Path | None = None
        self._temp_root: Path | None = None
        self._die = die_with_parent
        # spawn() must not wrap us in its own setpriv: that one would set the parent-death
        # signal *before* the user change below, which clears it. We add our own.
        super().__init__(
            state_dir / "postgres.log", port=port, die_with_parent=False, timeout=timeout
        )

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def url(self) -> str:
        """The SQLAlchemy URL Prefect reads (``PREFECT_API_DATABASE_CONNECTION_URL``)."""
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{self.database}"

    def _as_user(self, argv: list[str], *, pdeathsig: bool = False) -> list[str]:
        """``argv`` run as the PostgreSQL user (root) or as is; with the death signal."""
        setpriv = shutil.which("setpriv")
        prefix: list[str] = []
        if self.as_root:
            if setpriv is None:
                raise SandboxError("running as root needs setpriv (util-linux) to drop to postgres")
            prefix = [setpriv, f"--reuid={RUN_AS_WHEN_ROOT}", f"--regid={RUN_AS_WHEN_ROOT}"]
            prefix.append("--init-groups")
        if pdeathsig and setpriv is not None:
            # SIGINT: PostgreSQL's "fast shutdown" (SIGTERM waits for clients to leave).
            prefix = prefix or [setpriv]
            prefix += ["--pdeathsig", "INT"]
        return [*prefix, "--", *argv] if prefix else argv

    def prepare(self) -> None:
        """Create and ``initdb`` the cluster once; a relaunch on a new port reuses it."""
        super().prepare()
        if self.data_dir is not None and (self.data_dir / "PG_VERSION").exists():
            return
        self._temp_root = Path(tempfile.mkdtemp(prefix="lifeboat-pg-"))
        self.data_dir = self._temp_root / "data"
        self.data_dir.mkdir(mode=0o700)
        if self.as_root:
            user = pwd.getpwnam(RUN_AS_WHEN_ROOT)
            for path in (self._temp_root, self.data_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        argv = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "-A", "trust",
            "-E", "UTF8",
            "--no-locale",
            "--no-sync",
        ]  # fmt: skip
        done = subprocess.run(
            self._as_user(argv),
            cwd=self._temp_root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        with self.log_file.open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise SandboxError(f"initdb failed ({done.returncode}): {done.stderr.strip()[-500:]}")

    def command(self) -> list[str]:
        assert self.data_dir is not None
        argv = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-h", self.host,
            "-p", str(self.port),
            "-k", "",  # no Unix socket: TCP on loopback only
            "-c", "fsync=off",
            "-c", "max_connections=200",
        ]  # fmt: skip
        return self._as_user(argv, pdeathsig=self._die)

    def probe(self) -> bool:
        """``pg_isready`` says the server accepts connections (not just that it listens)."""
        return self._client("pg_isready", "-q").returncode == 0

    def wait_ready(self) -> None:
        """Wait for the server, then create the database Prefect uses."""
        super().wait_ready()
        done = self._client("createdb", self.database)
        if done.returncode != 0 and "already exists" not in done.stderr:
            self.stop()
            raise SandboxError(f"createdb {self.database} failed: {done.stderr.strip()}")

    def _client(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A PostgreSQL client tool over TCP as the cluster's superuser (any OS user may)."""
        argv = [str(self.bin_dir / tool), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=30, check=False
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT) first, then the generic terminate; delete the cluster."""
        pid = self.pid
        if pid is not None and self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.05)
        super().stop()
        if self._temp_root is not None:
            shutil.rmtree(self._temp_root, ignore_errors=True)
            self._temp_root = None
            self.data_dir = None

    def healthy(self) -> bool:
        """Whether the server runs and accepts connections now."""
        return self.running and self.probe()
