"""The moto server is a real HTTP S3 and Route 53: regions, objects and DNS records round-trip."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lifeboat.sandbox.errors import ServiceStartError
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.s3 import MotoServer


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_buckets_keep_their_region(s3_server: MotoServer) -> None:
    buckets = {}
    for region in ("eu-west-3", "eu-central-1"):
        bucket = _name("lb-backup")
        s3 = s3_server.client("s3", region)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        buckets[region] = bucket
    reader = s3_server.client("s3", "us-east-1")
    for region, bucket in buckets.items():
        assert reader.get_bucket_location(Bucket=bucket)["LocationConstraint"] == region


def test_object_round_trip(s3_server: MotoServer) -> None:
    bucket = _name("lb-objects")
    s3 = s3_server.client("s3", "eu-central-1")
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    s3.put_object(Bucket=bucket, Key="db/2026-11-23.dump", Body=b"pg_dump bytes")
    got = s3.get_object(Bucket=bucket, Key="db/2026-11-23.dump")
    with got["Body"] as body:
        assert body.read() == b"pg_dump bytes"
    assert got["ContentLength"] == len(b"pg_dump bytes")


def test_route53_zone_and_upsert(s3_server: MotoServer) -> None:
    r53 = s3_server.client("route53", "us-east-1")
    domain = f"{_name('shop')}.example.com."
    zone = r53.create_hosted_zone(Name=domain, CallerReference=uuid.uuid4().hex)
    zone_id = zone["HostedZone"]["Id"]
    change = {
        "Action": "UPSERT",
        "ResourceRecordSet": {
            "Name": f"www.{domain}",
            "Type": "A",
            "TTL": 60,
            "ResourceRecords": [{"Value": "198.51.100.7"}],
        },
    }
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})
    records = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    www = [r for r in records if r["Name"] == f"www.{domain}"]
    assert www[0]["ResourceRecords"] == [{"Value": "198.51.100.7"}]


def test_killed_server_is_seen_down_and_leaves_nothing(tmp_path: Path) -> None:
    server = MotoServer(tmp_path).start()
    pid = server.pid
    assert pid is not None and server.healthy()
    assert server.startup_seconds is not None
    server.stop()
    assert not pid_alive(pid)
    assert not server.running
    server.stop()  # idempotent


def test_port_in_use_fails_with_the_log_tail(s3_server: MotoServer, tmp_path: Path) -> None:
    clash = MotoServer(tmp_path, port=s3_server.port, timeout=10)
    with pytest.raises(ServiceStartError) as info:
        clash.start()
    assert "moto failed to start" in str(info.value)
    assert "in use" in str(info.value).lower()
    assert not clash.running
