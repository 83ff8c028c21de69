"""Backup checks against a real S3 API (moto server on 127.0.0.1, buckets in two regions)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from checks.backup import BackupParams, FreshnessParams, freshness, geo_separation
from lifeboat import storage
from lifeboat.errors import CheckFailed
from lifeboat.runbook.model import Runbook
from lifeboat.testing import RunbookContext


def bucket(s3: Any, region: str, objects: dict[str, bytes]) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    api = s3.client("s3", region)
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    for key, body in objects.items():
        api.put_object(Bucket=name, Key=f"db/{key}", Body=body)
    return name


def runbook(copies: list[dict[str, Any]], **policy: Any) -> Runbook:
    return Runbook.model_validate(
        {
            "id": "b",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "par-1": {"provider": "aws", "region": "eu-west-3", "datacenter": "par-a"},
                "fra-1": {"provider": "aws", "region": "eu-central-1", "datacenter": "fra-b"},
            },
            "hosts": {"db": {"site": "par-1", "address": "127.0.0.1"}},
            "backups": {
                "nightly": {
                    "protects": "db",
                    "copies": copies,
                    "max_age": "26h",
                    "policy": {"min_offsite_copies": 1, "min_distance_km": 300, **policy},
                }
            },
            "steps": [{"id": "a", "check": "backup.geo_separation", "with": {"backup": "nightly"}}],
        }
    )


def test_copy_in_another_region_far_enough_passes(s3: Any) -> None:
    local = bucket(s3, "eu-west-3", {"dump.sql": b"x"})
    remote = bucket(s3, "eu-central-1", {"dump.sql": b"x"})
    ctx = RunbookContext(
        runbook(
            [
                {"uri": f"s3://{local}/db/", "site": "par-1"},
                {"uri": f"s3://{remote}/db/", "site": "fra-1"},
            ]
        )
    )
    output = geo_separation(BackupParams(backup="nightly"), ctx)
    assert output.summary == "nightly: 1 of 2 copies off-site (required 1)"
    rows = output.evidence["copies"]
    assert (
        rows[0]["verdict"] == "same building as the protected host (par-a); same region "
        "as the protected host (eu-west-3); 0 km away, policy asks at least 300"
    )
    assert rows[1]["offsite"] and 400 < rows[1]["distance_km"] < 560


def test_strasbourg_trap_declared_offsite_but_in_the_same_region(s3: Any) -> None:
    local = bucket(s3, "eu-west-3", {"dump.sql": b"x"})
    also_local = bucket(s3, "eu-west-3", {"dump.sql": b"x"})
    ctx = RunbookContext(
        runbook(
            [
                {"uri": f"s3://{local}/db/", "site": "par-1"},
                {"uri": f"s3://{also_local}/db/", "site": "fra-1"},
            ]
        )
    )
    with pytest.raises(CheckFailed) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert str(info.value) == (
        "nightly: drift: declared region eu-central-1, bucket is in eu-west-3; same region as "
        "the protected host (eu-west-3); 0 km away, policy asks at least 300"
    )
    assert info.value.evidence["offsite"] == 0
    assert info.value.code == "data.drift"


def test_too_close_fails_with_the_distance(s3: Any) -> None:
    remote = bucket(s3, "eu-central-1", {"dump.sql": b"x"})
    ctx = RunbookContext(
        runbook([{"uri": f"s3://{remote}/db/", "site": "fra-1"}], min_distance_km=1000)
    )
    with pytest.raises(CheckFailed, match="0 off-site copies, policy requires 1") as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "data.too_close"


def test_distinct_provider(s3: Any) -> None:
    remote = bucket(s3, "eu-central-1", {"dump.sql": b"x"})
    ctx = RunbookContext(
        runbook([{"uri": f"s3://{remote}/db/", "site": "fra-1"}], distinct_provider=True)
    )
    with pytest.raises(CheckFailed) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert (
        info.value.evidence["copies"][0]["verdict"] == "same provider as the protected host (aws)"
    )


def test_missing_bucket_names_it(s3: Any) -> None:
    ctx = RunbookContext(runbook([{"uri": "s3://no-such-bucket-xyz/db/", "site": "fra-1"}]))
    with pytest.raises(storage.StorageError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert str(info.value).startswith(
        "s3://no-such-bucket-xyz/db/: cannot check, the bucket does not exist at this "
        "endpoint; GetBucketLocation failed: NoSuchBucket"
    )
    assert info.value.code == "access.no_bucket"


def test_freshness_passes_and_reports_ages(s3: Any) -> None:
    remote = bucket(s3, "eu-central-1", {"a.sql": b"1", "b.sql": b"2"})
    ctx = RunbookContext(runbook([{"uri": f"s3://{remote}/db/", "site": "fra-1"}]))
    output = freshness(FreshnessParams(backup="nightly"), ctx)
    assert output.evidence["copies"][0]["newest"] in {"a.sql", "b.sql"}
    assert output.summary.endswith("(max_age 26h)")


def test_freshness_fails_on_an_empty_copy(s3: Any) -> None:
    empty = bucket(s3, "eu-central-1", {})
    ctx = RunbookContext(runbook([{"uri": f"s3://{empty}/db/", "site": "fra-1"}]))
    with pytest.raises(CheckFailed, match=f"older than 26h: s3://{empty}/db/ is empty"):
        freshness(FreshnessParams(backup="nightly"), ctx)


def test_freshness_fails_when_older_than_max_age(s3: Any) -> None:
    remote = bucket(s3, "eu-central-1", {"a.sql": b"1"})
    ctx = RunbookContext(runbook([{"uri": f"s3://{remote}/db/", "site": "fra-1"}]))
    with pytest.raises(CheckFailed, match=r"older than 1ms: .* is \d") as info:
        freshness(FreshnessParams.model_validate({"backup": "nightly", "max_age": "1ms"}), ctx)
    assert info.value.code == "data.stale"
