"""file.put / file.revert / ssh.script / backup.restore against real sshd and moto S3.

The sandbox host is this machine, so a test reads what a step wrote straight from disk.
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lifeboat import changes
from lifeboat.actions.files import (
    FilePutParams,
    FileRevertParams,
    ScriptParams,
    file_put,
    file_revert,
    ssh_script,
)
from lifeboat.actions.restore import RestoreParams, restore
from lifeboat.changes import Change
from lifeboat.errors import CheckFailed, StepError
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.sshd import SshdSites
from lifeboat.settings import Settings
from lifeboat.ssh import close_pool

DUMP = gzip.compress(b"INSERT INTO t VALUES (1);\n" * 500, mtime=0)


@dataclass
class Loaded:
    path: Path


@dataclass
class Ctx:
    runbook: Runbook
    settings: Settings
    loaded: Loaded
    mode: str = "live"
    lines: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def ctx(sshd_sites: SshdSites, no_config: Path, tmp_path: Path) -> Iterator[Ctx]:
    endpoint = sshd_sites.endpoint("site-b")
    runbook = Runbook.model_validate(
        {
            "id": "a",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {
                "par-1": {"provider": "aws", "region": "eu-west-3"},
                "fra-1": {"provider": "aws", "region": "eu-central-1"},
            },
            "hosts": {
                "web-a": {"site": "par-1", "address": "127.0.0.1"},
                "web-b": {
                    "site": "fra-1",
                    "address": endpoint.host,
                    "port": endpoint.port,
                    "user": endpoint.user,
                    "identity_file": str(endpoint.identity_file),
                },
            },
            "backups": {
                "db": {
                    "protects": "web-a",
                    "copies": [{"uri": f"s3://r-{uuid.uuid4().hex[:10]}/db/", "site": "fra-1"}],
                }
            },
            "steps": [{"id": "x", "check": "wait", "with": {"duration": "1s"}}],
        }
    )
    (tmp_path / "runbooks" / "files").mkdir(parents=True)
    (tmp_path / "runbooks" / "scripts").mkdir()
    settings = Settings(known_hosts=endpoint.known_hosts, ssh_config=no_config)
    context = Ctx(runbook, settings, Loaded(tmp_path / "runbooks" / "r.yaml"))
    yield context
    close_pool(context)


def test_file_put_writes_atomically_and_its_undo_restores_the_old_file(
    ctx: Ctx, tmp_path: Path
) -> None:
    target = tmp_path / "etc" / "app.conf"
    target.parent.mkdir()
    target.write_text("old\n")
    (tmp_path / "runbooks" / "files" / "app.conf").write_text("new\n")
    output = file_put(
        FilePutParams(host="web-b", path=str(target), source="app.conf", mode="0640"), ctx
    )
    assert target.read_text() == "new\n" and oct(target.stat().st_mode)[-3:] == "640"
    assert output.evidence["sha256"] == hashlib.sha256(b"new\n").hexdigest()
    assert output.undo is not None and output.undo.action == "file.revert"
    file_revert(FileRevertParams.model_validate(output.undo.with_), ctx)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["app.conf"]


def test_file_put_of_a_new_file_is_undone_by_removing_it(ctx: Ctx, tmp_path: Path) -> None:
    target = tmp_path / "fresh.txt"
    output = file_put(FilePutParams(host="web-b", path=str(target), content="hi"), ctx)
    assert target.read_text() == "hi"
    assert output.undo is not None
    file_revert(FileRevertParams.model_validate(output.undo.with_), ctx)
    assert not target.exists()


def test_local_files_outside_the_runbook_folder_are_refused(ctx: Ctx, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"unsafe file name '\.\./\.\./etc/passwd'"):
        FilePutParams(host="web-b", path=str(tmp_path / "x"), source="../../etc/passwd")
    # The run-time guard as well (it also catches a symlink leading out of the folder).
    params = FilePutParams.model_construct(
        host="web-b", path=str(tmp_path / "x"), source="../../etc/passwd", content=None
    )
    with pytest.raises(StepError, match=r"is outside .*: refused"):
        file_put(params, ctx)


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../b", "-rf", ""])
def test_unsafe_remote_paths_fail_validation(path: str) -> None:
    with pytest.raises(ValidationError, match="unsafe path"):
        FilePutParams(host="web-b", path=path, content="x")


def test_ssh_script_runs_with_argv_items_and_cleans_up(ctx: Ctx, tmp_path: Path) -> None:
    script = tmp_path / "runbooks" / "scripts" / "count.sh"
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$1.args"\n')
    out = tmp_path / "out"
    pwned = tmp_path / "pwned"
    argv = [str(out), f"x; touch {pwned}"]
    output = ssh_script(ScriptParams(host="web-b", script="count.sh", argv=argv), ctx)
    assert output.evidence["exit_status"] == 0
    assert (tmp_path / "out.args").read_text() == f"{out}\nx; touch {pwned}\n"
    assert not pwned.exists()  # one literal argument, never a shell line


def bucket(s3: Any, uri: str, objects: dict[str, bytes]) -> None:
    name = uri.removeprefix("s3://").split("/")[0]
    api = s3.client("s3", "eu-central-1")
    api.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    for key, body in objects.items():
        api.put_object(Bucket=name, Key=f"db/{key}", Body=body, ChecksumAlgorithm="SHA256")


def test_backup_restore_puts_the_proven_dump_in_place_and_undo_reverts(
    s3: Any, ctx: Ctx, tmp_path: Path
) -> None:
    bucket(s3, ctx.runbook.backups["db"].copies[0].uri, {"db-2026-11-23.sql.gz": DUMP})
    dest = tmp_path / "app" / "data"
    params = RestoreParams(backup="db", host="web-b", dest=str(dest), verify=["gzip", "-t"])
    output = restore(params, ctx)
    restored = dest / "db-2026-11-23.sql.gz"
    assert restored.read_bytes() == DUMP
    assert output.evidence["proof"] == "checksum" and output.evidence["verify_exit"] == 0
    assert output.undo is not None
    file_revert(FileRevertParams.model_validate(output.undo.with_), ctx)
    assert not restored.exists()


def test_backup_restore_refuses_bytes_it_cannot_prove(s3: Any, ctx: Ctx, tmp_path: Path) -> None:
    uri = ctx.runbook.backups["db"].copies[0].uri
    bucket(s3, uri, {"dump.sql.gz": DUMP, "SHA256SUMS": b"0" * 64 + b"  dump.sql.gz\n"})
    dest = tmp_path / "data"
    with pytest.raises(CheckFailed) as info:
        restore(
            RestoreParams(backup="db", host="web-b", dest=str(dest), manifest="SHA256SUMS"), ctx
        )
    assert info.value.code == "data.corrupted"
    assert list(dest.iterdir()) == []  # nothing half-restored left behind


def test_backup_restore_records_the_object_its_checksum_and_the_file_kept_aside(
    s3: Any, ctx: Ctx, tmp_path: Path
) -> None:
    uri = ctx.runbook.backups["db"].copies[0].uri
    bucket(s3, uri, {"db-2026-11-23.sql.gz": DUMP})
    dest = tmp_path / "app" / "data"
    dest.mkdir(parents=True)
    (dest / "db-2026-11-23.sql.gz").write_bytes(b"what was there")
    output = restore(RestoreParams(backup="db", host="web-b", dest=str(dest)), ctx)
    (change,) = changes.read(output.evidence) or []
    kept = output.evidence["previous_saved_as"]
    assert kept and Path(kept).read_bytes() == b"what was there"
    assert change.what == f"web-b:{dest / 'db-2026-11-23.sql.gz'}"
    assert change.checksum == hashlib.sha256(DUMP).hexdigest() == output.evidence["sha256"]
    assert change.kept_aside == kept and change.before == f"kept aside as {kept}"
    assert change.source is not None
    assert change.source.startswith(f"{uri}db-2026-11-23.sql.gz (modified ")
    assert change.source.endswith("UTC, proven by checksum)")


def test_backup_restore_that_cannot_prove_the_bytes_says_both_checksums(
    s3: Any, ctx: Ctx, tmp_path: Path
) -> None:
    uri = ctx.runbook.backups["db"].copies[0].uri
    bucket(s3, uri, {"dump.sql.gz": DUMP, "SHA256SUMS": b"0" * 64 + b"  dump.sql.gz\n"})
    with pytest.raises(CheckFailed) as info:
        restore(
            RestoreParams(backup="db", host="web-b", dest=str(tmp_path), manifest="SHA256SUMS"),
            ctx,
        )
    evidence = info.value.evidence
    assert evidence["expected_sha256"] == "0" * 64
    assert evidence["sha256"] == hashlib.sha256(DUMP).hexdigest()
    assert evidence["key"] == "dump.sql.gz" and evidence["previous_saved_as"] is None


def test_file_put_revert_and_script_record_what_they_changed(ctx: Ctx, tmp_path: Path) -> None:
    target = tmp_path / "app.conf"
    target.write_text("old\n")
    put = file_put(FilePutParams(host="web-b", path=str(target), content="new\n"), ctx)
    (change,) = changes.read(put.evidence) or []
    kept = put.evidence["previous_saved_as"]
    assert (change.what, change.kept_aside, change.source) == (
        f"web-b:{target}",
        kept,
        "the step's content",
    )
    assert change.checksum == hashlib.sha256(b"new\n").hexdigest()
    assert put.undo is not None
    reverted = file_revert(FileRevertParams.model_validate(put.undo.with_), ctx)
    assert changes.read(reverted.evidence) == [
        Change(
            what=f"web-b:{target}",
            before="written by the step",
            after=f"the previous version, moved back from {kept}",
        )
    ]
    script = tmp_path / "runbooks" / "scripts" / "ok.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    ran = ssh_script(ScriptParams(host="web-b", script="ok.sh", argv=["a b"]), ctx)
    assert changes.read(ran.evidence) == [
        Change(
            what="web-b: scripts/ok.sh a b",
            after="exited 0",
            source="scripts/ok.sh",
            checksum=hashlib.sha256(script.read_bytes()).hexdigest(),
        )
    ]
