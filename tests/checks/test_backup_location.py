"""No verdict without evidence: a store that does not say where a bucket is proves nothing.

Against moto (AWS's answers) and a loopback proxy in front of it that answers as other
stores do (``store_proxy``): an empty GetBucketLocation (s3rver), no such call (501), a
name of the store's own. Such a copy is unproven, never drift and never off-site, unless
a site declares the ``endpoint`` the store was reached at: then it is placed there, and
every verdict says "declared by the runbook, not reported by the store".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from checks.backup import BackupParams, geo_separation
from checks.backup_location import _reached, same_region
from lifeboat import storage
from lifeboat.errors import AccessError, CheckFailed
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.s3 import MotoServer
from lifeboat.testing import RunbookContext
from tests.checks.store_proxy import Answer, StoreProxy, empty_location, error, location

SILENT = "GetBucketLocation: empty LocationConstraint; HeadBucket: no x-amz-bucket-region"


def bucket(s3: MotoServer, region: str) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    config = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.client("s3", region).create_bucket(Bucket=name, CreateBucketConfiguration=config)
    return name


def runbook(
    copies: list[dict[str, Any]],
    *,
    home: str = "par-1",
    endpoints: dict[str, str] | None = None,
    **policy: Any,
) -> Runbook:
    sites: dict[str, dict[str, Any]] = {
        "par-1": {"provider": "aws", "region": "eu-west-3", "datacenter": "par-a"},
        "fra-1": {"provider": "aws", "region": "eu-central-1", "datacenter": "fra-b"},
    }
    for site, endpoint in (endpoints or {}).items():
        sites[site]["endpoint"] = endpoint
    return Runbook.model_validate(
        {
            "id": "b",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": sites,
            "hosts": {"db": {"site": home, "address": "127.0.0.1"}},
            "backups": {
                "nightly": {
                    "protects": "db",
                    "copies": copies,
                    "policy": {"min_offsite_copies": 1, "min_distance_km": 300, **policy},
                }
            },
            "steps": [{"id": "a", "check": "backup.geo_separation", "with": {"backup": "nightly"}}],
        }
    )


Through = Callable[..., StoreProxy]


@pytest.fixture
def through(s3: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Through]:
    """Send boto3 through a StoreProxy in front of moto (as AWS_ENDPOINT_URL, as in use)."""
    proxies: list[StoreProxy] = []

    def start(answer: Answer | None = None, **options: Any) -> StoreProxy:
        proxy = StoreProxy(s3.url, answer, **options)
        proxies.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        storage.client.cache_clear()
        return proxy

    yield start
    storage.client.cache_clear()
    for proxy in proxies:
        proxy.close()


def unproven(proxy: StoreProxy, said: str = SILENT) -> str:
    return (
        f"unproven: the store's answer does not place the bucket ({said}); to prove where it "
        f"is, declare endpoint: {proxy.endpoint} on the site of this store"
    )


def test_an_empty_answer_is_no_drift_to_us_east_1(s3: MotoServer, through: Through) -> None:
    """The issue's first case: declared eu-west-3, the store says nothing."""
    name = bucket(s3, "eu-west-3")
    proxy = through(empty_location, strip_region_header=True)
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "site": "par-1"}], home="fra-1"))
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert not isinstance(info.value, CheckFailed)
    assert info.value.code == "access.no_region"
    assert str(info.value) == (
        f"nightly: cannot check: 0 of 1 copies proven off-site, policy requires 1; "
        f"s3://{name}/db/: {unproven(proxy)}"
    )
    row = info.value.evidence["copies"][0]
    assert (row["region"], row["distance_km"], row["offsite"]) == (None, None, False)
    assert (row["located_by"], row["store_said"]) == (None, SILENT)
    assert any(r.query.get("location") == [""] for r in proxy.requests)  # it did ask


def test_an_empty_answer_does_not_make_a_us_east_1_copy_off_site(
    s3: MotoServer, through: Through
) -> None:
    """The issue's other direction: `region: us-east-1` is not proven by an empty answer."""
    name = bucket(s3, "eu-west-3")
    proxy = through(empty_location, strip_region_header=True)
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "region": "us-east-1"}]))
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "access.no_region"
    row = info.value.evidence["copies"][0]
    assert row["verdict"] == unproven(proxy)
    assert (row["offsite"], row["distance_km"], info.value.evidence["offsite"]) == (False, None, 0)


