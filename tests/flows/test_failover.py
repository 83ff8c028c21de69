"""The shipped failover on the sandbox: two real sshd sites, moto S3 and Route 53, an entry point.

Site A serves www at the start; the failover (live, approved with --yes) fences A, restores
the newest proven dump onto B, starts B, switches the DNS record and validates www through
the entry point. A failure after the switch rolls everything back, DNS record included.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat.journal import read, verify
from lifeboat.sandbox import Sandbox
from lifeboat.sandbox.ports import free_port
from lifeboat.sandbox.seed import dump
from tests.conftest import run_lifeboat
from tests.waiting import wait_until

RUNBOOK = "runbooks/webapp-failover.yaml"


def ssh(env: dict[str, str], host: str, *argv: str) -> subprocess.CompletedProcess[str]:
    config = env["LIFEBOAT_SSH_CONFIG"]
    return subprocess.run(
        ["ssh", "-F", config, host, *argv], capture_output=True, text=True, timeout=30, check=False
    )


def www(sandbox: Sandbox) -> str:
    """The value of www.example.com's record in moto's Route 53."""
    api = sandbox.s3.client("route53")
    zone = api.list_hosted_zones_by_name(DNSName="example.com.")["HostedZones"][0]["Id"]
    sets = api.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    record = next(r for r in sets if r["Name"] == "www.example.com." and r["Type"] != "NS")
    return str(record["ResourceRecords"][0]["Value"])


def served_by(entry: str, site: str) -> None:
    """Wait until the public entry point forwards to ``site``."""

    def forwards() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(f"{entry}/health", timeout=2)
            return bool(answer.headers.get("X-Lifeboat-Site") == site)
        return False

    wait_until(forwards, f"the entry point forwards to {site}", every=0.1)


def point_www_at(sandbox: Sandbox, address: str) -> None:
    api = sandbox.s3.client("route53")
    zone = api.list_hosted_zones_by_name(DNSName="example.com.")["HostedZones"][0]["Id"]
    change = {
        "Action": "UPSERT",
        "ResourceRecordSet": {
            "Name": "www.example.com",
            "Type": "CNAME",
            "TTL": 60,
            "ResourceRecords": [{"Value": address}],
        },
    }
    api.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [change]})


@pytest.fixture
def world(
    sandbox_env: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path
) -> Iterator[dict[str, str]]:
    """Seeded sandbox, www on site A, A's app serving yesterday's dump."""
    env = sandbox_env
    seeded = run_lifeboat(env, "sandbox", "seed", RUNBOOK, cwd=repo)
    assert seeded.returncode == 0, seeded.stderr
    point_www_at(sandbox, "web-a.sbg.example.net")
    today = datetime.now(UTC).date().isoformat()
    (clean_sites["site-a"].root / "app" / "data" / f"db-{today}.sql.gz").write_bytes(dump(today))
    started = ssh(env, "web-a.sbg.example.net", "systemctl", "start", "webapp")
    assert started.returncode == 0, started.stderr
    entry = env["LIFEBOAT_SANDBOX_ENTRY_URL"]
    assert httpx.get(f"{entry}/health", timeout=5).headers["X-Lifeboat-Site"] == "site-a"
    yield env


def params(env: dict[str, str], entry: str) -> list[str]:
    return [
        "-p", f"entry_url={entry}",
        "-p", f"primary_health={env['LIFEBOAT_SANDBOX_WEBAPP_SITE_A']}/health",
        "-p", f"standby_health={env['LIFEBOAT_SANDBOX_WEBAPP_SITE_B']}/health",
        "-p", "settle=20",
    ]  # fmt: skip


def test_failover_moves_www_to_the_standby_with_the_restored_data(
    world: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path
) -> None:
    entry = world["LIFEBOAT_SANDBOX_ENTRY_URL"]
    result = run_lifeboat(
        world, "run", RUNBOOK, "--mode", "live", "--yes", *params(world, entry), cwd=repo
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert www(sandbox) == "web-b.gra.example.net"
    health = httpx.get(f"{entry}/health", timeout=5)
    assert health.status_code == 200 and health.headers["X-Lifeboat-Site"] == "site-b"
    assert health.json()["data"].startswith("db-") and health.json()["rows"] == 2000
    assert ssh(world, "web-a.sbg.example.net", "systemctl", "is-active", "webapp").returncode == 3
    (journal,) = Path(world["LIFEBOAT_HOME"], "runs").glob("*/journal.jsonl")
    assert verify(journal).ok
    done = [e.step_id for e in read(journal) if e.event == "step.succeeded"]
    assert done[-4:] == ["standby-healthy", "switch", "validate", "resolved"]
    # The public status page (S3) tells the story in French: opened, then resolved.
    raw = sandbox.s3.client("s3").get_object(Bucket="status-example", Key="feed.json")["Body"]
    page = json.loads(raw.read())["_lifeboat"]
    (incident,) = [i for i in page["incidents"] if i["id"] == journal.parent.name]  # run id
    assert [u["stage"] for u in incident["updates"]] == ["incident.opened", "incident.resolved"]
    assert page["language"] == "fr" and page["status"] == "operational"


def test_a_failure_after_the_switch_rolls_everything_back(
    world: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path
) -> None:
    dead_entry = f"http://127.0.0.1:{free_port()}"  # www never answers: validate fails
    result = run_lifeboat(
        world, "run", RUNBOOK, "--mode", "live", "--yes", *params(world, dead_entry), cwd=repo
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert www(sandbox) == "web-a.sbg.example.net"  # the DNS record is back
    (journal,) = Path(world["LIFEBOAT_HOME"], "runs").glob("*/journal.jsonl")
    rolled = [e.step_id for e in read(journal) if e.event == "rollback.succeeded"]
    assert rolled == ["switch", "start-standby", "restore", "fence-primary"]
    assert ssh(world, "web-a.sbg.example.net", "systemctl", "is-active", "webapp").returncode == 0
    assert ssh(world, "web-b.gra.example.net", "systemctl", "is-active", "webapp").returncode == 3
    assert list((clean_sites["site-b"].root / "app" / "data").iterdir()) == []
    health = httpx.get(f"{world['LIFEBOAT_SANDBOX_ENTRY_URL']}/health", timeout=5)
    assert health.headers["X-Lifeboat-Site"] == "site-a"


class Probe:
    """Polls www through the entry point every 50 ms, as a customer would, in a thread."""

    def __init__(self, entry: str) -> None:
        import threading

        self.url = f"{entry}/health"
        self.answers: list[tuple[int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.wait(0.05):
                try:
                    answer = client.get(self.url)
                    self.answers.append(
                        (answer.status_code, answer.headers.get("X-Lifeboat-Site", ""))
                    )
                except httpx.HTTPError as exc:
                    self.answers.append((0, type(exc).__name__))

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    @property
    def failures(self) -> list[tuple[int, str]]:
        return [a for a in self.answers if a[0] != 200]


def switch_params(env: dict[str, str]) -> list[str]:
    return [
        "-p", f"entry_url={env['LIFEBOAT_SANDBOX_ENTRY_URL']}",
        "-p", f"primary_health={env['LIFEBOAT_SANDBOX_WEBAPP_SITE_A']}/health",
        "-p", "drain=2s",
        "-p", "settle=20",
    ]  # fmt: skip


def test_planned_switchover_and_back_without_a_failed_health_check(
    world: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path
) -> None:
    standby = ["-p", f"standby_health={world['LIFEBOAT_SANDBOX_WEBAPP_SITE_B']}/health"]
    with Probe(world["LIFEBOAT_SANDBOX_ENTRY_URL"]) as probe:
        result = run_lifeboat(
            world, "run", "runbooks/planned-switchover.yaml", "--mode", "live", "--yes",
            *switch_params(world), *standby, cwd=repo,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert probe.failures == [], probe.failures
    sites = [site for _, site in probe.answers]
    assert "site-b" in sites and sites[-1] == "site-a"  # served by B during the window
    assert www(sandbox) == "web-a.sbg.example.net"
    assert ssh(world, "web-b.gra.example.net", "systemctl", "is-active", "webapp").returncode == 3


def test_failback_copies_the_standby_s_data_home_without_a_failed_health_check(
    world: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path
) -> None:
    # As after a failover: www on B, B serving newer data, A rebuilt but stopped.
    a_data = clean_sites["site-a"].root / "app" / "data"
    b_data = clean_sites["site-b"].root / "app" / "data"
    newer = dump("written-on-gra")
    (b_data / "db-9999-12-31.sql.gz").write_bytes(newer)
    assert ssh(world, "web-b.gra.example.net", "systemctl", "start", "webapp").returncode == 0
    point_www_at(sandbox, "web-b.gra.example.net")
    # The entry re-reads Route 53 within a second: until it serves B, stopping A would make
    # the probe see the test's own setup as a failed health check.
    served_by(world["LIFEBOAT_SANDBOX_ENTRY_URL"], "site-b")
    assert ssh(world, "web-a.sbg.example.net", "systemctl", "stop", "webapp").returncode == 0
    with Probe(world["LIFEBOAT_SANDBOX_ENTRY_URL"]) as probe:
        result = run_lifeboat(
            world, "run", "runbooks/failback.yaml", "--mode", "live", "--yes",
            *switch_params(world), cwd=repo,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert probe.failures == [], probe.failures
    assert (a_data / "db-9999-12-31.sql.gz").read_bytes() == newer
    assert www(sandbox) == "web-a.sbg.example.net"
    health = httpx.get(f"{world['LIFEBOAT_SANDBOX_ENTRY_URL']}/health", timeout=5).json()
    assert health["data"] == "db-9999-12-31.sql.gz"
    assert ssh(world, "web-b.gra.example.net", "systemctl", "is-active", "webapp").returncode == 3
