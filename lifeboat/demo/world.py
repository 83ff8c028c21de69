"""The demo's world on the sandbox: what it builds, breaks and looks at.

Everything here acts on real services through their real interfaces: buckets are created
through S3, the web app is started over SSH with ``systemctl``, the public entry point is
asked over HTTP, and the site is lost by killing its processes, as a fire would. Nothing
here imports Prefect: the flows run from ``story.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx

from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.receiver import Delivery, read_inbox
from lifeboat.sandbox.s3 import aws_client
from lifeboat.sandbox.seed import Seeded, dump, seed
from lifeboat.sandbox.smtp import read_maildir
from lifeboat.sandbox.state import SandboxState, ServiceRecord
from lifeboat.sandbox.webapp import pidfile_of

#: The trap: the file store's "Gravelines" copy, really created in Strasbourg.
TRAP_BUCKET = "gra-files-backups"
TRAP_REAL_REGION = "sbg"
#: Where the journals' write-once copies go: Roubaix, neither of the two sites.
AUDIT_BUCKET = "lifeboat-audit-rbx"
AUDIT_REGION = "rbx"
AUDIT_URI = f"s3://{AUDIT_BUCKET}/journals/"
SSH_TIMEOUT_S = 30


@dataclass(frozen=True)
class World:
    """The running sandbox as the demo sees it."""

    state: SandboxState

    def service(self, name: str) -> ServiceRecord:
        return next(s for s in self.state.services if s.name == name)

    @property
    def env(self) -> dict[str, str]:
        return self.state.env

    @property
    def s3_url(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    @property
    def entry_url(self) -> str:
        return self.env["LIFEBOAT_SANDBOX_ENTRY_URL"]

    @property
    def ui_url(self) -> str:
        return self.service("prefect").url

    def site_app(self, site: str) -> str:
        return self.env[f"LIFEBOAT_SANDBOX_WEBAPP_{site.upper().replace('-', '_')}"]

    def status_page(self, uri: str) -> str:
        """The public address of a status page kept in S3 (``s3://bucket/prefix/``)."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        return f"{self.env['LIFEBOAT_SANDBOX_STATUS_URL']}/{bucket}/{prefix}"


def build(world: World, runbooks: list[Runbook]) -> Seeded:
    """The trap's misplaced bucket first, then every runbook's world (``sandbox seed``).

    Seeding never moves a bucket that exists, so the trap's "Gravelines" copy stays in
    Strasbourg while the seed fills it with the same nightly dumps as the other copy.
    """
    s3 = aws_client("s3", endpoint_url=world.s3_url, region=TRAP_REAL_REGION)
    s3.create_bucket(
        Bucket=TRAP_BUCKET,
        CreateBucketConfiguration={"LocationConstraint": TRAP_REAL_REGION},
    )
    audit = aws_client("s3", endpoint_url=world.s3_url, region=AUDIT_REGION)
    audit.create_bucket(
        Bucket=AUDIT_BUCKET,
        CreateBucketConfiguration={"LocationConstraint": AUDIT_REGION},
        ObjectLockEnabledForBucket=True,
    )
    return seed(runbooks, s3_url=world.s3_url, ssh_config=Path(world.env["LIFEBOAT_SSH_CONFIG"]))


def ssh(world: World, host: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` on a runbook host through the sandbox's SSH config (host keys checked)."""
    return subprocess.run(
        ["ssh", "-F", world.env["LIFEBOAT_SSH_CONFIG"], host, *argv],
        capture_output=True,
        text=True,
        timeout=SSH_TIMEOUT_S,
        check=False,
    )


def serve_from(world: World, site: str, host: str) -> None:
    """Put today's dump on ``site`` and start its web app: production before the fire."""
    today = datetime.now(UTC).date().isoformat()
    root = Path(world.service(f"sshd:{site}").details["root"])
    (root / "app" / "data").mkdir(parents=True, exist_ok=True)
    (root / "app" / "data" / f"db-{today}.sql.gz").write_bytes(dump(today))
    started = ssh(world, host, "systemctl", "start", "webapp")
    if started.returncode != 0:
        raise RuntimeError(f"could not start the web app on {host}: {started.stderr.strip()}")


def serving_site(world: World) -> str:
    """Which site answers ``www`` through the public entry point, or why none does."""
    try:
        answer = httpx.get(f"{world.entry_url}/health", timeout=5)
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
    site = answer.headers.get("X-Lifeboat-Site")
    return site if answer.status_code == 200 and site else f"HTTP {answer.status_code}"


def lose_site(world: World, site: str) -> list[str]:
    """Kill everything that runs on ``site`` at once (SIGKILL: a fire gives no notice)."""
    record = world.service(f"sshd:{site}")
    killed: list[str] = []
    pids = {"sshd": record.pid}
    with contextlib.suppress(OSError, ValueError):
        pids["webapp"] = int(pidfile_of(Path(record.details["root"])).read_text().strip())
    for name, pid in pids.items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(f"{name} (pid {pid})")
    return killed


def mails(world: World) -> list[EmailMessage]:
    """Every message the sandbox's SMTP server received, oldest first."""
    return read_maildir(Path(world.service("smtp").details["maildir"]))


def webhooks(world: World) -> list[Delivery]:
    """Every request the webhook receiver filed, oldest first."""
    return read_inbox(Path(world.service("receiver").details["inbox"]))
