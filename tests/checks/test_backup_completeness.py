"""backup.completeness against a real S3 API: the moto server, buckets in two regions."""

from __future__ import annotations

import functools
import threading
import time
import tracemalloc
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from checks import backup_completeness
from checks.backup_completeness import CompletenessParams, compare, completeness, human_bytes
from lifeboat import listing, storage
from lifeboat.errors import CheckFailed
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.s3 import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY
from lifeboat.storage import ObjectInfo, S3Location
from lifeboat.testing import RunbookContext

PART = 5 << 20  # S3's (and moto's) smallest part but the last


@functools.cache
def api(s3: Any, region: str = "eu-west-3", *, checksums: bool = True) -> Any:
    """A client (cached: each costs ~0.3 s). Without ``checksums`` it sends none, as boto3
    did before 1.36; since then it adds a CRC32 to every upload."""
    if checksums:
        return s3.client("s3", region)
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=s3.url,
        aws_access_key_id=DUMMY_ACCESS_KEY,
        aws_secret_access_key=DUMMY_SECRET_KEY,
        config=Config(
            s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
        ),
    )


def bucket(s3: Any, region: str, objects: dict[str, bytes] | None = None) -> str:
    name = f"c-{uuid.uuid4().hex[:12]}"
    client = api(s3, region)
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    for key, body in (objects or {}).items():
        client.put_object(Bucket=name, Key=f"db/{key}", Body=body)
    return name


def multipart(client: Any, name: str, key: str, parts: list[bytes], **options: Any) -> None:
    """Upload ``parts`` as one multipart object: its ETag is "md5-of-part-md5s-N"."""
    upload = client.create_multipart_upload(Bucket=name, Key=f"db/{key}", **options)["UploadId"]
    done = []
    for number, body in enumerate(parts, 1):
        extra = {"ChecksumAlgorithm": options["ChecksumAlgorithm"]} if options else {}
        answer = client.upload_part(
            Bucket=name, Key=f"db/{key}", UploadId=upload, PartNumber=number, Body=body, **extra
        )
        done.append(
            {"ETag": answer["ETag"], "PartNumber": number}
            | {k: v for k, v in answer.items() if k.startswith("ChecksumCRC")}
        )
    client.complete_multipart_upload(
        Bucket=name, Key=f"db/{key}", UploadId=upload, MultipartUpload={"Parts": done}
    )


def runbook(primary: str, *copies: str, first: str = "primary") -> Runbook:
    """The primary at the protected host's site; ``first="copy"`` lists a copy before it."""
    at_home = {"uri": f"s3://{primary}/db/", "site": "par-1"}
    away = [{"uri": f"s3://{name}/db/", "site": "fra-1"} for name in copies]
    listed = [at_home, *away] if first == "primary" else [*away, at_home]
    return Runbook.model_validate(
        {
            "id": "b",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "par-1": {"provider": "aws", "region": "eu-west-3"},
                "fra-1": {"provider": "aws", "region": "eu-central-1"},
            },
            "hosts": {"db": {"site": "par-1", "address": "127.0.0.1"}},
            "backups": {"nightly": {"protects": "db", "copies": listed}},
            "steps": [{"id": "a", "check": "backup.completeness", "with": {"backup": "nightly"}}],
        }
    )


def check(book: Runbook, **params: Any) -> Any:
    return completeness(CompletenessParams(backup="nightly", **params), RunbookContext(book))


def failure(book: Runbook, **params: Any) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        check(book, **params)
    return info.value


DUMPS = {"base/2024-06-01.tar": b"base" * 1000, "wal/0001": b"w1", "wal/0002": b"w2"}


def test_complete_copies_pass_against_the_primary_at_the_hosts_site(s3: Any) -> None:
    primary = bucket(s3, "eu-west-3", DUMPS)
    one, two = bucket(s3, "eu-central-1", DUMPS), bucket(s3, "eu-central-1", DUMPS)
    output = check(runbook(primary, one, two, first="copy"))
    assert output.summary == (
        f"nightly: 2 copies complete against s3://{primary}/db/ (3 objects, 4.0 kB)"
    )
    assert output.evidence["primary"] == f"s3://{primary}/db/"
    rows = output.evidence["copies"]
    assert [row["uri"] for row in rows] == [f"s3://{one}/db/", f"s3://{two}/db/"]
    assert rows[0]["objects"] == 3 and rows[0]["bytes"] == 4004
    assert rows[0]["verified"] == {"etag": 3} and rows[0]["complete"]
    assert rows[0]["missing"] == {"count": 0, "samples": []}