def test_a_declared_endpoint_places_the_copy_as_weaker_evidence(
    s3: MotoServer, through: Through
) -> None:
    name = bucket(s3, "eu-central-1")
    proxy = through(empty_location, strip_region_header=True)
    ctx = RunbookContext(
        runbook(
            [{"uri": f"s3://{name}/db/", "site": "fra-1"}],
            endpoints={"fra-1": proxy.endpoint},
        )
    )
    output = geo_separation(BackupParams(backup="nightly"), ctx)
    placed = (
        f"the store at {proxy.endpoint} is site fra-1's endpoint, aws eu-central-1: "
        "declared by the runbook, not reported by the store"
    )
    assert output.summary == (
        f"nightly: 1 of 1 copies off-site (required 1); s3://{name}/db/: off-site ({placed})"
    )
    row = output.evidence["copies"][0]
    assert (row["located_by"], row["region"], row["store_said"]) == (
        "runbook",
        "eu-central-1",
        SILENT,
    )
    assert row["offsite"] and 400 < row["distance_km"] < 560
    assert f"s3://{name}/db/: aws eu-central-1" in ctx.lines[0]


def test_an_endpoint_without_a_port_matches_the_host(s3: MotoServer, through: Through) -> None:
    name = bucket(s3, "eu-central-1")
    through(empty_location, strip_region_header=True)
    ctx = RunbookContext(
        runbook([{"uri": f"s3://{name}/db/", "site": "fra-1"}], endpoints={"fra-1": "127.0.0.1"})
    )
    output = geo_separation(BackupParams(backup="nightly"), ctx)
    assert output.evidence["copies"][0]["located_by"] == "runbook"


def test_an_endpoint_at_the_protected_host_s_site_is_drift(
    s3: MotoServer, through: Through
) -> None:
    """The Strasbourg trap, proven by the runbook's endpoints where the store says nothing."""
    name = bucket(s3, "eu-west-3")
    proxy = through(empty_location, strip_region_header=True)
    ctx = RunbookContext(
        runbook(
            [{"uri": f"s3://{name}/db/", "site": "fra-1"}],
            endpoints={"par-1": proxy.endpoint},
        )
    )
    with pytest.raises(CheckFailed) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "data.drift"
    assert str(info.value) == (
        f"nightly: drift: declared site fra-1, but the store at {proxy.endpoint} is site "
        "par-1's endpoint, aws eu-west-3: declared by the runbook, not reported by the store; "
        "same building as the protected host (par-a); same region as the protected host "
        "(eu-west-3); 0 km away, policy asks at least 300"
    )


def test_two_sites_with_one_endpoint_place_nothing(s3: MotoServer, through: Through) -> None:
    name = bucket(s3, "eu-central-1")
    proxy = through(empty_location, strip_region_header=True)
    ctx = RunbookContext(
        runbook(
            [{"uri": f"s3://{name}/db/", "region": "eu-central-1"}],
            endpoints={"par-1": proxy.endpoint, "fra-1": proxy.endpoint},
        )
    )
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.evidence["copies"][0]["verdict"] == (
        f"unproven: the store's answer does not place the bucket ({SILENT}); sites par-1, "
        f"fra-1 all declare endpoint {proxy.endpoint}: keep it on the one site whose object "
        "store it is"
    )


def test_head_bucket_s_region_header_settles_an_empty_answer(
    s3: MotoServer, through: Through
) -> None:
    name = bucket(s3, "eu-central-1")
    through(empty_location)  # x-amz-bucket-region passes, as AWS sends it
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "site": "fra-1"}]))
    output = geo_separation(BackupParams(backup="nightly"), ctx)
    row = output.evidence["copies"][0]
    assert (row["located_by"], row["region"], row["verdict"]) == (
        "store",
        "eu-central-1",
        "off-site",
    )
    assert row["store_said"] == (
        "GetBucketLocation: empty LocationConstraint; HeadBucket x-amz-bucket-region: eu-central-1"
    )


def test_a_us_east_1_bucket_on_aws_is_still_proven(s3: MotoServer) -> None:
    """AWS answers us-east-1 with an empty constraint, and names it in HeadBucket."""
    name = bucket(s3, "us-east-1")
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "region": "us-east-1"}]))
    output = geo_separation(BackupParams(backup="nightly"), ctx)
    row = output.evidence["copies"][0]
    assert (row["located_by"], row["region"], row["offsite"]) == ("store", "us-east-1", True)
    assert row["store_said"] == (
        "GetBucketLocation: empty LocationConstraint; HeadBucket x-amz-bucket-region: us-east-1"
    )
    assert output.summary == "nightly: 1 of 1 copies off-site (required 1)"


