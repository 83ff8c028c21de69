"""``backup.restore_test`` against the real moto S3 server, locally and onto a real sshd host."""

from __future__ import annotations

import gzip
import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from checks.backup_restore import RestoreTestParams, restore_test
from lifeboat.errors import CheckFailed, StepError
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.sshd import SshdSites
from lifeboat.settings import Settings
from lifeboat.ssh import close_pool
from lifeboat.testing import RunbookContext

DUMP = gzip.compress(b"CREATE TABLE t (id int);\n" * 2000, mtime=0)


def bucket(s3: Any, objects: dict[str, bytes], **put: Any) -> str:
    name = f"r-{uuid.uuid4().hex[:12]}"
    api = s3.client("s3", "eu-central-1")
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    for key, body in objects.items():
        api.put_object(Bucket=name, Key=f"db/{key}", Body=body, **put)
    return name


def runbook(remote: str, host: dict[str, Any] | None = None) -> Runbook:
    return Runbook.model_validate(
        {
            "id": "r",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "par-1": {"provider": "aws", "region": "eu-west-3"},
                "fra-1": {"provider": "aws", "region": "eu-central-1"},
            },
            "hosts": {
                "db": {"site": "par-1", "address": "127.0.0.1"},
                "standby": host or {"site": "fra-1", "address": "127.0.0.1"},
            },
            "backups": {
                "nightly": {
                    "protects": "db",
                    "copies": [
                        {"uri": "s3://primary-never-read/db/", "site": "par-1"},
                        {"uri": f"s3://{remote}/db/", "site": "fra-1"},
                    ],
                }
            },
            "steps": [{"id": "a", "check": "backup.restore_test", "with": {"backup": "nightly"}}],
        }
    )


def params(**fields: Any) -> RestoreTestParams:
    return RestoreTestParams.model_validate({"backup": "nightly", **fields})


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "scratch"


