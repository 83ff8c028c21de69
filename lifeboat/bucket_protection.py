"""Bucket protection for backup.protection: what the store says a bucket does against
deletion and disclosure.

What stands between a backup and whoever holds a stolen key: versioning, Object Lock, and
no public access. moto 5.2 (the test server) implements all five calls used here:
GetBucketVersioning (it never returns MFADelete), GetObjectLockConfiguration,
GetPublicAccessBlock, GetBucketAcl and GetBucketPolicyStatus. Like AWS, it answers
NoSuchBucketPolicy to the last one when the bucket has no policy, and computes IsPublic
more coarsely than AWS: an Allow statement without a Condition naming the principal "*".
A store that does not implement one of these calls fails the check with access.failed:
we could not look, so we say so rather than guess.

A module of its own, apart from ``lifeboat.storage`` (which re-exports ``Protection`` and
``protection``), because it reads bucket settings and judges them, and reads no object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lifeboat.s3client import S3Location, client, failed

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
        raise failed(operation, location, exc) from exc
    except BotoCoreError as exc:
        raise failed(operation, location, exc) from exc


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
