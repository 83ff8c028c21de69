"""Object storage (S3 API) for the backup checks: the one place that talks to boto3.

Any S3-compatible store works: AWS, MinIO, OVHcloud, Scaleway, or moto in tests. boto3
honours ``AWS_ENDPOINT_URL``, so no code path of ours differs between them. Every
botocore error is converted here into a ``StorageError`` saying what (the operation),
where (the ``s3://`` URI) and why (the service's error code and message), with an
``access.*`` code: a refused credential or a stopped endpoint is never reported as a
missing or corrupted backup (see ``lifeboat.errors``).
"""

from __future__ import annotations

import functools
import heapq
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lifeboat import aws
from lifeboat.errors import AccessError
from lifeboat.settings import Settings

_lock = threading.Lock()


class StorageError(AccessError):
    """An object-store call failed: the store could not be reached or refused us."""


_NO_BUCKET = {"NoSuchBucket": ("access.no_bucket", "the bucket does not exist at this endpoint")}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"not an s3:// URI: {uri!r}", target=uri, code="access.bad_uri")
        return cls(parsed.netloc, parsed.path.lstrip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the location's prefix
    size: int
    etag: str
    modified: datetime
    checksum_algorithm: str | None  # e.g. "SHA256" when the store keeps a checksum


@functools.cache
def _models() -> Any:
    """botocore's loader of service models, shared by every client this module builds.

    A loader caches what it read: shared, the S3 model (~1 MB of JSON) is parsed once per
    process, not once per client (a client per region, and one again after cache_clear()).
    The files are botocore's own and do not change while the process runs. 100 ms per
    client before, 15 ms after.
    """
    import botocore.loaders

    return botocore.loaders.create_loader()


@functools.cache
def client(region: str | None = None) -> Any:
    """A shared S3 client (clients are thread-safe; creating one costs ~50 ms).

    A session of its own, not boto3's default one: that one keeps the first credentials
    it resolved for the life of the process, so after ``cache_clear()`` a rotated key or
    another profile in the environment would still be ignored.
    """
    import contextlib
    import email.utils

    import botocore.session
    from botocore.utils import parse_timestamp

    def timestamp(value: Any) -> datetime:
        # botocore parses every timestamp with dateutil: 70% of the client's CPU time on a
        # 1,000-key listing page, ~0.25 ms a GetObject. ISO 8601 (listings) and RFC 1123
        # (headers) have fast parsers in the standard library; anything else goes to dateutil.
        # bench/verify.py, 10,000 keys a side: the listing comparison took 2.5 s of CPU in
        # this process before, 1.5 s after (rclone check: 0.7 s); wall 1.34x rclone's, 1.04x.
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                if (parsed := datetime.fromisoformat(value)).tzinfo is not None:
                    return parsed
            with contextlib.suppress(ValueError, TypeError, IndexError):
                if (parsed := email.utils.parsedate_to_datetime(value)).tzinfo is not None:
                    return parsed
        slow: datetime = parse_timestamp(value)
        return slow

    # A blackholed endpoint (accepts, never answers) fails a call after (1 + retries) x
    # read timeout plus backoff: 4 min by default, LIFEBOAT_S3_READ_TIMEOUT/_RETRIES bound it.
    settings = Settings()
    with _lock:  # sessions are not thread-safe while creating clients
        core = botocore.session.get_session()
        core.register_component("data_loader", _models())
        core.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=timestamp
        )
        return boto3.session.Session(botocore_session=core).client(
            "s3",
            region_name=region,
            config=Config(
                # max_attempts counts retries, not tries: 3 is four requests at most.
                retries={"max_attempts": settings.s3_retries, "mode": "standard"},
                connect_timeout=settings.s3_connect_timeout,
                read_timeout=settings.s3_read_timeout,
                # botocore pools 10 connections; backup.completeness keeps 16 object requests
                # in flight (as rclone check --download: 8 checkers reading both sides) plus a
                # lister per listing. Past the pool, urllib3 drops each extra connection after
                # use, and with TLS every request would pay a new handshake.
                max_pool_connections=32,
                # Each read is proven by our own SHA-256 (against the other copy, a manifest
                # or a stored checksum). botocore's default asks the store to compute and
                # send a CRC per GetObject and checks it: CPU on both sides for nothing.
                # HeadObject still asks for checksums explicitly (ChecksumMode=ENABLED).
                response_checksum_validation="when_required",
            ),
        )