def test_missing_and_mismatched_objects_fail_with_samples(s3: Any) -> None:
    primary = bucket(s3, "eu-west-3", DUMPS | {"wal/0003": b"w3", "wal/0004": b"w4"})
    copy = bucket(
        s3,
        "eu-central-1",
        {
            "base/2024-06-01.tar": b"base" * 999,  # size
            "wal/0001": b"w1",
            "wal/0003": b"W3",
        },
    )
    api(s3, "eu-central-1", checksums=False).put_object(Bucket=copy, Key="db/wal/0004", Body=b"W4")
    error = failure(runbook(primary, copy), samples=2)
    assert str(error) == (
        f"nightly: s3://{copy}/db/: 1 missing (e.g. wal/0002), "
        "3 mismatched (e.g. base/2024-06-01.tar)"
    )
    assert error.code == "data.corrupted"
    row = error.evidence["copies"][0]
    assert row["missing"] == {"count": 1, "samples": ["wal/0002"]}
    assert row["mismatched"] == {
        "count": 3,
        "samples": [  # the first two, in key order
            {"key": "base/2024-06-01.tar", "reason": "size 4,000 ≠ 3,996 bytes"},
            # Both keep the CRC32 boto3 adds since 1.36: it proves the difference.
            {"key": "wal/0003", "reason": "CRC32 differs"},
        ],
    }
    assert row["verified"] == {"etag": 1} and not row["complete"]


def test_same_size_other_content_without_checksums_is_told_by_the_etag(s3: Any) -> None:
    primary, copy = bucket(s3, "eu-west-3", DUMPS), bucket(s3, "eu-central-1", DUMPS)
    plain = api(s3, "eu-central-1", checksums=False)
    plain.put_object(Bucket=copy, Key="db/wal/0001", Body=b"W1")
    row = failure(runbook(primary, copy)).evidence["copies"][0]
    assert row["mismatched"]["samples"] == [{"key": "wal/0001", "reason": "MD5 (ETag) differs"}]


def test_extra_objects_are_reported_but_pass(s3: Any) -> None:
    primary = bucket(s3, "eu-west-3", DUMPS)
    copy = bucket(s3, "eu-central-1", DUMPS | {"wal/0000": b"old", "zz/old.tar": b"old"})
    output = check(runbook(primary, copy))
    assert output.summary.endswith("(3 objects, 4.0 kB); 2 extra")
    assert output.evidence["copies"][0]["extra"] == {
        "count": 2,
        "samples": ["wal/0000", "zz/old.tar"],
    }


def test_non_ascii_and_nested_keys_merge_in_utf8_binary_order(s3: Any) -> None:
    # UTF-16 would order U+1F600 (a surrogate pair) before U+FF61; S3 and Python do not.
    keys = ["a-b.sql", "a/b.sql", "a/b/c.sql", "z.sql", "é.sql", "｡/x", "😀/x", "日本/データ"]
    primary = bucket(s3, "eu-west-3", {key: key.encode() for key in keys})
    copy = bucket(s3, "eu-central-1", {key: key.encode() for key in keys if key != "｡/x"})
    error = failure(runbook(primary, copy))
    assert error.code == "data.missing"
    row = error.evidence["copies"][0]
    assert row["missing"] == {"count": 1, "samples": ["｡/x"]}
    assert (row["extra"]["count"], row["mismatched"]["count"]) == (0, 0)
    assert row["verified"] == {"etag": len(keys) - 1}


