"""backup.protection against a real S3 API (the moto server): versioning, Object Lock, public."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from checks.backup_protection import ProtectionParams, protection
from lifeboat import storage
from lifeboat.errors import AccessError, CheckFailed
from lifeboat.runbook.model import Runbook
from lifeboat.testing import RunbookContext

REGION = "eu-central-1"
FULL_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def bucket(
    s3: Any,
    *,
    retention: dict[str, Any] | None = None,
    lock: bool = False,
    versioning: str | None = None,
    block: dict[str, bool] | None = FULL_BLOCK,
    acl: str | None = None,
    policy: bool = False,
) -> str:
    """A bucket set up as told; ``retention`` (e.g. COMPLIANCE 30 days) turns Object Lock on."""
    name = f"p-{uuid.uuid4().hex[:12]}"
    api = s3.client("s3", REGION)
    api.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=lock or retention is not None,
    )
    if retention is not None:
        api.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": retention},
            },
        )
    if versioning == "Suspended":
        api.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if versioning:
        api.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    if acl:
        api.put_bucket_acl(Bucket=name, ACL=acl)
    if policy:
        statement = {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{name}/*",
        }
        document = {"Version": "2012-10-17", "Statement": [statement]}
        api.put_bucket_policy(Bucket=name, Policy=json.dumps(document))
    if block is not None:  # last: a block set first would refuse the public ACL or policy
        api.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    api.put_object(Bucket=name, Key="db/dump.sql", Body=b"x")
    return name


def locked(s3: Any, days: int = 30) -> str:
    """The bucket the check wants: versioning, COMPLIANCE retention, fully blocked."""
    return bucket(s3, retention={"Mode": "COMPLIANCE", "Days": days})


def context(offsite: list[str], primary: str | None = None) -> RunbookContext:
    copies = [{"uri": f"s3://{primary}/db/", "site": "par-1"}] if primary else []
    copies += [{"uri": f"s3://{name}/db/", "site": "fra-1"} for name in offsite]
    runbook = Runbook.model_validate(
        {
            "id": "b",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "par-1": {"provider": "aws", "region": "eu-west-3"},
                "fra-1": {"provider": "aws", "region": REGION},
            },
            "hosts": {"db": {"site": "par-1", "address": "127.0.0.1"}},
            "backups": {"nightly": {"protects": "db", "copies": copies}},
            "steps": [{"id": "a", "check": "backup.protection", "with": {"backup": "nightly"}}],
        }
    )
    return RunbookContext(runbook)


def params(**values: Any) -> ProtectionParams:
    return ProtectionParams.model_validate({"backup": "nightly", **values})


def failure(ctx: RunbookContext, **values: Any) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        protection(params(**values), ctx)
    assert info.value.code == "data.unprotected"
    return info.value


def test_versioned_compliance_locked_blocked_bucket_passes(s3: Any) -> None:
    name = locked(s3)
    ctx = context([name])
    output = protection(params(object_lock="fail", min_retention="30d"), ctx)
    assert (
        output.summary == "nightly: 1 off-site copy protected (versioning, Object Lock, not public)"
    )
    assert output.evidence["copies"] == [
        {
            "uri": f"s3://{name}/db/",
            "versioning": "Enabled",
            "mfa_delete": False,
            "object_lock": True,
            "lock_mode": "COMPLIANCE",
            "retention": "30d",
            "public": False,
            "public_reasons": [],
            "findings": [],
            "verdict": "protected",
        }
    ]
    assert output.evidence["warnings"] == []
    assert ctx.lines == [
        f"s3://{name}/db/: versioning Enabled, Object Lock COMPLIANCE 30d, not public: protected"
    ]


def test_plain_bucket_fails_on_versioning_and_names_the_copy(s3: Any) -> None:
    name = bucket(s3)
    error = failure(context([name]))
    assert str(error) == f"nightly: s3://{name}/db/: versioning off"
    assert error.evidence["warnings"] == [f"s3://{name}/db/: no Object Lock"]
    assert error.evidence["copies"][0]["verdict"] == "unprotected"


def test_suspended_versioning_and_no_lock_both_fail_when_the_lock_rule_fails(s3: Any) -> None:
    name = bucket(s3, versioning="Suspended")
    error = failure(context([name]), object_lock="fail")
    assert str(error) == f"nightly: s3://{name}/db/: versioning Suspended; no Object Lock"
    assert error.evidence["warnings"] == []


def test_each_failing_copy_is_named(s3: Any) -> None:
    good, bad, worse = locked(s3), bucket(s3), bucket(s3, versioning="Suspended")
    error = failure(context([good, bad, worse]))
    assert str(error) == (
        f"nightly: s3://{bad}/db/: versioning off | s3://{worse}/db/: versioning Suspended"
    )
    verdicts = [row["verdict"] for row in error.evidence["copies"]]
    assert verdicts == ["protected", "unprotected", "unprotected"]


def test_warn_mode_passes_with_the_warnings_in_the_summary(s3: Any) -> None:
    name = bucket(s3)
    output = protection(params(versioning="warn"), context([name]))
    uri = f"s3://{name}/db/"
    assert output.summary == (
        f"nightly: 1 off-site copy passed with 2 warnings: {uri}: versioning off; "
        f"{uri}: no Object Lock"
    )
    assert output.evidence["warnings"] == [f"{uri}: versioning off", f"{uri}: no Object Lock"]
    assert output.evidence["copies"][0]["verdict"] == "warnings"


def test_off_rules_are_not_checked(s3: Any) -> None:
    name = bucket(s3, block=None)
    values = {"versioning": "off", "object_lock": "off", "public_access": "off"}
    output = protection(params(**values), context([name]))
    assert output.summary == "nightly: 1 off-site copy protected (every rule off)"
    assert output.evidence["copies"][0]["findings"] == []
    assert output.evidence["copies"][0]["public"] is True  # still reported, not judged


def test_retention_shorter_than_min_retention_fails(s3: Any) -> None:
    name = locked(s3, days=30)
    error = failure(context([name]), object_lock="fail", min_retention="90d")
    assert str(error) == f"nightly: s3://{name}/db/: retention 30d, policy asks at least 90d"
    assert error.evidence["min_retention"] == "90d"


def test_retention_shorter_than_min_retention_only_warns_by_default(s3: Any) -> None:
    name = locked(s3, days=30)
    output = protection(params(min_retention="5w"), context([name]))
    assert output.evidence["warnings"] == [
        f"s3://{name}/db/: retention 30d, policy asks at least 5w"
    ]


def test_governance_mode_and_years_of_retention(s3: Any) -> None:
    name = bucket(s3, retention={"Mode": "GOVERNANCE", "Years": 1})
    error = failure(context([name]), object_lock="fail", min_retention="366d")
    assert str(error) == (
        f"nightly: s3://{name}/db/: retention in GOVERNANCE mode (an admin can lift it); "
        "retention 365d, policy asks at least 366d"
    )
    assert error.evidence["copies"][0]["lock_mode"] == "GOVERNANCE"


def test_object_lock_without_default_retention(s3: Any) -> None:
    name = bucket(s3, lock=True)
    error = failure(context([name]), object_lock="fail")
    assert str(error) == f"nightly: s3://{name}/db/: Object Lock without a default retention"
    assert error.evidence["copies"][0]["versioning"] == "Enabled"  # Object Lock implies it


def test_public_read_acl_fails_public_access(s3: Any) -> None:
    name = bucket(s3, retention={"Mode": "COMPLIANCE", "Days": 30}, block=None, acl="public-read")
    error = failure(context([name]))
    assert str(error) == (
        f"nightly: s3://{name}/db/: no public access block; ACL grants READ to AllUsers"
    )
    assert error.evidence["copies"][0]["public"] is True


def test_public_policy_fails_public_access(s3: Any) -> None:
    partial = {**FULL_BLOCK, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    name = bucket(s3, retention={"Mode": "COMPLIANCE", "Days": 30}, block=partial, policy=True)
    error = failure(context([name]))
    assert str(error) == (
        f"nightly: s3://{name}/db/: public access block partial: BlockPublicPolicy, "
        "RestrictPublicBuckets off; bucket policy is public"
    )


def test_a_full_block_neutralises_a_public_acl_and_policy(s3: Any) -> None:
    name = bucket(s3, retention={"Mode": "COMPLIANCE", "Days": 30}, acl="public-read", policy=True)
    state = storage.protection(storage.S3Location.parse(f"s3://{name}/db/"))
    assert state.public_reasons == ()
    assert not state.public


def test_offsite_skips_the_primary_and_all_checks_it(s3: Any) -> None:
    home, away = bucket(s3), locked(s3)
    ctx = context([away], primary=home)
    output = protection(params(), ctx)
    assert [row["uri"] for row in output.evidence["copies"]] == [f"s3://{away}/db/"]
    assert output.evidence["primary"] == f"s3://{home}/db/"
    assert len(ctx.lines) == 1
    error = failure(context([away], primary=home), copies="all")
    assert str(error) == f"nightly: s3://{home}/db/: versioning off"


def test_only_a_primary_copy_leaves_nothing_to_check(s3: Any) -> None:
    output = protection(params(), context([], primary=bucket(s3)))
    assert output.summary == "nightly: no off-site copy to check (the only copy is the primary)"
    assert output.evidence["copies"] == []


def test_absent_bucket_is_an_access_error_not_a_finding(s3: Any) -> None:
    missing = f"absent-{uuid.uuid4().hex[:12]}"
    with pytest.raises(AccessError) as info:
        protection(params(), context([missing]))
    assert not isinstance(info.value, CheckFailed)
    assert info.value.code == "access.no_bucket"
    assert str(info.value).startswith(
        f"s3://{missing}/db/: cannot check, the bucket does not exist at this endpoint; "
        "GetBucketVersioning failed: NoSuchBucket"
    )


def test_the_check_is_registered_with_its_parameters() -> None:
    import checks
    from lifeboat.registry import registry

    spec = registry.get("backup.protection")
    assert spec is not None and spec.params is ProtectionParams
    assert "backup_protection" in checks.__all__
    schema = ProtectionParams.model_json_schema()
    assert schema["properties"]["object_lock"]["default"] == "warn"
    assert all("description" in field for field in schema["properties"].values())