def test_a_store_without_get_bucket_location_is_unproven(s3: MotoServer, through: Through) -> None:
    name = bucket(s3, "eu-central-1")
    proxy = through(error(501, "NotImplemented", "not implemented here"), strip_region_header=True)
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "site": "fra-1"}]))
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "access.no_region"
    said = (
        "GetBucketLocation failed: NotImplemented: not implemented here; "
        "HeadBucket: no x-amz-bucket-region"
    )
    assert info.value.evidence["copies"][0]["verdict"] == unproven(proxy, said)


def test_a_store_naming_its_own_region_is_unproven(s3: MotoServer, through: Through) -> None:
    name = bucket(s3, "eu-central-1")
    proxy = through(location("garage"))
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "site": "fra-1"}]))
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    said = "GetBucketLocation: garage, not a region of aws that Lifeboat knows"
    assert info.value.evidence["copies"][0]["verdict"] == unproven(proxy, said)


def test_a_refused_bucket_is_still_an_access_error_of_its_own(
    s3: MotoServer, through: Through
) -> None:
    through(empty_location, strip_region_header=True)
    ctx = RunbookContext(runbook([{"uri": "s3://no-such-bucket-loc/db/", "site": "fra-1"}]))
    with pytest.raises(storage.StorageError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "access.no_bucket"


def test_enough_proven_copies_pass_and_the_unproven_one_is_reported(
    s3: MotoServer, through: Through
) -> None:
    proven, silent = bucket(s3, "eu-central-1"), bucket(s3, "eu-west-3")
    proxy = through(empty_location, strip_region_header=True, buckets={silent})
    copies = [
        {"uri": f"s3://{proven}/db/", "site": "fra-1"},
        {"uri": f"s3://{silent}/db/", "region": "us-east-1"},
    ]
    output = geo_separation(BackupParams(backup="nightly"), RunbookContext(runbook(copies)))
    assert output.summary == (
        f"nightly: 1 of 2 copies off-site (required 1); s3://{silent}/db/: {unproven(proxy)}"
    )


def test_too_few_copies_even_if_the_unproven_were_off_site_is_too_close(
    s3: MotoServer, through: Through
) -> None:
    """Unproven copies count as "could be": a verdict only when they could not make it."""
    near, silent = bucket(s3, "eu-west-3"), bucket(s3, "eu-central-1")
    through(empty_location, strip_region_header=True, buckets={silent})
    copies = [
        {"uri": f"s3://{near}/db/", "site": "par-1"},
        {"uri": f"s3://{silent}/db/", "site": "fra-1"},
    ]
    ctx = RunbookContext(runbook(copies, min_offsite_copies=2))
    with pytest.raises(CheckFailed) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "data.too_close"
    assert str(info.value) == "nightly: 0 off-site copies, policy requires 2"


def test_an_unproven_copy_declared_at_the_protected_host_s_site_cannot_count(
    s3: MotoServer, through: Through
) -> None:
    """Its own runbook puts it in the same building: no store answer could make it off-site."""
    name = bucket(s3, "eu-west-3")
    proxy = through(empty_location, strip_region_header=True)
    ctx = RunbookContext(runbook([{"uri": f"s3://{name}/db/", "site": "par-1"}]))
    with pytest.raises(CheckFailed) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "data.too_close"
    assert info.value.evidence["copies"][0]["verdict"] == (
        f"same building as the protected host (par-a); {unproven(proxy)}"
    )


def test_same_region_reads_provider_spellings() -> None:
    assert same_region("ovh", "GRA", "gra")
    assert same_region("aws", "us-east-1a", "us-east-1")
    assert not same_region("aws", "eu-west-3", "eu-central-1")
    assert not same_region("onprem", "paris", "lyon")


@pytest.mark.parametrize(
    ("declared", "host", "matches"),
    [
        ("s3.gra.io.cloud.ovh.net", "s3.gra.io.cloud.ovh.net", True),
        ("s3.gra.io.cloud.ovh.net", "s3.sbg.io.cloud.ovh.net", False),
        ("127.0.0.1", "127.0.0.1:9000", True),
        ("127.0.0.1:9001", "127.0.0.1:9000", False),
        ("[::1]", "[::1]:9000", True),
        (None, "127.0.0.1:9000", False),
    ],
)
def test_an_endpoint_matches_the_host_reached(
    declared: str | None, host: str, matches: bool
) -> None:
    assert _reached(declared, host) is matches
