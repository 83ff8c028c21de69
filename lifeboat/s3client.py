"""The S3 client every object-store call shares, the ``s3://`` address, and our error.

Split from ``lifeboat.storage``, which re-exports ``client``, ``S3Location`` and
``StorageError``: callers keep using that module. Building the client is a subject of
its own: a session per client so that rotated credentials are seen, one shared loader of
botocore's models, a fast timestamp parser in place of dateutil, timeouts and retries
from the settings, a connection pool sized for backup.completeness. ``failed`` turns a
botocore error into a ``StorageError`` for every call in ``storage`` and
``bucket_protection``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

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
            raise StorageError(
                f"cannot check: not an s3:// URI: {uri!r}", target=uri, code="access.bad_uri"
            )
        return cls(parsed.netloc, parsed.path.lstrip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


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


def timestamp(value: Any) -> datetime:
    """A timestamp from S3 (ISO 8601 in listings, RFC 1123 in headers) as an aware datetime.

    botocore parses every timestamp with dateutil: 70% of the client's CPU time on a
    1,000-key listing page, ~0.25 ms a GetObject. Both formats have fast parsers in the
    standard library; anything else goes to botocore's (dateutil). bench/verify.py, 10,000
    keys a side: the listing comparison took 2.5 s of CPU in this process before, 1.5 s
    after (rclone check: 0.7 s); wall 1.34x rclone's, 1.04x. Used by the client's parser
    and by ``s3direct``'s listing pages.
    """
    import email.utils

    from botocore.utils import parse_timestamp

    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            if (parsed := datetime.fromisoformat(value)).tzinfo is not None:
                return parsed
        with contextlib.suppress(ValueError, TypeError, IndexError):
            if (parsed := email.utils.parsedate_to_datetime(value)).tzinfo is not None:
                return parsed
    slow: datetime = parse_timestamp(value)
    return slow


@functools.cache
def client(region: str | None = None) -> Any:
    """A shared S3 client (clients are thread-safe; creating one costs ~50 ms).

    A session of its own, not boto3's default one: that one keeps the first credentials
    it resolved for the life of the process, so after ``cache_clear()`` a rotated key or
    another profile in the environment would still be ignored.
    """
    import botocore.session

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


def failed(operation: str, where: S3Location | str, exc: Exception) -> StorageError:
    """Our error for a botocore one: the operation, the service's words, and what to check."""
    failure = aws.explain(exc, _NO_BUCKET)
    said = f"{failure.hint}; " if failure.hint else ""
    return StorageError(
        f"cannot check, {said}{operation} failed: {failure.why}",
        target=str(where),
        code=failure.code,
    )
