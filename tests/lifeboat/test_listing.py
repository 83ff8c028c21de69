"""The folder-parallel listing against moto S3: the same sorted stream as one plain listing."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from lifeboat import listing, storage
from lifeboat.storage import S3Location
from tests.waiting import wait_until

# Folders, objects beside them, names that sort around "/" ("0.txt" < "0/" < "0a"), and a
# folder nested in a folder: the cases where a wrong merge would reorder keys.
KEYS = [
    "db/0",
    "db/0.txt",
    "db/0/a",
    "db/0/b/c",
    "db/0/b/d",
    "db/0a",
    "db/1/x",
    "db/10/y",
    "db/2/z",
    "db/z",
    "top.txt",
]


def bucket(s3: Any, keys: list[str]) -> str:
    name = f"l-{uuid.uuid4().hex[:12]}"
    client = s3.client("s3", "eu-west-3")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    for key in keys:
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    return name


def keys(location: S3Location, lanes: int = listing.LANES) -> list[str]:
    return [o.key for o in listing.sorted_objects(location, lanes=lanes)]


@pytest.mark.parametrize("lanes", [1, 2, 8])
def test_the_same_sorted_keys_as_one_plain_listing(s3: Any, lanes: int) -> None:
    name = bucket(s3, KEYS)
    for prefix in ("", "db/", "db/0/", "db/0"):
        location = S3Location(name, prefix)
        plain = [o.key for o in storage.list_objects(location)]
        assert keys(location, lanes) == plain == sorted(plain)
    assert keys(S3Location(name, "db/")) == [k[3:] for k in KEYS if k.startswith("db/")]


def test_a_lone_folder_is_split_inside(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """s3://bucket/ over db/<n>/...: the lanes list db/0/, db/1/, ... not one db/."""
    name = bucket(s3, [f"db/{n}/{i}" for n in range(4) for i in range(3)])
    listed: list[str] = []
    real = storage.list_objects

    def spy(location: S3Location, region: str | None = None, *, under: str = "") -> Any:
        listed.append(under)
        return real(location, region, under=under)

    monkeypatch.setattr(storage, "list_objects", spy)
    assert len(keys(S3Location(name, ""))) == 12
    assert sorted(listed) == ["db/0/", "db/1/", "db/2/", "db/3/"]


def test_an_empty_or_flat_prefix(s3: Any) -> None:
    name = bucket(s3, ["a", "b", "c"])
    assert keys(S3Location(name, "")) == ["a", "b", "c"]
    assert keys(S3Location(name, "nothing/")) == []


def test_a_missing_bucket_is_an_access_error(s3: Any) -> None:
    with pytest.raises(storage.StorageError) as info:
        keys(S3Location("no-such-bucket-listing", "db/"))
    assert info.value.code == "access.no_bucket"


def test_closing_early_stops_every_lane(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "LANE_QUEUE", 2)  # lanes fill up and wait for the reader
    name = bucket(s3, [f"db/{n}/{i}" for n in range(6) for i in range(5)])
    objects = listing.sorted_objects(S3Location(name, "db/"))
    assert next(objects).key == "0/0"
    assert _lanes() > 1
    objects.close()
    wait_until(lambda: _lanes() == 0, "every listing lane ended after the stream was closed")


def _lanes() -> int:
    return sum(t.name == "listing" for t in threading.enumerate())