def test_additional_checksums_decide_when_etags_cannot(s3: Any) -> None:
    primary, copy = bucket(s3, "eu-west-3"), bucket(s3, "eu-central-1")
    here, there = api(s3, "eu-west-3"), api(s3, "eu-central-1")
    for client, name, body in ((here, primary, b"a" * 64), (there, copy, b"b" * 64)):
        client.put_object(Bucket=name, Key="db/sha", Body=body, ChecksumAlgorithm="SHA256")
        client.put_object(Bucket=name, Key="db/same", Body=b"s", ChecksumAlgorithm="SHA256")
    # Multipart here, one part there: ETags differ, full-object CRC32s are equal.
    content = [b"m" * PART, b"tail"]
    multipart(here, primary, "big", content, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    there.put_object(Bucket=copy, Key="db/big", Body=b"".join(content))
    row = failure(runbook(primary, copy)).evidence["copies"][0]
    assert row["mismatched"] == {
        "count": 1,
        "samples": [{"key": "sha", "reason": "SHA256 differs"}],
    }
    assert row["verified"] == {"checksum": 1, "etag": 1}


def test_multipart_without_checksums_is_unverifiable_unless_deep(s3: Any) -> None:
    primary, copy = bucket(s3, "eu-west-3"), bucket(s3, "eu-central-1")
    here, there = api(s3, "eu-west-3", checksums=False), api(s3, "eu-central-1", checksums=False)
    for name, client in ((primary, here), (copy, there)):  # same parts: equal ETags prove it
        multipart(client, name, "twin", [b"t" * PART, b"1"])
    multipart(here, primary, "same", [b"s" * PART, b"1"])
    multipart(here, primary, "other", [b"o" * PART, b"1"])
    there.put_object(Bucket=copy, Key="db/same", Body=b"s" * PART + b"1")  # in one part
    multipart(there, copy, "other", [b"O" * PART, b"1"])
    output = check(runbook(primary, copy))
    assert output.summary.endswith("(3 objects, 15.7 MB); 2 unverifiable")
    row = output.evidence["copies"][0]
    assert row["unverifiable"]["samples"][0] == {
        "key": "other",
        "reason": "multipart ETag, no common checksum",
    }
    assert row["verified"] == {"etag": 1}
    row = failure(runbook(primary, copy), deep=True).evidence["copies"][0]
    assert row["mismatched"]["samples"] == [{"key": "other", "reason": "content differs (sha256)"}]
    assert row["verified"] == {"etag": 1, "sha256": 1} and row["unverifiable"]["count"] == 0


def downloads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record each (bucket, key) storage.sha256 reads, then let it read."""
    seen: list[tuple[str, str]] = []
    real = storage.sha256

    def sha256(location: S3Location, key: str, region: str | None = None) -> str:
        seen.append((location.bucket, key))
        return real(location, key, region)

    monkeypatch.setattr(storage, "sha256", sha256)
    return seen


def test_content_reads_both_objects_of_every_pair_even_when_etags_agree(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, copy = bucket(s3, "eu-west-3", DUMPS), bucket(s3, "eu-central-1", DUMPS)
    seen = downloads(monkeypatch)
    output = check(runbook(primary, copy), content=True)
    assert output.summary == (
        f"nightly: 1 copy complete against s3://{primary}/db/ (3 objects, 4.0 kB)"
    )
    assert output.evidence["content"] is True
    assert output.evidence["copies"][0]["verified"] == {"sha256": 3}
    assert sorted(seen) == sorted((name, key) for name in (primary, copy) for key in DUMPS)


def test_content_tells_same_size_other_bytes_and_skips_other_sizes(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = bucket(s3, "eu-west-3", DUMPS | {"wal/0003": b"w3"})
    copy = bucket(
        s3,
        "eu-central-1",
        {
            "base/2024-06-01.tar": b"base" * 999,  # size: decided from the listings
            "wal/0001": b"W1",  # same size, other bytes
            "wal/0002": b"w2",
            "wal/0003": b"w3",
        },
    )
    seen = downloads(monkeypatch)
    row = failure(runbook(primary, copy), content=True).evidence["copies"][0]
    assert row["mismatched"] == {
        "count": 2,
        "samples": [
            {"key": "base/2024-06-01.tar", "reason": "size 4,000 ≠ 3,996 bytes"},
            {"key": "wal/0001", "reason": "content differs (sha256)"},
        ],
    }
    assert row["verified"] == {"sha256": 2} and not row["complete"]
    assert sorted(key for _, key in seen) == ["wal/0001"] * 2 + ["wal/0002"] * 2 + ["wal/0003"] * 2


def test_an_empty_primary_passes_and_reports_what_the_copy_has_more(s3: Any) -> None:
    primary, copy = bucket(s3, "eu-west-3"), bucket(s3, "eu-central-1", {"old.tar": b"x"})
    output = check(runbook(primary, copy))
    assert output.summary == (
        f"nightly: 1 copy complete against s3://{primary}/db/ (0 objects, 0 B); 1 extra"
    )


def test_a_single_copy_has_nothing_to_compare(s3: Any) -> None:
    primary = bucket(s3, "eu-west-3", DUMPS)
    output = check(runbook(primary))
    assert output.summary == (
        f"nightly: a single copy (s3://{primary}/db/), nothing to compare it with"
    )


def test_a_missing_bucket_stops_every_thread_and_names_it(s3: Any) -> None:
    primary = bucket(s3, "eu-west-3", DUMPS)
    with pytest.raises(storage.StorageError) as info:
        check(runbook(primary, "no-such-bucket-cmp"))
    assert "ListObjectsV2 failed: NoSuchBucket" in str(info.value)
    assert info.value.code == "access.no_bucket"


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        (("a-b", "a"), "listed 'a' after 'a-b' (out of order"),
        (("a", "a"), "listed 'a' after 'a' (listed twice"),
    ],
)
def test_a_listing_out_of_order_is_the_store_s_fault_not_a_wrong_answer(
    monkeypatch: pytest.MonkeyPatch, keys: tuple[str, str], said: str
) -> None:
    objects = [ObjectInfo(key, 1, "e", datetime.now(UTC), None) for key in keys]
    monkeypatch.setattr(listing, "sorted_objects", lambda location: (o for o in objects))
    with pytest.raises(storage.StorageError) as info:
        compare(S3Location("p", "db/"), [S3Location("c", "db/")])
    assert str(info.value) in {
        f"s3://{bucket}/db/: cannot check: the store {said}: the store is at fault, not the backup)"
        for bucket in ("p", "c")  # both listings are the same: either lister may stop first
    }
    assert info.value.code == "access.failed"


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 999, 1000, 5_600_000, 10**13)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "5.6 MB",
        "10.0 TB",
    ]


OBJECTS = 5_000  # moto stores ~240 objects/s here: 20,000 a side would take ~3 minutes


def test_memory_stays_bounded_and_the_merge_keeps_pace(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bucket compared with itself, in full and half of it (one of two prefixes).

    The peak is asserted under 30 MB as shipped. Then, with queues too short to matter,
    twice the objects must not hold more of them at once, as holding every object would.
    Counted, not weighed: the peak in bytes also holds botocore's pages (two per lister
    while it fetches the next), whose parsing coincides or not from run to run (~1.3 MB).
    """
    name = bucket(s3, "eu-west-3")
    client = api(s3, "eu-west-3", checksums=False)

    def put(i: int) -> None:
        client.put_object(Bucket=name, Key=f"db/h{i % 2}/{i:06d}.wal", Body=b"%d" % i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(OBJECTS)))
    whole, half = S3Location(name, "db/"), S3Location(name, "db/h0/")
    started = time.perf_counter()
    (tally,) = compare(whole, [whole])
    seconds = time.perf_counter() - started
    assert tally.objects == OBJECTS and tally.complete and tally.verified == {"etag": OBJECTS}
    shipped = peak(whole)
    monkeypatch.setattr(backup_completeness, "_QUEUE", 100)
    monkeypatch.setattr(listing, "LANE_QUEUE", 100)
    small, large = most_alive(half, monkeypatch), most_alive(whole, monkeypatch)
    print(
        f"\n{OBJECTS:,} objects a side in {seconds:.2f} s ({OBJECTS / seconds:,.0f}/s); "
        f"tracemalloc peak {shipped / 1e6:.1f} MB; with 100-object queues, at most "
        f"{small:,} listed objects alive at once for {OBJECTS // 2:,}, {large:,} for {OBJECTS:,}"
    )
    # Per listing (the same bucket is listed twice): its queue to the merger, and either a
    # queue per folder lane (db/ holds two folders) or the objects read ahead of a flat
    # prefix (db/h0/, capped at LANE_QUEUE); plus the few objects the threads have in hand.
    held = 2 * (100 + 2 * 100) + 10
    assert shipped < 30e6 and small <= held and large <= held


def most_alive(location: S3Location, monkeypatch: pytest.MonkeyPatch) -> int:
    """The most listed objects (``ObjectInfo``) alive at once while comparing ``location``
    with itself: whatever the queues, the merger and the workers still hold."""
    real, lock = storage._info, threading.Lock()
    alive, most = 0, 0

    def gone() -> None:
        nonlocal alive
        with lock:
            alive -= 1

    def counted(where: S3Location, item: dict[str, Any]) -> ObjectInfo:
        nonlocal alive, most
        info = real(where, item)
        with lock:
            alive += 1
            most = max(most, alive)
        weakref.finalize(info, gone)
        return info

    with monkeypatch.context() as patch:
        patch.setattr(storage, "_info", counted)  # every listed object is made there
        compare(location, [location])
    return most


def peak(location: S3Location) -> int:
    """Peak bytes Python allocated (every thread) while comparing ``location`` with itself."""
    tracemalloc.start()
    try:
        compare(location, [location])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
