"""``lifeboat.sandbox.seed``: the world a runbook declares, built on the real sandbox services."""

from __future__ import annotations

import gzip
import json
import shutil
import uuid
from pathlib import Path

import paramiko

from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.s3 import MotoServer
from lifeboat.sandbox.seed import MANIFEST, seed
from lifeboat.sandbox.sshd import SshdSites


def runbook(tag: str) -> Runbook:
    return Runbook.model_validate(
        {
            "id": "seeded",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "sbg": {"provider": "ovh", "region": "sbg"},
                "gra": {"provider": "ovh", "region": "gra"},
            },
            "hosts": {
                "db-a": {"site": "sbg", "address": f"db-a.{tag}.example.net"},
                "db-b": {"site": "gra", "address": f"db-b.{tag}.example.net"},
            },
            "backups": {
                "nightly": {
                    "protects": "db-a",
                    "copies": [
                        {"uri": f"s3://sbg-{tag}/db/", "site": "sbg"},
                        {"uri": f"s3://gra-{tag}/db/", "site": "gra"},
                    ],
                }
            },
            "steps": [{"id": "a", "check": "backup.freshness", "with": {"backup": "nightly"}}],
        }
    )


def test_buckets_in_their_regions_with_dumps_and_a_locked_offsite_copy(
    s3_server: MotoServer,
) -> None:
    tag = uuid.uuid4().hex[:8]
    seeded = seed([runbook(tag)], s3_url=s3_server.url)
    assert seeded.buckets == [f"sbg-{tag}", f"gra-{tag}"] and seeded.objects == 8
    api = s3_server.client("s3")
    assert api.get_bucket_location(Bucket=f"gra-{tag}")["LocationConstraint"] == "gra"
    lock = api.get_object_lock_configuration(Bucket=f"gra-{tag}")["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 7)
    keys = [o["Key"] for o in api.list_objects_v2(Bucket=f"sbg-{tag}")["Contents"]]
    assert len(keys) == 4 and f"db/{MANIFEST}" in keys
    newest = max(k for k in keys if k.endswith(".sql.gz"))
    dump = api.get_object(Bucket=f"sbg-{tag}", Key=newest)["Body"].read()
    assert gzip.decompress(dump).startswith(b"-- nightly dump ")
    again = seed([runbook(tag)], s3_url=s3_server.url)
    assert again.buckets == []  # existing buckets are reused, not recreated


def test_hosts_become_ssh_aliases_of_sandbox_sites(
    s3_server: MotoServer, sshd_sites: SshdSites, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    shutil.copy(sshd_sites.ssh_config, config)
    first, second = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    seed([runbook(first)], s3_url=s3_server.url, ssh_config=config)
    seeded = seed([runbook(second)], s3_url=s3_server.url, ssh_config=config)
    assert seeded.aliases == {
        f"db-a.{second}.example.net": "site-a",
        f"db-b.{second}.example.net": "site-b",
    }
    parsed = paramiko.SSHConfig.from_path(str(config))
    site_b = sshd_sites.endpoint("site-b")
    for tag in (first, second):  # an earlier seed's aliases are kept
        found = parsed.lookup(f"db-b.{tag}.example.net")
        assert (found["hostname"], found["port"]) == ("127.0.0.1", str(site_b.port))
    assert config.read_text().count(f"Host db-a.{first}.example.net\n") == 1


def switching(tag: str, addresses: tuple[str, str], record: str) -> Runbook:
    """Two hosts, one per site, and dns.switch steps (one of them templated: not seeded)."""
    zone = f"{tag}.example.org"
    return Runbook.model_validate(
        {
            "id": "switching",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "sbg": {"provider": "ovh", "region": "sbg"},
                "gra": {"provider": "ovh", "region": "gra"},
            },
            "hosts": {
                "web-a": {"site": "sbg", "address": addresses[0]},
                "web-b": {"site": "gra", "address": addresses[1]},
            },
            "steps": [
                {
                    "id": "switch",
                    "action": "dns.switch",
                    "with": {"zone": zone, "record": record, "to": "web-b"},
                },
                {
                    "id": "templated",
                    "action": "dns.switch",
                    "with": {"zone": "${{ params.zone }}", "record": "x", "to": "web-b"},
                },
            ],
        }
    )


def _records(s3_server: MotoServer, zone: str) -> dict[str, tuple[str, str]]:
    api = s3_server.client("route53", "us-east-1")
    zones = api.list_hosted_zones_by_name(DNSName=zone)["HostedZones"]
    found = [z["Id"] for z in zones if z["Name"] == zone]
    assert len(found) == 1
    records = api.list_resource_record_sets(HostedZoneId=found[0])["ResourceRecordSets"]
    return {
        r["Name"]: (r["Type"], r["ResourceRecords"][0]["Value"])
        for r in records
        if r["Type"] in ("A", "CNAME")
    }


def test_dns_switch_records_point_at_the_primary(s3_server: MotoServer) -> None:
    tag = uuid.uuid4().hex[:8]
    zone = f"{tag}.example.org."
    primary = f"web-a.{tag}.example.net"
    book = switching(tag, (primary, f"web-b.{tag}.example.net"), "www")
    seeded = seed([book], s3_url=s3_server.url)
    assert seeded.zones == [zone]
    assert seeded.records == {f"www.{zone}": primary}
    assert _records(s3_server, zone) == {f"www.{zone}": ("CNAME", primary)}
    # A record already there (a switch happened) is left as it is, and so is the zone.
    api = s3_server.client("route53", "us-east-1")
    zone_id = api.list_hosted_zones_by_name(DNSName=zone)["HostedZones"][0]["Id"]
    moved = {"Name": f"www.{zone}", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "b"}]}
    api.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": moved}]},
    )
    again = seed([book], s3_url=s3_server.url)
    assert (again.zones, again.records) == ([], {})
    assert _records(s3_server, zone) == {f"www.{zone}": ("CNAME", "b")}


def test_an_address_gets_an_a_record_and_apex_names_work(s3_server: MotoServer) -> None:
    tag = uuid.uuid4().hex[:8]
    zone = f"{tag}.example.org."
    seeded = seed([switching(tag, ("192.0.2.7", "198.51.100.9"), "@")], s3_url=s3_server.url)
    assert seeded.records == {zone: "192.0.2.7"}
    assert _records(s3_server, zone) == {zone: ("A", "192.0.2.7")}


def test_routes_json_maps_every_seeded_address(
    s3_server: MotoServer, sshd_sites: SshdSites, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    shutil.copy(sshd_sites.ssh_config, config)
    first, second = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    seed([runbook(first)], s3_url=s3_server.url, ssh_config=config)
    seed([runbook(second)], s3_url=s3_server.url, ssh_config=config)
    routes = json.loads((tmp_path / "routes.json").read_text())
    expected = {
        f"db-{x}.{tag}.example.net": f"site-{x}" for tag in (first, second) for x in ("a", "b")
    }
    assert routes.items() >= expected.items()  # the session's config may hold earlier seeds
    aliases = paramiko.SSHConfig.from_path(str(config)).get_hostnames()
    assert set(routes) == {name for name in aliases if name not in ("*", "site-a", "site-b")}
