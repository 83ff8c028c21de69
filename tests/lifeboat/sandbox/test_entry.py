"""The public entry point follows the Route 53 record, and a switch between two running
sites is seen by a 50 ms health probe without a single failure."""

from __future__ import annotations

import gzip
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lifeboat.runbook.model import Runbook
from lifeboat.sandbox import Entry, Sandbox
from lifeboat.sandbox import entry as entry_module
from lifeboat.sandbox.entry import read_routes, routes_file
from lifeboat.sandbox.seed import seed
from lifeboat.sandbox.sshd import SshdSites
from lifeboat.settings import Settings
from lifeboat.ssh import SshPool, SshTarget
from tests.waiting import NeverHappened, wait_until

ZONE = "example.com."
WWW = "www.example.com."
DUMP = gzip.compress(b"INSERT INTO orders VALUES (1);\n" * 7, mtime=0)


@dataclass(frozen=True)
class World:
    """A seeded runbook's two hosts (aliases of site-a and site-b) and the sandbox."""

    sandbox: Sandbox
    web_a: str
    web_b: str
    pool: SshPool

    @property
    def entry_url(self) -> str:
        return self.sandbox.env()["LIFEBOAT_SANDBOX_ENTRY_URL"]

    def start(self, site: str) -> None:
        result = self.pool.run(SshTarget(site), ["systemctl", "start", "webapp"], timeout=30)
        assert result.exit_status == 0, result.stderr

    def point_www(self, value: str) -> None:
        """UPSERT www (A for an address, else CNAME), removing a record of the other type."""
        api = self.sandbox.s3.client("route53", "us-east-1")
        zones = api.list_hosted_zones_by_name(DNSName=ZONE)["HostedZones"]
        zone_id = next(z["Id"] for z in zones if z["Name"] == ZONE)
        kind = "A" if value[0].isdigit() else "CNAME"
        records = api.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        changes: list[dict[str, Any]] = [
            {"Action": "DELETE", "ResourceRecordSet": r}
            for r in records
            if r["Name"] == WWW and r["Type"] != kind
        ]
        rrset = {"Name": WWW, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": value}]}
        changes.append({"Action": "UPSERT", "ResourceRecordSet": rrset})
        api.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})


def runbook(tag: str) -> Runbook:
    return Runbook.model_validate(
        {
            "id": "entry",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "par": {"provider": "ovh", "region": "sbg"},
                "fra": {"provider": "aws", "region": "eu-central-1"},
            },
            "hosts": {
                "web-a": {"site": "par", "address": f"web-a.{tag}.example.net"},
                "web-b": {"site": "fra", "address": f"web-b.{tag}.example.net"},
            },
            "steps": [
                {
                    "id": "switch",
                    "action": "dns.switch",
                    "with": {"zone": "example.com", "record": "www", "to": "web-b"},
                }
            ],
        }
    )


@pytest.fixture
def world(sandbox: Sandbox, clean_sites: SshdSites) -> Iterator[World]:
    tag = uuid.uuid4().hex[:8]
    seeded = seed([runbook(tag)], s3_url=sandbox.s3.url, ssh_config=clean_sites.ssh_config)
    web_a, web_b = f"web-a.{tag}.example.net", f"web-b.{tag}.example.net"
    assert seeded.aliases == {web_a: "site-a", web_b: "site-b"}
    routes = read_routes(routes_file(clean_sites.ssh_config))
    assert (routes[web_a], routes[web_b]) == ("site-a", "site-b")
    pool = SshPool(Settings(known_hosts=clean_sites.known_hosts, ssh_config=clean_sites.ssh_config))
    for site in clean_sites.sites.values():
        (site.root / "app" / "data" / "db-1.sql.gz").write_bytes(DUMP)
    yield World(sandbox, web_a, web_b, pool)
    pool.close()


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method=method)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_for(url: str, what: str, predicate: Any) -> tuple[int, dict[str, Any]]:
    """Poll ``url`` until ``predicate(code, body)`` (``what`` says it); the first such answer."""
    last: list[object] = []

    def answered() -> tuple[int, dict[str, Any]] | None:
        code, _, raw = get(url)
        body = json.loads(raw)
        last[:] = [code, body]
        return (code, body) if predicate(code, body) else None

    try:
        return wait_until(answered, f"{url} answers {what}")
    except NeverHappened as exc:
        raise NeverHappened(f"{exc}; last answer: {last}") from None


