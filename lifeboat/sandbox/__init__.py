"""Real local services standing in for production, all on 127.0.0.1 (DESIGN.md, "Real parts").

``Sandbox`` composes one moto server (S3 in every region + Route 53), one OpenSSH ``sshd``
per site (each site a small "server" with its root folder and a web app that runbooks
start with ``systemctl``), an SMTP server, an HTTP receiver, the public entry point
that follows the Route 53 record of ``www.example.com.`` and the public status pages;
``env()`` gives the variables that point Lifeboat (or any AWS/SSH/SMTP client) at them,
and ``sandbox.json`` in the state dir lets another process report ``status`` and stop the
process-based services with ``down``.

Tests use the same launchers through session fixtures (tests/conftest.py), one per service,
so a test pays only for what it needs. Nothing here imports Prefect: the sandbox serves the
engine, it is not part of it.

moto and sshd are child processes (own pids, in ``sandbox.json``, stoppable by ``down``);
SMTP, the receiver, the entry point and the status pages are threads of the process that
called ``start()``.
The sites' web apps are daemons that runbooks start and stop: ``stop()`` stops any it
finds running (by their pidfiles), and an app whose sshd is gone exits by itself.
``lifeboat sandbox down`` (``keeper.stop``) finds every process of a keeper's sandbox in
/proc, recorded or not (``owned.py``), and waits until they are gone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from secrets import token_urlsafe
from typing import Any, Self

from lifeboat.sandbox.entry import Entry, routes_file
from lifeboat.sandbox.errors import SandboxError, ServiceStartError
from lifeboat.sandbox.lifecycle import StartStop
from lifeboat.sandbox.pages import StatusPages, pages_file
from lifeboat.sandbox.receiver import Receiver
from lifeboat.sandbox.s3 import DEFAULT_REGION, MotoServer, aws_client, aws_env
from lifeboat.sandbox.smtp import SmtpServer
from lifeboat.sandbox.sshd import DEFAULT_SITES, SshdSite, SshdSites, SshEndpoint
from lifeboat.sandbox.state import (
    SandboxState,
    ServiceRecord,
    down,
    read_state,
    state_path,
    status,
    write_state,
)

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_SITES",
    "Entry",
    "MotoServer",
    "Receiver",
    "Sandbox",
    "SandboxError",
    "SandboxState",
    "ServiceRecord",
    "ServiceStartError",
    "SmtpServer",
    "SshEndpoint",
    "SshdSite",
    "SshdSites",
    "aws_client",
    "aws_env",
    "down",
    "read_state",
    "status",
    "write_state",
]


class Sandbox(StartStop):
    """Every sandbox service, started together, described in ``<state_dir>/sandbox.json``.

    A part passed in (``s3=``, ``sshd=``, ``smtp=``, ``receiver=``) is *adopted*: used as it
    is (started if it is not running) but never stopped by this object, so session
    fixtures can share their services with a composed sandbox. Parts not passed in are
    created under ``state_dir`` (``s3/``, ``ssh/``, ``mail/``, ``webhooks/``) and owned.
    ``sites`` is ignored when ``sshd`` is given. ``die_with_parent=False`` lets moto and
    sshd outlive this process; the threads never do. The entry point is
    always owned; it routes by ``routes.json`` beside the SSH config (``seed`` writes it).
    """

    def __init__(
        self,
        state_dir: Path,
        sites: Sequence[str] = DEFAULT_SITES,
        *,
        region: str = DEFAULT_REGION,
        die_with_parent: bool = True,
        s3: MotoServer | None = None,
        sshd: SshdSites | None = None,
        smtp: SmtpServer | None = None,
        receiver: Receiver | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.region = region
        self.hook_token = token_urlsafe(16)  # the on-call webhook's secret path segment
        self.started_at: float | None = None
        self._adopted = {
            name
            for name, part in (("s3", s3), ("sshd", sshd), ("smtp", smtp), ("receiver", receiver))
            if part is not None
        }
        self.s3 = s3 or MotoServer(state_dir / "s3", die_with_parent=die_with_parent)
        self.sshd = sshd or SshdSites(
            state_dir / "ssh", tuple(sites), die_with_parent=die_with_parent
        )
        self.smtp = smtp or SmtpServer(state_dir / "mail")
        self.receiver = receiver or Receiver(state_dir / "webhooks")
        self.entry = Entry(
            routes_file(self.sshd.ssh_config),
            moto_url=lambda: self.s3.url,
            upstreams=lambda: {name: s.webapp.url for name, s in self.sshd.sites.items()},
        )
        self.pages = StatusPages(pages_file(self.sshd.ssh_config), moto_url=lambda: self.s3.url)

    def start(self) -> Self:
        """Start what is not running: processes first (their start-ups overlap), then threads.

        On any failure everything this object started is stopped again before raising.
        """
        try:
            pending_s3 = not self.s3.running
            if pending_s3:
                self.s3.launch()
            self.sshd.launch()  # only the sites not running yet
            if pending_s3:
                self.s3.wait_ready()
            self.sshd.wait_ready()
            if not self.smtp.running:
                self.smtp.start()
            if not self.receiver.running:
                self.receiver.start()
            if not self.entry.running:
                self.entry.start()
            if not self.pages.running:
                self.pages.start()
            self.started_at = time.time()
            self.write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the owned parts (threads first, then processes) and remove ``sandbox.json``.

        Apps running on the sites are stopped too, also on adopted sites: they were started
        through this sandbox's entry point's world, and nothing may outlive a test run.
        """
        self.pages.stop()
        self.entry.stop()
        self.sshd.stop_apps()
        if "receiver" not in self._adopted:
            self.receiver.stop()
        if "smtp" not in self._adopted:
            self.smtp.stop()
        if "sshd" not in self._adopted:
            self.sshd.stop()
        if "s3" not in self._adopted:
            self.s3.stop()
        state_path(self.state_dir).unlink(missing_ok=True)

    def startup_seconds(self) -> dict[str, float | None]:
        """How long each service took to become ready (None: adopted before it was timed)."""
        times: dict[str, float | None] = {"s3": self.s3.startup_seconds}
        for name, site in self.sshd.sites.items():
            times[f"sshd:{name}"] = site.startup_seconds
        times["smtp"] = self.smtp.startup_seconds
        times["receiver"] = self.receiver.startup_seconds
        times["entry"] = self.entry.startup_seconds
        times["status"] = self.pages.startup_seconds
        return times

    def env(self) -> dict[str, str]:
        """Variables to export so Lifeboat and AWS, SSH and mail clients use the sandbox.

        ``NO_PROXY`` keeps loopback traffic away from any HTTP proxy the machine has.
        ``LIFEBOAT_SANDBOX_WEBAPP_<SITE>`` is each site's app (``site-a`` -> ``SITE_A``);
        ``LIFEBOAT_SANDBOX_ENTRY_URL`` stands for ``https://www.example.com``,
        ``LIFEBOAT_SANDBOX_STATUS_URL`` for the status pages' public host.
        """
        apps = {
            f"LIFEBOAT_SANDBOX_WEBAPP_{_env_name(name)}": site.webapp.url
            for name, site in self.sshd.sites.items()
        }
        return {
            **aws_env(self.s3.url, self.region),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "LIFEBOAT_SMTP_URL": self.smtp.apprise_url(),
            "LIFEBOAT_RECEIVER_URL": self.receiver.url,
            "LIFEBOAT_KNOWN_HOSTS": str(self.sshd.known_hosts),
            "LIFEBOAT_SSH_CONFIG": str(self.sshd.ssh_config),
            "LIFEBOAT_SANDBOX_DIR": str(self.state_dir),
            "LIFEBOAT_SANDBOX_ENTRY_URL": self.entry.url,
            "LIFEBOAT_SANDBOX_STATUS_URL": self.pages.url,
            **apps,
            # The channels the shipped runbooks name as ${{ secrets.* }}, here on loopback. The
            # webhook carries a token in its path, as Slack's or Teams' do: a real secret
            # that journals, logs, reviews and artifacts must never show (tests scan them).
            "LIFEBOAT_SECRET_ONCALL_WEBHOOK": self.receiver.url.replace("http://", "json://")
            + f"/hooks/oncall/{self.hook_token}",
            "LIFEBOAT_SECRET_CUSTOMERS_EMAIL": self.smtp.apprise_url(to="customers@example.com"),
        }

    def state(self) -> SandboxState:
        """What ``sandbox.json`` records for the services as they are now."""
        owner = os.getpid()
        records = [
            ServiceRecord(
                name="s3",
                kind="process",
                host=self.s3.host,
                port=self.s3.port,
                pid=self._pid_of(self.s3.pid, "s3"),
                marker=self.s3.marker,
                url=self.s3.url,
                log=self.s3.log_file,
            )
        ]
        for name, site in self.sshd.sites.items():
            records.append(
                ServiceRecord(
                    name=f"sshd:{name}",
                    kind="process",
                    host=site.host,
                    port=site.port,
                    pid=self._pid_of(site.pid, name),
                    marker=site.marker,
                    url=f"ssh://{site.user}@{site.host}:{site.port}",
                    log=site.log_file,
                    details={
                        "host_key_fingerprint": site.host_key.fingerprint,
                        "root": str(site.root),
                        "webapp_url": site.webapp.url,
                    },
                )
            )
        entry = {"record": self.entry.record, "zone": self.entry.zone}
        threads: list[tuple[str, Any, dict[str, str]]] = [
            ("smtp", self.smtp, {"maildir": str(self.smtp.maildir)}),
            ("receiver", self.receiver, {"inbox": str(self.receiver.inbox)}),
            ("entry", self.entry, {**entry, "routes": str(self.entry.routes)}),
            ("status", self.pages, {"pages": str(self.pages.pages)}),
        ]
        for name, service, details in threads:
            records.append(
                ServiceRecord(
                    name=name,
                    kind="in-process",
                    host=service.host,
                    port=service.port,
                    pid=owner,
                    url=service.url,
                    details=details,
                )
            )
        started = self.started_at if self.started_at is not None else time.time()
        return SandboxState(
            state_dir=self.state_dir,
            owner_pid=owner,
            started_at=started,
            services=records,
            env=self.env(),
        )

    def write_state(self, state_dir: Path | None = None) -> Path:
        """Write ``sandbox.json`` (to ``state_dir``, default this sandbox's); return its path."""
        return write_state(state_dir or self.state_dir, self.state())

    @staticmethod
    def read_state(state_dir: Path) -> SandboxState:
        """Read a ``sandbox.json`` written by any process (see ``lifeboat.sandbox.state``)."""
        return read_state(state_dir)

    @staticmethod
    def _pid_of(pid: int | None, what: str) -> int:
        if pid is None:
            raise SandboxError(f"{what} is not running: start the sandbox first")
        return pid


def _env_name(site: str) -> str:
    """``site-a`` -> ``SITE_A``: what a site name becomes inside a variable name."""
    return "".join(c if c.isalnum() else "_" for c in site).upper()
