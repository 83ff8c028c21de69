"""Object storage (S3 API) for the backup checks: listing, reading and writing objects.

Any S3-compatible store works: AWS, MinIO, OVHcloud, Scaleway, or moto in tests. boto3
honours ``AWS_ENDPOINT_URL``, so no code path of ours differs between them. Every
botocore error is converted into a ``StorageError`` saying what (the operation),
where (the ``s3://`` URI) and why (the service's error code and message), with an
``access.*`` code: a refused credential or a stopped endpoint is never reported as a
missing or corrupted backup (see ``lifeboat.errors``).

This is the module callers use. With the two it re-exports from, it is the one place
that talks to boto3: ``lifeboat.s3client`` builds the shared client (``client``) and
holds ``S3Location`` and ``StorageError``; ``lifeboat.bucket_protection`` reads a
bucket's versioning, Object Lock and public exposure (``protection``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from lifeboat import aws, s3direct
from lifeboat.bucket_protection import Protection, protection
from lifeboat.s3client import S3Location, StorageError, client, failed

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "ObjectHead",
    "ObjectInfo",
    "Protection",
    "RegionAnswer",
    "S3Location",
    "StorageError",
    "bucket_location",
    "bucket_region",
    "chunks",
    "client",
    "endpoint",
    "head",
    "list_level",
    "list_objects",
    "newest",
    "object_lock_enabled",
    "protection",
    "read_bytes",
    "sha256",
    "write_bytes",
    "write_locked",
]


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the location's prefix
    size: int
    etag: str
    modified: datetime
    checksum_algorithm: str | None  # e.g. "SHA256" when the store keeps a checksum


def bucket_region(location: S3Location) -> str:
    """The region to sign the bucket's requests for (GetBucketLocation), an empty answer
    read as AWS means it: us-east-1. Not evidence of where the bucket is (other stores
    answer empty for every bucket): ``bucket_location`` says only what the store said."""
    try:
        answer = client().get_bucket_location(Bucket=location.bucket)
    except (ClientError, BotoCoreError) as exc:
        raise failed("GetBucketLocation", location, exc) from exc
    # S3 answers None for us-east-1 and "EU" for the oldest eu-west-1 buckets.
    constraint = answer.get("LocationConstraint")
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)
    return str(region)


@dataclass(frozen=True)
class RegionAnswer:
    """What the store itself said about where a bucket is, for ``backup.geo_separation``."""

    region: str | None  # the region the store named; None when it named none
    said: str  # the store's answers in words, for the evidence


def bucket_location(location: S3Location) -> RegionAnswer:
    """The region the store reports for the bucket, and nothing it did not say.

    Unlike ``bucket_region``, an empty GetBucketLocation is not read as us-east-1: AWS
    answers empty for us-east-1, but s3rver and other S3-compatible stores answer empty
    for every bucket. HeadBucket's ``x-amz-bucket-region`` (AWS sends it for every bucket,
    us-east-1 included, even on a refusal) settles it when the store sends it. A store
    that does not implement GetBucketLocation (``access.failed``) has said nothing either;
    refused credentials, an absent bucket or an unreachable endpoint still raise.
    """
    s3 = client()
    try:
        constraint = s3.get_bucket_location(Bucket=location.bucket).get("LocationConstraint")
    except (ClientError, BotoCoreError) as exc:
        error = failed("GetBucketLocation", location, exc)
        if error.code != "access.failed":
            raise error from exc
        said = f"GetBucketLocation failed: {aws.explain(exc, {}).why}"
    else:
        if constraint:
            region = "eu-west-1" if constraint == "EU" else str(constraint)  # the oldest buckets
            return RegionAnswer(region, f"GetBucketLocation: {constraint}")
        said = "GetBucketLocation: empty LocationConstraint"
    try:
        headers = s3.head_bucket(Bucket=location.bucket)["ResponseMetadata"]["HTTPHeaders"]
    except ClientError as exc:  # AWS names the region on a 403 or 301 too
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    except BotoCoreError:
        headers = {}
    if header := str(headers.get("x-amz-bucket-region") or ""):
        return RegionAnswer(header, f"{said}; HeadBucket x-amz-bucket-region: {header}")
    return RegionAnswer(None, f"{said}; HeadBucket: no x-amz-bucket-region")


def endpoint() -> str:
    """The host (and port, if any) of the S3 endpoint the shared client talks to."""
    return str(urlparse(client().meta.endpoint_url).netloc).lower()


def list_objects(
    location: S3Location, region: str | None = None, *, under: str = ""
) -> Iterator[ObjectInfo]:
    """Every object under the prefix (and ``under`` it), one page (1,000) in memory at a time.

    Keys stay relative to the location's prefix, ``under`` included in them.
    """
    try:
        for page in _pages(location, region, Prefix=location.prefix + under):
            for item in page.get("Contents", []):
                yield _info(location, item)
    except (ClientError, BotoCoreError) as exc:
        raise failed("ListObjectsV2", location, exc) from exc


def list_level(
    location: S3Location, region: str | None = None, *, under: str = ""
) -> Iterator[ObjectInfo | str]:
    """The objects and the folders (common prefixes for "/", relative to the location's
    prefix) directly under the prefix and ``under``, together in key order."""
    cut = len(location.prefix)
    try:
        for page in _pages(location, region, Prefix=location.prefix + under, Delimiter="/"):
            # Each page is sorted over both lists; a page ends where the next one starts.
            # Merged lazily: an object is made when it is read, as in list_objects.
            objects: Iterator[ObjectInfo | str]
            objects = (_info(location, item) for item in page.get("Contents", []))
            folders: Iterator[ObjectInfo | str]
            folders = (str(p["Prefix"])[cut:] for p in page.get("CommonPrefixes", []))
            yield from heapq.merge(objects, folders, key=_name)
    except (ClientError, BotoCoreError) as exc:
        raise failed("ListObjectsV2", location, exc) from exc


def _pages(location: S3Location, region: str | None, **params: str) -> Iterator[dict[str, Any]]:
    """ListObjectsV2 pages, each read directly (``s3direct``) or, failing that, by boto3.

    botocore's paginator would do the same loop; this one lets a page that the direct path
    cannot read be asked of boto3 alone, which then raises the error if there is one.
    """
    s3 = client(region)
    direct = s3direct.bucket(s3, location.bucket)
    token = ""
    while True:
        query = params | ({"ContinuationToken": token} if token else {})
        page = direct.list_page(query) if direct is not None else None
        if page is None:
            page = s3.list_objects_v2(Bucket=location.bucket, **query)
        yield page
        following = str(page.get("NextContinuationToken") or "")
        if not page.get("IsTruncated") or not following:
            return
        if following == token:  # as botocore's paginator: a store looping on one page
            raise StorageError(
                f"cannot check: the store returned the same continuation token twice "
                f"({token[:40]!r}; the store is at fault, not the backup)",
                target=str(location),
                code="access.failed",
            )
        token = following


def _name(entry: ObjectInfo | str) -> str:
    return entry if isinstance(entry, str) else entry.key


def _info(location: S3Location, item: dict[str, Any]) -> ObjectInfo:
    algorithms = item.get("ChecksumAlgorithm") or []
    return ObjectInfo(
        key=item["Key"][len(location.prefix) :],
        size=int(item["Size"]),
        etag=str(item.get("ETag", "")).strip('"'),
        modified=item["LastModified"],
        checksum_algorithm=algorithms[0] if algorithms else None,
    )


def newest(location: S3Location, region: str | None = None) -> ObjectInfo | None:
    """The most recently modified object under the prefix (None when there is none)."""
    return max(list_objects(location, region), key=lambda o: (o.modified, o.key), default=None)


# --- per-object reads for backup.completeness ---
# A listing names an object's checksum algorithm but not its value, and says nothing of
# encryption: comparing two copies of one object sometimes needs a HeadObject, and when no
# checksum can settle it, reading both objects.

#: Checksums S3 can keep besides the ETag, strongest first.
CHECKSUM_ALGORITHMS = ("SHA256", "SHA1", "CRC64NVME", "CRC32C", "CRC32")


@dataclass(frozen=True)
class ObjectHead:
    """What HeadObject (with ChecksumMode=ENABLED) says about one object."""

    size: int
    etag: str
    checksums: dict[str, str]  # algorithm -> base64 value ("...-3" when composite)
    checksum_type: str | None  # FULL_OBJECT, or COMPOSITE (per part, as multipart ETags)
    encryption: str | None  # "aws:kms..." or SSE-C: the ETag is then no MD5 of the content

    @property
    def etag_is_md5(self) -> bool:
        """Whether the ETag is the MD5 of the content (single part, not KMS or SSE-C)."""
        encrypted = self.encryption is not None and self.encryption != "AES256"
        return "-" not in self.etag and not encrypted


def head(location: S3Location, key: str, region: str | None = None) -> ObjectHead:
    """Size, ETag, stored checksums and encryption of ``key`` (relative to the prefix)."""
    try:
        answer = client(region).head_object(
            Bucket=location.bucket, Key=location.prefix + key, ChecksumMode="ENABLED"
        )
    except (ClientError, BotoCoreError) as exc:
        raise failed(f"HeadObject {key!r}", location, exc) from exc
    checksums = {
        algorithm: str(answer[f"Checksum{algorithm}"])
        for algorithm in CHECKSUM_ALGORITHMS
        if answer.get(f"Checksum{algorithm}")
    }
    encryption = answer.get("ServerSideEncryption")
    if answer.get("SSECustomerAlgorithm"):
        encryption = "SSE-C"
    return ObjectHead(
        size=int(answer["ContentLength"]),
        etag=str(answer.get("ETag", "")).strip('"'),
        checksums=checksums,
        checksum_type=answer.get("ChecksumType"),
        encryption=str(encryption) if encryption else None,
    )


def sha256(location: S3Location, key: str, region: str | None = None) -> str:
    """The SHA-256 of ``key``'s content, streamed: memory stays one chunk at any size.

    Read by a signed GET of our own when possible (``s3direct``: a third of botocore's CPU
    per object, which is most of a content verification's), else through boto3.
    """
    import hashlib  # here, not at the top: this section only appends to the module

    direct = s3direct.bucket(client(region), location.bucket)
    if direct is not None and (digest := direct.sha256(location.prefix + key)) is not None:
        return digest
    hashed = hashlib.sha256()
    for chunk in chunks(location, key, region):
        hashed.update(chunk)
    return hashed.hexdigest()


def chunks(
    location: S3Location, key: str, region: str | None = None, size: int = 1 << 20
) -> Iterator[bytes]:
    """``key``'s content as it arrives, ``size`` bytes at a time (a restore's download)."""
    try:
        body = client(region).get_object(Bucket=location.bucket, Key=location.prefix + key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size=size)
        finally:
            body.close()
    except (ClientError, BotoCoreError) as exc:
        raise failed(f"GetObject {key!r}", location, exc) from exc


# --- whole small objects for the status page (lifeboat.comms.statuspage) ---
# The page keeps its state in its own feed.json: read it whole, write each file whole.


def read_bytes(location: S3Location, key: str, region: str | None = None) -> bytes | None:
    """``key``'s whole content (relative to the prefix); None when there is no such object."""
    try:
        answer = client(region).get_object(Bucket=location.bucket, Key=location.prefix + key)
        data: bytes = answer["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise failed(f"GetObject {key!r}", location, exc) from exc
    except BotoCoreError as exc:
        raise failed(f"GetObject {key!r}", location, exc) from exc
    return data


def write_bytes(
    location: S3Location,
    key: str,
    data: bytes,
    content_type: str,
    region: str | None = None,
    *,
    cache_control: str | None = None,
) -> None:
    """Store ``data`` as ``key`` (relative to the prefix), replacing it, with its type."""
    extra = {"CacheControl": cache_control} if cache_control else {}
    try:
        client(region).put_object(
            Bucket=location.bucket,
            Key=location.prefix + key,
            Body=data,
            ContentType=content_type,
            **extra,
        )
    except (ClientError, BotoCoreError) as exc:
        raise failed(f"PutObject {key!r}", location, exc) from exc


# --- write-once copies for the audit record (lifeboat.audit.offsite) ---
# A run's journal and digest go to a bucket with Object Lock, each version kept in
# COMPLIANCE mode until a date: nobody, the root account included, may delete or
# overwrite that version before it.


def object_lock_enabled(location: S3Location, region: str | None = None) -> bool:
    """Whether the bucket was created with Object Lock (GetObjectLockConfiguration)."""
    try:
        answer = client(region).get_object_lock_configuration(Bucket=location.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
            return False
        raise failed("GetObjectLockConfiguration", location, exc) from exc
    except BotoCoreError as exc:
        raise failed("GetObjectLockConfiguration", location, exc) from exc
    config = answer.get("ObjectLockConfiguration") or {}
    return config.get("ObjectLockEnabled") == "Enabled"


def write_locked(
    location: S3Location,
    key: str,
    data: bytes,
    content_type: str,
    *,
    retain_until: datetime,
    region: str | None = None,
) -> str | None:
    """Store ``data`` as a new version of ``key``, locked in COMPLIANCE mode until
    ``retain_until``, with a SHA-256 the store checks; returns the version id."""
    try:
        answer = client(region).put_object(
            Bucket=location.bucket,
            Key=location.prefix + key,
            Body=data,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=retain_until,
        )
    except (ClientError, BotoCoreError) as exc:
        raise failed(f"PutObject {key!r} (Object Lock)", location, exc) from exc
    version = answer.get("VersionId")
    return str(version) if version else None
