"""``lifeboat.sandbox.seed``: the world a runbook declares, built on the real sandbox services."""

from __future__ import annotations

import gzip
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
