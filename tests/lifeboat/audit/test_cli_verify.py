"""``lifeboat audit verify``: exit 0 intact, 1 naming the first bad entry, 2 on bad input."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lifeboat.audit import integrity, offsite
from lifeboat.cli import app
from lifeboat.journal import Journal, RunbookIdentity
from lifeboat.settings import Settings
from tests.conftest import run_lifeboat

RUNBOOK = RunbookIdentity(id="rb", version="1.0.0", sha256="ef" * 32)


def sealed_run(home: Path, run_id: str = "run-1") -> Path:
    settings = Settings(home=home)
    path = settings.runs_dir / run_id / "journal.jsonl"
    journal = Journal(path, run_id, RUNBOOK)
    journal.append("run.started", actor="alice")
    for number in range(2, 6):
        journal.append("step.succeeded", step_id=f"s{number}", kind="check", summary="ok")
    journal.append("run.ended", summary="succeeded")
    integrity.seal(path, settings)
    return path


def verify(*args: str) -> Any:
    return CliRunner().invoke(app, ["audit", "verify", *args])


def test_an_intact_run_exits_0_with_one_line(lifeboat_home: Path) -> None:
    sealed_run(lifeboat_home)
    key = integrity.public_key(Settings(home=lifeboat_home))
    result = verify("run-1")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"intact: run run-1, 6 entries, signed by {integrity.fingerprint(key)}\n"
    )


def test_a_path_to_the_journal_or_its_folder_works_too(lifeboat_home: Path) -> None:
    path = sealed_run(lifeboat_home)
    assert verify(str(path)).exit_code == 0
    assert verify(str(path.parent)).exit_code == 0


def test_a_tampered_run_exits_1_naming_the_entry(lifeboat_home: Path) -> None:
    path = sealed_run(lifeboat_home)
    lines = path.read_bytes().split(b"\n")[:-1]
    del lines[2:4]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    result = verify("run-1")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: entries 3-4: deleted (2 in a row)\n"


def test_no_such_run_exits_2(lifeboat_home: Path) -> None:
    sealed_run(lifeboat_home)
    result = verify("run-404")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no such run or journal: run-404")


def test_no_key_to_check_with_exits_2(lifeboat_home: Path, tmp_path: Path) -> None:
    path = sealed_run(lifeboat_home)
    result = CliRunner().invoke(
        app,
        ["audit", "verify", str(path)],
        env={"LIFEBOAT_SIGNING_KEY": str(tmp_path / "none.pem")},
    )
    assert result.exit_code == 2 and "no signing key" in result.stderr


def test_the_installed_command_gives_the_same_exit_codes(lifeboat_home: Path) -> None:
    path = sealed_run(lifeboat_home)
    env = {**os.environ, "LIFEBOAT_HOME": str(lifeboat_home)}
    assert run_lifeboat(env, "audit", "verify", "run-1").returncode == 0
    path.write_bytes(path.read_bytes().replace(b"alice", b"mallory"))
    failed = run_lifeboat(env, "audit", "verify", "run-1")
    assert failed.returncode == 1, failed.stderr
    assert (
        failed.stderr.strip() == f"Error: {path}: entry 1: modified (entry 2 recorded another hash)"
    )
    assert "Traceback" not in failed.stderr
    assert run_lifeboat(env, "audit", "verify", "nope").returncode == 2


@pytest.fixture
def offsite_bucket(s3: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"audit-{uuid.uuid4().hex[:12]}"
    s3.client("s3", "eu-central-1").create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
        ObjectLockEnabledForBucket=True,
    )
    monkeypatch.setenv("LIFEBOAT_AUDIT_OFFSITE_URI", f"s3://{name}/audit/")
    monkeypatch.setenv("LIFEBOAT_SITE_REGION", "eu-west-3")
    return name


def test_against_offsite_intact(lifeboat_home: Path, offsite_bucket: str) -> None:
    path = sealed_run(lifeboat_home)
    offsite.upload_run(path.parent, Settings())
    result = verify("run-1", "--against-offsite")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("intact and off-site: run run-1, 6 entries")


def test_against_offsite_catches_a_local_modification(
    lifeboat_home: Path, offsite_bucket: str
) -> None:
    """Re-sealed with the same key after the edit: locally consistent, off-site it is not."""
    path = sealed_run(lifeboat_home)
    offsite.upload_run(path.parent, Settings())
    lines = path.read_bytes().split(b"\n")[:-1]
    path.write_bytes(b"".join(line + b"\n" for line in lines[:4]))  # cut, then sealed again
    integrity.seal(path, Settings())
    assert verify("run-1").exit_code == 0
    result = verify("run-1", "--against-offsite")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: entry 5: differs from the off-site copy\n"


def test_against_offsite_without_a_copy_exits_1(lifeboat_home: Path, offsite_bucket: str) -> None:
    sealed_run(lifeboat_home)
    result = verify("run-1", "--against-offsite")
    assert result.exit_code == 1 and "no off-site copy" in result.stderr