def _failed(operation: str, where: S3Location | str, exc: Exception) -> StorageError:
    """Our error for a botocore one: the operation, the service's words, and what to check."""
    failure = aws.explain(exc, _NO_BUCKET)
    said = f"{failure.hint}; " if failure.hint else ""
    message = f"cannot check, {said}{operation} failed: {failure.why}"
    return StorageError(message, target=str(where), code=failure.code)


def bucket_region(location: S3Location) -> str:
    """The region the store says the bucket lives in (GetBucketLocation)."""
    try:
        answer = client().get_bucket_location(Bucket=location.bucket)
    except (ClientError, BotoCoreError) as exc:
        raise _failed("GetBucketLocation", location, exc) from exc
    # S3 answers None for us-east-1 and "EU" for the oldest eu-west-1 buckets.
    constraint = answer.get("LocationConstraint")
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)
    return str(region)


def list_objects(
    location: S3Location, region: str | None = None, *, under: str = ""
) -> Iterator[ObjectInfo]:
    """Every object under the prefix (and ``under`` it), one page (1,000) in memory at a time.

    Keys stay relative to the location's prefix, ``under`` included in them.
    """
    pages = (
        client(region)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=location.bucket, Prefix=location.prefix + under)
    )
    try:
        for page in pages:
            for item in page.get("Contents", []):
                yield _info(location, item)
    except (ClientError, BotoCoreError) as exc:
        raise _failed("ListObjectsV2", location, exc) from exc


def list_level(
    location: S3Location, region: str | None = None, *, under: str = ""
) -> Iterator[ObjectInfo | str]:
    """The objects and the folders (common prefixes for "/", relative to the location's
    prefix) directly under the prefix and ``under``, together in key order."""
    pages = (
        client(region)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=location.bucket, Prefix=location.prefix + under, Delimiter="/")
    )
    cut = len(location.prefix)
    try:
        for page in pages:
            # Each page is sorted over both lists; a page ends where the next one starts.
            # Merged lazily: an object is made when it is read, as in list_objects.
            objects: Iterator[ObjectInfo | str]
            objects = (_info(location, item) for item in page.get("Contents", []))
            folders: Iterator[ObjectInfo | str]
            folders = (str(p["Prefix"])[cut:] for p in page.get("CommonPrefixes", []))
            yield from heapq.merge(objects, folders, key=_name)
    except (ClientError, BotoCoreError) as exc:
        raise _failed("ListObjectsV2", location, exc) from exc


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
        raise _failed(f"HeadObject {key!r}", location, exc) from exc
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
    """The SHA-256 of ``key``'s content, streamed: memory stays one chunk at any size."""
    import hashlib  # here, not at the top: this section only appends to the module

    digest = hashlib.sha256()
    for chunk in chunks(location, key, region):
        digest.update(chunk)
    return digest.hexdigest()


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
        raise _failed(f"GetObject {key!r}", location, exc) from exc


# --- bucket protection for backup.protection ---
# What stands between a backup and whoever holds a stolen key: versioning, Object Lock, and
# no public access. moto 5.2 (the test server) implements all five calls used here:
# GetBucketVersioning (it never returns MFADelete), GetObjectLockConfiguration,
# GetPublicAccessBlock, GetBucketAcl and GetBucketPolicyStatus. Like AWS, it answers
# NoSuchBucketPolicy to the last one when the bucket has no policy, and computes IsPublic
# more coarsely than AWS: an Allow statement without a Condition naming the principal "*".
# A store that does not implement one of these calls fails the check with access.failed:
# we could not look, so we say so rather than guess.

#: ACL grantees that make a bucket public: anyone, or anyone with any AWS account.
_PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}
_BLOCK_SETTINGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
_DAYS_PER_YEAR = 365  # S3 retention years, counted short: a minimum is never overstated


@dataclass(frozen=True)
class Protection:
    """What a bucket does against deletion and disclosure, as the store reports it."""

    versioning: str  # "Enabled", "Suspended", or "off" (never enabled)
    mfa_delete: bool
    object_lock: bool
    lock_mode: str | None  # default retention: "COMPLIANCE", "GOVERNANCE"; None without one
    lock_days: int | None  # default retention in days (years converted); None without one
    public_reasons: tuple[str, ...]  # why the bucket is or may become public; () when not

    @property
    def public(self) -> bool:
        return bool(self.public_reasons)