class Clock:
    """Stands for the ``time`` module of ``lifeboat.sandbox.entry``, whose only use is
    ``monotonic()`` (the age of its cached lookup): it moves only when the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def test_entry_follows_an_upsert_within_a_second(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Within a second" is the age the entry's cached lookup may reach: counted on a clock
    # the test moves, so a busy machine cannot make the entry seem slow (or fast).
    clock = Clock()
    monkeypatch.setattr(entry_module, "time", clock)
    monkeypatch.setattr(world.sandbox.entry, "_cached", None)  # no lookup from an earlier test
    world.start("site-a")
    world.start("site-b")
    health = f"{world.entry_url}/health"
    world.point_www(world.web_a)
    code, headers, raw = get(health)
    assert code == 200 and json.loads(raw) == {"site": "site-a", "data": "db-1.sql.gz", "rows": 7}
    assert (headers["X-Lifeboat-Site"], headers["X-Lifeboat-Address"]) == ("site-a", world.web_a)
    world.point_www(world.web_b)
    clock.now += 1.0
    code, _, raw = get(health)
    assert code == 200, raw
    assert json.loads(raw)["site"] == "site-b", "the entry point did not follow the record in 1 s"
    head = get(health, method="HEAD")
    assert (head[0], head[1]["X-Lifeboat-Site"], head[2]) == (200, "site-b", b"")


def test_unroutable_requests_answer_502_saying_why(world: World) -> None:
    health = f"{world.entry_url}/health"
    world.point_www("192.0.2.250")  # an address no runbook host has
    code, body = wait_for(
        health,
        "an error naming 192.0.2.250",
        lambda code, body: "192.0.2.250" in body.get("error", ""),
    )
    assert code == 502 and "which is no sandbox host" in body["error"]
    world.point_www(world.web_b)  # site-b's app is not running
    code, body = wait_for(
        health, "an error naming site-b", lambda code, body: "site-b" in body.get("error", "")
    )
    assert code == 502
    assert body["error"].startswith(f"site-b ({world.web_b}) is down: ")
    world.start("site-b")
    assert wait_for(health, "200", lambda code, body: code == 200)[1]["site"] == "site-b"


@pytest.mark.parametrize(
    ("zone", "record", "why"),
    [
        (ZONE, "nothing-{tag}.example.com.", "has no A, AAAA or CNAME record nothing-"),
        ("{tag}.invalid.", "www.{tag}.invalid.", "Route 53 has no zone "),
    ],
)
def test_a_missing_record_or_zone_answers_502(
    sandbox: Sandbox, zone: str, record: str, why: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    entry = Entry(
        routes_file(sandbox.sshd.ssh_config),
        moto_url=lambda: sandbox.s3.url,
        upstreams=dict,
        zone=zone.format(tag=tag),
        record=record.format(tag=tag),
    )
    with entry:
        code, headers, raw = get(f"{entry.url}/health")
    assert code == 502 and headers["Content-Type"] == "application/json"
    assert why in json.loads(raw)["error"]


def test_a_probe_sees_no_failure_while_the_record_switches(world: World) -> None:
    """What the planned switchover needs: both apps up, the record moves, nothing fails."""
    world.start("site-a")
    world.start("site-b")
    health = f"{world.entry_url}/health"
    world.point_www(world.web_a)
    wait_for(health, "from site-a", lambda code, body: body.get("site") == "site-a")
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            code, _, raw = get(health)
            seen.append((code, json.loads(raw).get("site", "")))
            done.wait(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    # Probes are counted, not timed: 8 answers before the switch, 8 from site-b after it.
    wait_until(lambda: len(seen) >= 8, "8 probes answered before the switch")
    world.point_www(world.web_b)
    wait_until(
        lambda: [site for _, site in seen].count("site-b") >= 8,
        "8 probes answered by site-b after the switch",
    )
    done.set()
    prober.join(5)
    assert not prober.is_alive(), "the probe did not stop"
    codes = {code for code, _ in seen}
    sites = [site for _, site in seen]
    assert codes == {200}, seen
    switch = sites.index("site-b")  # every answer before is site-a, every one after site-b
    assert set(sites[:switch]) == {"site-a"} and set(sites[switch:]) == {"site-b"}
    print(f"{len(seen)} probes, all 200; {switch} from site-a, then site-b")


def test_state_and_env_describe_the_entry_and_apps(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert env["LIFEBOAT_SANDBOX_ENTRY_URL"] == sandbox.entry.url
    for name, site in sandbox.sshd.sites.items():
        key = f"LIFEBOAT_SANDBOX_WEBAPP_{name.upper().replace('-', '_')}"
        assert env[key] == site.webapp.url
    record = next(r for r in sandbox.state().services if r.name == "entry")
    assert (record.kind, record.url) == ("in-process", sandbox.entry.url)
    assert record.details["record"] == WWW
    assert Path(record.details["routes"]).parent == sandbox.sshd.ssh_config.parent
