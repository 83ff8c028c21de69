"""Each sandbox site is a small server: sessions start in its root, SFTP too, and
``systemctl`` runs its web app, whose health depends on the dump in ``app/data``."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.sshd import SshdSite, SshdSites
from lifeboat.sandbox.webapp import ORPHAN_GRACE_S
from lifeboat.settings import Settings
from lifeboat.ssh import CommandResult, SshPool, SshTarget
from tests.waiting import wait_until

DUMP = gzip.compress(b"-- dump\n" + b"INSERT INTO t VALUES (1);\n" * 42, mtime=0)


@pytest.fixture
def pool(clean_sites: SshdSites) -> Iterator[SshPool]:
    """Lifeboat's own SSH client, through the sandbox ssh_config (strict host keys)."""
    settings = Settings(known_hosts=clean_sites.known_hosts, ssh_config=clean_sites.ssh_config)
    pool = SshPool(settings)
    yield pool
    pool.close()


def run(pool: SshPool, site: str, *argv: str) -> CommandResult:
    return pool.run(SshTarget(site), list(argv), timeout=30)


def get(url: str) -> tuple[int, dict[str, object]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sessions_start_in_the_site_root(pool: SshPool, clean_sites: SshdSites) -> None:
    for name in ("site-a", "site-b"):
        site = clean_sites[name]
        result = run(pool, name, "sh", "-c", 'pwd; echo "$HOME|$LIFEBOAT_SITE"; ls -d app/data')
        assert result.stdout == f"{site.root}\n{site.root}|{name}\napp/data\n"
        assert run(pool, name, "sh", "-c", "command -v systemctl").stdout == (
            f"{site.state_dir}/bin/systemctl\n"
        )
    # argv quoting is untouched by the login script
    nasty = ["a b; echo PWNED", "$HOME", "'q'"]
    assert run(pool, "site-a", "printf", "%s|", *nasty).stdout == "a b; echo PWNED|$HOME|'q'|"


def test_sftp_starts_in_the_root_and_keeps_absolute_paths(
    pool: SshPool, clean_sites: SshdSites, tmp_path: Path
) -> None:
    site = clean_sites["site-b"]
    sftp = pool.client(SshTarget("site-b")).open_sftp()
    try:
        assert sftp.normalize(".") == str(site.root)
        with sftp.open("app/data/db-1.sql.gz", "wb") as remote:
            remote.write(DUMP)
        absolute = tmp_path / f"abs-{uuid.uuid4().hex[:6]}"
        with sftp.open(str(absolute), "wb") as remote:
            remote.write(b"x")
    finally:
        sftp.close()
    assert (site.root / "app" / "data" / "db-1.sql.gz").read_bytes() == DUMP
    assert absolute.read_bytes() == b"x"
    assert not (clean_sites["site-a"].root / "app" / "data" / "db-1.sql.gz").exists()


def test_systemctl_runs_the_web_app(pool: SshPool, clean_sites: SshdSites) -> None:
    site = clean_sites["site-a"]
    url = site.webapp.url
    assert run(pool, "site-a", "systemctl", "is-active", "webapp").exit_status == 3
    started = time.monotonic()
    assert run(pool, "site-a", "systemctl", "start", "webapp").exit_status == 0
    start_s = time.monotonic() - started
    pid = int(site.webapp.pidfile.read_text())
    assert site.webapp.pidfile.parent == site.root
    # start waits until the app listens: health answers at once, 503 without data
    assert get(f"{url}/health") == (
        503,
        {"site": "site-a", "data": None, "error": "no dump in app/data"},
    )
    # start when running is a no-op, as systemctl's
    assert run(pool, "site-a", "systemctl", "start", "webapp.service").exit_status == 0
    assert int(site.webapp.pidfile.read_text()) == pid
    active = run(pool, "site-a", "systemctl", "is-active", "webapp")
    assert (active.exit_status, active.stdout) == (0, "active\n")
    data = site.root / "app" / "data"
    (data / "db-2024-01-01.sql.gz").write_bytes(b"not gzip at all")
    code, body = get(f"{url}/health")
    assert code == 503 and "not a valid gzip dump" in str(body["error"])
    (data / "db-2024-01-02.sql.gz").write_bytes(DUMP)
    assert get(f"{url}/health") == (
        200,
        {"site": "site-a", "data": "db-2024-01-02.sql.gz", "rows": 42},
    )
    status = run(pool, "site-a", "systemctl", "status", "webapp")
    assert status.exit_status == 0 and f"Main PID: {pid}" in status.stdout
    started = time.monotonic()
    assert run(pool, "site-a", "systemctl", "stop", "webapp").exit_status == 0
    stop_s = time.monotonic() - started
    assert not pid_alive(pid)
    assert not site.webapp.pidfile.exists()
    assert run(pool, "site-a", "systemctl", "is-active", "--quiet", "webapp").exit_status == 3
    assert run(pool, "site-a", "systemctl", "stop", "webapp").exit_status == 0  # already stopped
    assert run(pool, "site-a", "systemctl", "status", "webapp").exit_status == 3
    print(f"systemctl start {start_s:.2f} s, stop {stop_s:.2f} s (over SSH)")


def test_systemctl_answers_like_systemd_for_other_units(pool: SshPool) -> None:
    missing = run(pool, "site-b", "systemctl", "start", "postgresql")
    assert missing.exit_status == 5
    assert (
        missing.stderr == "Failed to start postgresql.service: Unit postgresql.service not found.\n"
    )
    assert run(pool, "site-b", "systemctl", "is-active", "postgresql").exit_status == 3
    assert run(pool, "site-b", "systemctl", "status", "postgresql").exit_status == 4
    assert run(pool, "site-b", "systemctl", "reload-or-explode", "webapp").exit_status == 1


def test_each_site_runs_its_own_app(pool: SshPool, clean_sites: SshdSites) -> None:
    a, b = clean_sites["site-a"], clean_sites["site-b"]
    assert a.webapp.port != b.webapp.port
    (b.root / "app" / "data" / "db.sql.gz").write_bytes(DUMP)
    for name in ("site-a", "site-b"):
        assert run(pool, name, "systemctl", "start", "webapp").exit_status == 0
    assert get(f"{a.webapp.url}/health")[0] == 503
    assert get(f"{b.webapp.url}/health") == (
        200,
        {"site": "site-b", "data": "db.sql.gz", "rows": 42},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(a.webapp.url + "/", timeout=5) as response:
        assert b"site-a" in response.read()
    assert clean_sites.stop_apps() == {"site-a": ["webapp"], "site-b": ["webapp"]}
    assert not a.webapp.pidfile.exists() and not b.webapp.pidfile.exists()


def test_stopping_a_site_stops_its_app(tmp_path: Path, no_config: Path) -> None:
    site = SshdSite("short", tmp_path / "short").start()
    try:
        pool = SshPool(Settings(known_hosts=site.known_hosts, ssh_config=no_config))
        target = SshTarget(site.host, site.port, site.user, str(site.identity_file))
        assert pool.run(target, ["systemctl", "start", "webapp"], timeout=30).exit_status == 0
        pool.close()
        pid = int(site.webapp.pidfile.read_text())
    finally:
        site.stop()
    assert not pid_alive(pid)
    assert not site.webapp.pidfile.exists()


def test_an_app_whose_sshd_was_killed_exits_by_itself(tmp_path: Path) -> None:
    """pytest or the keeper killed with SIGKILL: the sshd dies with it, and so does its app."""
    site = SshdSite("orphan", tmp_path / "orphan").start()
    try:
        subprocess.run([str(site.webapp.shim), "start", "webapp"], check=True, timeout=30)
        pid = int(site.webapp.pidfile.read_text())
        assert site.pid is not None
        os.kill(site.pid, signal.SIGKILL)  # no stop(): nobody is left to stop the app
        # The app notices within its grace period plus a 0.5 s check; 10x that ends a hang.
        wait_until(
            lambda: not pid_alive(pid),
            f"the orphaned app (pid {pid}) exited by itself",
            timeout=10 * (ORPHAN_GRACE_S + 1),
        )
        assert not site.webapp.pidfile.exists()
        assert "sshd of orphan is gone: exiting" in site.webapp.log_file.read_text()
    finally:
        site.stop()