def protection(location: S3Location) -> Protection:
    """Versioning, Object Lock and public exposure of the location's bucket (five calls)."""
    bucket, api = location.bucket, client()
    versioning = _ask("GetBucketVersioning", location, api.get_bucket_versioning, bucket)
    lock = _ask(
        "GetObjectLockConfiguration",
        location,
        api.get_object_lock_configuration,
        bucket,
        absent="ObjectLockConfigurationNotFoundError",
    )
    block = _ask(
        "GetPublicAccessBlock",
        location,
        api.get_public_access_block,
        bucket,
        absent="NoSuchPublicAccessBlockConfiguration",
    )
    acl = _ask("GetBucketAcl", location, api.get_bucket_acl, bucket)
    status = _ask(
        "GetBucketPolicyStatus",
        location,
        api.get_bucket_policy_status,
        bucket,
        absent="NoSuchBucketPolicy",
    )
    config = (lock or {}).get("ObjectLockConfiguration", {})
    retention = config.get("Rule", {}).get("DefaultRetention", {})
    days = int(retention.get("Days") or 0) + _DAYS_PER_YEAR * int(retention.get("Years") or 0)
    return Protection(
        versioning=str(versioning.get("Status") or "off") if versioning else "off",
        mfa_delete=bool(versioning and versioning.get("MFADelete") == "Enabled"),
        object_lock=config.get("ObjectLockEnabled") == "Enabled",
        lock_mode=retention.get("Mode"),
        lock_days=days if retention.get("Mode") else None,
        public_reasons=_public_reasons(
            block.get("PublicAccessBlockConfiguration") if block else None,
            acl.get("Grants", []) if acl else [],
            bool(status and status.get("PolicyStatus", {}).get("IsPublic")),
        ),
    )


def _ask(
    operation: str, location: S3Location, call: Any, bucket: str, *, absent: str | None = None
) -> dict[str, Any] | None:
    """``call(Bucket=bucket)``'s answer; None when the store answers ``absent`` (not set)."""
    try:
        return call(Bucket=bucket)  # type: ignore[no-any-return]
    except ClientError as exc:
        if absent and exc.response.get("Error", {}).get("Code") == absent:
            return None
        raise _failed(operation, location, exc) from exc
    except BotoCoreError as exc:
        raise _failed(operation, location, exc) from exc


def _public_reasons(
    block: dict[str, Any] | None, grants: list[dict[str, Any]], policy_public: bool
) -> tuple[str, ...]:
    """Why a bucket is, or is one call away from being, public.

    A missing or partial public access block is a reason of its own: without it, one
    PutBucketAcl or PutBucketPolicy by a stolen key publishes every backup. A public ACL
    grant is not counted when IgnorePublicAcls is on, nor a public policy when
    RestrictPublicBuckets is: S3 then disregards them. Only the bucket's own block is
    read; an account-wide block (S3 Control) is not.
    """
    reasons: list[str] = []
    if block is None:
        reasons.append("no public access block")
    elif off := [name for name in _BLOCK_SETTINGS if not block.get(name)]:
        reasons.append(f"public access block partial: {', '.join(off)} off")
    setting = block or {}
    if not setting.get("IgnorePublicAcls"):
        for grant in grants:
            group = _PUBLIC_GROUPS.get(str(grant.get("Grantee", {}).get("URI", "")))
            if group:
                reasons.append(f"ACL grants {grant.get('Permission', '?')} to {group}")
    if policy_public and not setting.get("RestrictPublicBuckets"):
        reasons.append("bucket policy is public")
    return tuple(reasons)


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
        raise _failed(f"GetObject {key!r}", location, exc) from exc
    except BotoCoreError as exc:
        raise _failed(f"GetObject {key!r}", location, exc) from exc
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
        raise _failed(f"PutObject {key!r}", location, exc) from exc


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
        raise _failed("GetObjectLockConfiguration", location, exc) from exc
    except BotoCoreError as exc:
        raise _failed("GetObjectLockConfiguration", location, exc) from exc
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
        raise _failed(f"PutObject {key!r} (Object Lock)", location, exc) from exc
    version = answer.get("VersionId")
    return str(version) if version else None
