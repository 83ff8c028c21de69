"""The off-site WORM copy against a real S3 API (moto): Object Lock enforced, not assumed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lifeboat.audit import integrity, offsite
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import Journal, RunbookIdentity
from lifeboat.settings import Settings
from tests.conftest import run_context

REGION = "eu-central-1"  # the off-site bucket's; the orchestrator's site is in eu-west-3
SITE = "eu-west-3"
RUNBOOK = """\
id: offsite-test
version: 1.0.0
title: Check twice
owner: sre@example.com
steps:
  - {id: first, check: wait, with: {duration: 10ms}}
  - {id: second, check: wait, with: {duration: 10ms}, needs: [first]}
"""


def bucket(s3: Any, *, lock: bool = True, region: str = REGION) -> str:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    s3.client("s3", region).create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": region},
        ObjectLockEnabledForBucket=lock,
    )
    return name


def settings_for(home: Path, name: str, **more: Any) -> Settings:
    return Settings(
        home=home,
        audit_offsite_uri=f"s3://{name}/audit/",
        site_region=SITE,
        notify_backoff=0.01,
        **more,
    )


def sealed_run(settings: Settings, run_id: str = "run-1") -> Path:
    path = settings.runs_dir / run_id / "journal.jsonl"
    journal = Journal(path, run_id, RunbookIdentity(id="rb", version="1.0.0", sha256="cd" * 32))
    journal.append("run.started", actor="alice")
    journal.append("run.ended", summary="succeeded")
    integrity.seal(path, settings)
    return path.parent


def test_a_run_lands_offsite_under_compliance_retention(
    s3: Any, tmp_path: Path, lifeboat_home: Path
) -> None:
    name = bucket(s3)
    settings = settings_for(lifeboat_home, name, audit_retention_days=30)
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK, encoding="utf-8")
    ctx = run_context(path, "drill", settings=settings)
    outcome = execute(ctx, InlineExecutor(ctx))
    assert outcome.status == "succeeded"
    run_dir = Path(outcome.journal).parent
    assert integrity.verify_run(run_dir, integrity.public_key(settings)).ok
    api = s3.client("s3", REGION)
    for file in ("journal.jsonl", "digest.json"):
        key = f"audit/{ctx.run_id}/{file}"
        head = api.head_object(Bucket=name, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)
        body = api.get_object(Bucket=name, Key=key)["Body"].read()
        assert body == (run_dir / file).read_bytes()


def test_each_step_sends_the_journal_as_it_grows(
    s3: Any, tmp_path: Path, lifeboat_home: Path
) -> None:
    name = bucket(s3)
    settings = settings_for(lifeboat_home, name, audit_offsite_each_step=True)
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK, encoding="utf-8")
    ctx = run_context(path, "drill", settings=settings)
    execute(ctx, InlineExecutor(ctx))
    key = f"audit/{ctx.run_id}/journal.jsonl"
    versions = s3.client("s3", REGION).list_object_versions(Bucket=name, Prefix=key)["Versions"]
    assert len(versions) == 3  # after each of the two steps, and when the run ended


def test_deleting_the_offsite_journal_is_refused_by_object_lock(
    s3: Any, lifeboat_home: Path
) -> None:
    name = bucket(s3)
    settings = settings_for(lifeboat_home, name)
    keys = offsite.upload_run(sealed_run(settings), settings)
    assert keys == [
        f"s3://{name}/audit/run-1/journal.jsonl",
        f"s3://{name}/audit/run-1/digest.json",
    ]
    api = s3.client("s3", REGION)
    key = "audit/run-1/journal.jsonl"
    version = api.head_object(Bucket=name, Key=key)["VersionId"]
    with pytest.raises(ClientError) as refused:
        api.delete_object(Bucket=name, Key=key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert api.head_object(Bucket=name, Key=key, VersionId=version)["VersionId"] == version


def test_the_review_goes_too_when_present(s3: Any, lifeboat_home: Path) -> None:
    name = bucket(s3)
    settings = settings_for(lifeboat_home, name)
    run_dir = sealed_run(settings)
    (run_dir / "review.md").write_text("# Review\n", encoding="utf-8")
    keys = offsite.upload_run(run_dir, settings)
    assert keys[-1] == f"s3://{name}/audit/run-1/review.md"


def test_a_bucket_without_object_lock_is_refused(s3: Any, lifeboat_home: Path) -> None:
    name = bucket(s3, lock=False)
    settings = settings_for(lifeboat_home, name)
    with pytest.raises(offsite.OffsiteError, match="has no Object Lock: refused"):
        offsite.upload_run(sealed_run(settings), settings)
    logged: list[str] = []
    offsite.after_run(settings.runs_dir / "run-1" / "journal.jsonl", settings, logged.append)
    assert len(logged) == 1 and "no Object Lock" in logged[0]
    listed = s3.client("s3", REGION).list_objects_v2(Bucket=name)
    assert listed.get("KeyCount", 0) == 0


def test_a_bucket_in_the_sites_own_region_is_refused(s3: Any, lifeboat_home: Path) -> None:
    name = bucket(s3, region=SITE)
    settings = settings_for(lifeboat_home, name)
    with pytest.raises(offsite.OffsiteError, match="orchestrator's own region"):
        offsite.upload_run(sealed_run(settings), settings)


def test_first_difference_names_the_entry() -> None:
    assert offsite.first_difference(b"a\nb\n", b"a\nb\n") is None
    assert (
        offsite.first_difference(b"a\nB\n", b"a\nb\n") == "entry 2: differs from the off-site copy"
    )