def test_restores_the_newest_object_from_the_offsite_copy(s3: Any, scratch: Path) -> None:
    name = bucket(s3, {"2026-11-22.sql.gz": b"old", "2026-11-23.sql.gz": DUMP})
    ctx = RunbookContext(runbook(name))
    output = restore_test(params(scratch=str(scratch), verify=["gzip", "-t"]), ctx)
    assert output.summary.startswith(
        f"nightly: restored 1 object ({len(DUMP):,} B) from s3://{name}/db/ onto this machine at "
    )
    assert re.search(r" at [0-9.,]+ [kMG]?B/s; verified by etag, and gzip$", output.summary)
    [row] = output.evidence["objects"]
    assert row["key"] == "2026-11-23.sql.gz" and row["verify_exit"] == 0
    assert row["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert list(scratch.iterdir()) == []  # the scratch folder is gone


def test_a_manifest_and_a_stored_sha256_are_used_when_present(s3: Any, scratch: Path) -> None:
    digest = hashlib.sha256(DUMP).hexdigest()
    name = bucket(s3, {"dump.sql.gz": DUMP}, ChecksumAlgorithm="SHA256")
    ctx = RunbookContext(runbook(name))
    assert "verified by checksum" in restore_test(params(scratch=str(scratch)), ctx).summary
    s3.client("s3", "eu-central-1").put_object(
        Bucket=name, Key="db/SHA256SUMS", Body=f"{digest}  dump.sql.gz\n".encode()
    )
    output = restore_test(params(scratch=str(scratch), manifest="SHA256SUMS"), ctx)
    assert output.evidence["objects"][0]["reference"] == "manifest"


def test_a_manifest_that_disagrees_is_corruption(s3: Any, scratch: Path) -> None:
    name = bucket(s3, {"dump.sql.gz": DUMP, "SHA256SUMS": b"0" * 64 + b" *dump.sql.gz\n"})
    ctx = RunbookContext(runbook(name))
    with pytest.raises(CheckFailed) as info:
        restore_test(params(scratch=str(scratch), manifest="SHA256SUMS", sample=5), ctx)
    assert info.value.code == "data.corrupted"
    assert f"dump.sql.gz: manifest mismatch: expected {'0' * 64}, restored " in str(info.value)
    assert list(scratch.iterdir()) == []  # cleaned up on failure too


def test_an_object_missing_from_the_manifest_is_unverified(s3: Any, scratch: Path) -> None:
    name = bucket(s3, {"dump.sql.gz": DUMP, "SHA256SUMS": b""})
    with pytest.raises(CheckFailed) as info:
        restore_test(params(manifest="SHA256SUMS"), RunbookContext(runbook(name)))
    assert info.value.code == "data.unverified"


def test_a_failing_verify_command_fails_the_restore(s3: Any, scratch: Path) -> None:
    name = bucket(s3, {"dump.sql.gz": b"not gzip at all"})
    with pytest.raises(CheckFailed, match=r"`gzip -t` exited 1") as info:
        restore_test(params(verify=["gzip", "-t"]), RunbookContext(runbook(name)))
    assert info.value.code == "data.restore_failed"


def test_an_empty_copy_is_missing_data(s3: Any) -> None:
    with pytest.raises(CheckFailed, match="is empty") as info:
        restore_test(params(), RunbookContext(runbook(bucket(s3, {}))))
    assert info.value.code == "data.missing"


def test_a_sample_draws_distinct_objects(s3: Any, scratch: Path) -> None:
    name = bucket(s3, {f"part-{i:02}": bytes([i]) * 10 for i in range(12)})
    output = restore_test(params(sample=4, scratch=str(scratch)), RunbookContext(runbook(name)))
    keys = [row["key"] for row in output.evidence["objects"]]
    assert len(set(keys)) == 4 and keys == sorted(keys)


def test_hostile_keys_never_leave_the_scratch_folder(s3: Any, tmp_path: Path) -> None:
    name = bucket(s3, {"../../../escape.txt": b"x"})
    scratch = tmp_path / "deep" / "scratch"
    output = restore_test(params(scratch=str(scratch)), RunbookContext(runbook(name)))
    restored = Path(output.evidence["objects"][0]["path"])
    assert restored.parent.parent == scratch and restored.name == "1-escape.txt"
    assert not (tmp_path / "escape.txt").exists()


def test_a_source_must_be_one_of_the_copies(s3: Any) -> None:
    with pytest.raises(StepError, match="is not one of the backup's copies"):
        restore_test(params(source="s3://elsewhere/db/"), RunbookContext(runbook("x")))


@pytest.fixture
def remote(sshd_sites: SshdSites, no_config: Path) -> Iterator[tuple[dict[str, Any], Settings]]:
    endpoint = sshd_sites.endpoint("site-b")
    host = {
        "site": "fra-1",
        "address": endpoint.host,
        "port": endpoint.port,
        "user": endpoint.user,
        "identity_file": str(endpoint.identity_file),
    }
    yield host, Settings(known_hosts=endpoint.known_hosts, ssh_config=no_config)


def test_restores_onto_a_host_over_ssh_and_hashes_there(
    s3: Any, remote: tuple[dict[str, Any], Settings], tmp_path: Path
) -> None:
    host, settings = remote
    name = bucket(s3, {"dump.sql.gz": DUMP})
    parent = tmp_path / "on-host"  # the sandbox host is this machine: its disk is ours
    parent.mkdir()
    ctx = RunbookContext(runbook(name, host), settings=settings)
    try:
        output = restore_test(
            params(host="standby", scratch=str(parent), verify=["gzip", "-t"]), ctx
        )
    finally:
        close_pool(ctx)
    assert "onto standby at" in output.summary
    [row] = output.evidence["objects"]
    assert row["sha256"] == hashlib.sha256(DUMP).hexdigest()  # as computed by the host
    assert row["path"].startswith(f"{parent}/lifeboat-restore.")
    assert output.evidence["cleaned"] is True and list(parent.iterdir()) == []


def test_each_restored_object_names_its_time_and_checksum(s3: Any, scratch: Path) -> None:
    name = bucket(s3, {"2026-11-23.sql.gz": DUMP})
    listed = s3.client("s3", "eu-central-1").head_object(Bucket=name, Key="db/2026-11-23.sql.gz")
    output = restore_test(params(scratch=str(scratch)), RunbookContext(runbook(name)))
    (row,) = output.evidence["objects"]
    assert row["key"] == "2026-11-23.sql.gz" and row["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert datetime.fromisoformat(row["modified"]) == listed["LastModified"]
    assert output.evidence["copy"] == f"s3://{name}/db/"
