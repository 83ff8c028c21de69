"""An access problem is never reported as a data problem (issue: data vs access errors).

A drill that cannot look at a backup has not found it missing: refused credentials, an
absent bucket and a stopped endpoint must come out as ``access.*`` failures, with words
that say "cannot check", while a stale or missing backup comes out as ``data.*``.
"""

from __future__ import annotations

import ast
import uuid
from typing import Any

import pytest

from checks.backup import BackupParams, FreshnessParams, freshness, geo_separation
from lifeboat import storage
from lifeboat.errors import AccessError, CheckFailed
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.ports import free_port
from lifeboat.testing import RunbookContext
from tests.checks.store_proxy import StoreProxy, looping_listing
from tests.conftest import REPO, AuthS3


def runbook(uri: str) -> Runbook:
    return Runbook.model_validate(
        {
            "id": "b",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {"par-1": {"provider": "aws", "region": "eu-west-3"}},
            "hosts": {"db": {"site": "par-1", "address": "127.0.0.1"}},
            "backups": {
                "nightly": {
                    "protects": "db",
                    "copies": [{"uri": uri, "region": "eu-central-1"}],
                    "max_age": "1h",
                }
            },
            "steps": [{"id": "a", "check": "backup.freshness", "with": {"backup": "nightly"}}],
        }
    )


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point boto3 (through the environment, as in production) at a given endpoint."""

    def apply(env: dict[str, str]) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        storage.client.cache_clear()

    yield apply
    storage.client.cache_clear()


@pytest.fixture
def auth_bucket(s3_auth: AuthS3) -> str:
    """A bucket with one fresh dump, on the server that checks credentials."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    api = s3_auth.client("eu-central-1")
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    api.put_object(Bucket=name, Key="db/dump.sql", Body=b"x")
    return name


def test_the_right_key_gets_a_verdict(s3_auth: AuthS3, auth_bucket: str, use: Any) -> None:
    use(s3_auth.env(s3_auth.access_key, s3_auth.secret_key))
    ctx = RunbookContext(runbook(f"s3://{auth_bucket}/db/"))
    assert (
        "nightly: newest object of each copy is"
        in freshness(FreshnessParams(backup="nightly"), ctx).summary
    )


@pytest.mark.parametrize(
    ("which", "vendor"),
    [("unknown key", "InvalidAccessKeyId"), ("wrong secret", "SignatureDoesNotMatch")],
)
def test_refused_credentials_are_an_access_error(
    s3_auth: AuthS3, auth_bucket: str, use: Any, which: str, vendor: str
) -> None:
    key = "AKIAUNKNOWN000000000" if which == "unknown key" else s3_auth.access_key
    use(s3_auth.env(key, "not-the-secret"))
    ctx = RunbookContext(runbook(f"s3://{auth_bucket}/db/"))
    with pytest.raises(AccessError) as info:
        freshness(FreshnessParams(backup="nightly"), ctx)
    assert info.value.code == "access.denied"
    assert not isinstance(info.value, CheckFailed)
    assert str(info.value).startswith(
        f"s3://{auth_bucket}/db/: cannot check, credentials refused (check AWS_PROFILE or "
        f"the keys); ListObjectsV2 failed: {vendor}"
    )
    assert "not-the-secret" not in str(info.value)


def test_a_stopped_endpoint_is_an_access_error(use: Any) -> None:
    use(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    ctx = RunbookContext(runbook("s3://any-bucket/db/"))
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert info.value.code == "access.unreachable"
    assert (
        "cannot check, the endpoint is down or unreachable; GetBucketLocation failed: "
        "EndpointConnectionError" in str(info.value)
    )


def test_an_absent_bucket_is_an_access_error(s3: Any) -> None:
    ctx = RunbookContext(runbook("s3://no-such-bucket-acc/db/"))
    with pytest.raises(AccessError) as info:
        freshness(FreshnessParams(backup="nightly"), ctx)
    assert info.value.code == "access.no_bucket"


def test_a_stale_backup_is_a_data_error(s3: Any) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    api = s3.client("s3", "eu-central-1")
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    ctx = RunbookContext(runbook(f"s3://{name}/db/"))
    with pytest.raises(CheckFailed) as info:
        freshness(FreshnessParams(backup="nightly"), ctx)
    assert info.value.code == "data.missing"  # an empty copy: nothing to restore
    assert str(info.value) == f"nightly: older than 1h: s3://{name}/db/ is empty"


def test_a_store_paging_forever_is_the_store_s_fault(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"b-{uuid.uuid4().hex[:12]}"
    api = s3.client("s3", "eu-central-1")
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    ctx = RunbookContext(runbook(f"s3://{name}/db/"))
    with StoreProxy(s3.url, looping_listing) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        storage.client.cache_clear()
        try:
            with pytest.raises(AccessError) as info:
                freshness(FreshnessParams(backup="nightly"), ctx)
        finally:
            storage.client.cache_clear()
    assert str(info.value) == (
        f"s3://{name}/db/: cannot check: the store returned the same continuation token "
        "twice ('T'; the store is at fault, not the backup)"
    )
    assert info.value.code == "access.failed"


def test_a_copy_that_is_no_s3_uri_cannot_be_checked() -> None:
    ctx = RunbookContext(runbook("sftp://backup.example.net/db/"))
    with pytest.raises(AccessError) as info:
        geo_separation(BackupParams(backup="nightly"), ctx)
    assert str(info.value) == (
        "sftp://backup.example.net/db/: cannot check: not an s3:// URI: "
        "'sftp://backup.example.net/db/'"
    )
    assert info.value.code == "access.bad_uri"


#: Every module whose access errors a backup check raises.
SOURCES = sorted(
    [
        *(REPO / "checks").glob("backup*.py"),
        *(REPO / "lifeboat" / name for name in ("storage.py", "s3client.py", "listing.py")),
        REPO / "lifeboat" / "bucket_protection.py",
    ]
)


def _access_errors() -> list[tuple[str, str]]:
    """(file:line, the message's opening words) of every access error built in SOURCES."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if not name.endswith(("StorageError", "AccessError")):
                continue
            message = node.args[0]
            first = message.values[0] if isinstance(message, ast.JoinedStr) else message
            opening = first.value if isinstance(first, ast.Constant) else ""
            found.append((f"{path.name}:{node.lineno}", str(opening)))
    return found


def test_every_access_message_of_the_backup_checks_opens_with_cannot_check() -> None:
    """An access.* error promises "cannot check": no verdict was given on the data."""
    found = _access_errors()
    where = {spot.split(":")[0] for spot, _ in found}
    assert {"s3client.py", "storage.py", "backup.py", "backup_completeness.py"} <= where
    assert [(spot, words) for spot, words in found if not words.startswith("cannot check")] == []
