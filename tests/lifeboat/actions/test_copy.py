"""file.copy between two real sandbox sites (each its own root), proven by both hosts' hashes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lifeboat import changes, sftp
from lifeboat.actions.copy import CopyParams, file_copy, safe_files, unsafe_name
from lifeboat.actions.files import FileRevertParams, file_revert
from lifeboat.errors import StepError
from lifeboat.runbook.model import Runbook
from lifeboat.sandbox.sshd import SshdSites
from lifeboat.settings import Settings
from lifeboat.ssh import close_pool
from lifeboat.testing import RunbookContext


@pytest.fixture
def ctx(clean_sites: SshdSites, no_config: Path) -> Iterator[RunbookContext]:
    hosts = {}
    for name, site in (("web-a", "site-a"), ("web-b", "site-b")):
        endpoint = clean_sites.endpoint(site)
        hosts[name] = {
            "site": site,
            "address": endpoint.host,
            "port": endpoint.port,
            "user": endpoint.user,
            "identity_file": str(endpoint.identity_file),
        }
    runbook = Runbook.model_validate(
        {
            "id": "copy",
            "version": "1.0.0",
            "title": "t",
            "owner": "o",
            "sites": {s: {"provider": "onprem", "region": "lab"} for s in ("site-a", "site-b")},
            "hosts": hosts,
            "steps": [{"id": "x", "check": "wait", "with": {"duration": "1s"}}],
        }
    )
    known_hosts = clean_sites.endpoint("site-a").known_hosts
    context = RunbookContext(
        runbook, settings=Settings(known_hosts=known_hosts, ssh_config=no_config)
    )
    yield context
    close_pool(context)


def test_copies_the_newest_matching_files_and_undo_restores(
    ctx: RunbookContext, clean_sites: SshdSites
) -> None:
    a_data = clean_sites["site-a"].root / "app" / "data"
    b_data = clean_sites["site-b"].root / "app" / "data"
    (a_data / "db-1.sql.gz").write_bytes(b"old night")
    (a_data / "db-2.sql.gz").write_bytes(b"written on site A" * 1000)
    # db-1 is the previous night's dump: a day older (SFTP lists mtimes in whole seconds).
    night_before = (a_data / "db-2.sql.gz").stat().st_mtime - 86_400
    os.utime(a_data / "db-1.sql.gz", (night_before, night_before))
    (a_data / "notes.txt").write_text("not a dump")
    (b_data / "db-2.sql.gz").write_bytes(b"stale copy on B")
    params = CopyParams(
        from_host="web-a",
        from_dir="app/data",
        to_host="web-b",
        to_dir="app/data",
        pattern="*.sql.gz",
        newest=1,
    )
    output = file_copy(params, ctx)
    assert (b_data / "db-2.sql.gz").read_bytes() == b"written on site A" * 1000
    assert not (b_data / "db-1.sql.gz").exists() and not (b_data / "notes.txt").exists()
    assert output.summary.startswith("copied 1 file (17,000 bytes) from web-a:app/data")
    assert output.undo is not None
    file_revert(FileRevertParams.model_validate(output.undo.with_), ctx)
    assert [p.name for p in b_data.iterdir()] == ["db-2.sql.gz"]
    assert (b_data / "db-2.sql.gz").read_bytes() == b"stale copy on B"


def test_nothing_to_copy_is_missing_data(ctx: RunbookContext) -> None:
    params = CopyParams(from_host="web-a", from_dir="app/data", to_host="web-b", to_dir="x")
    with pytest.raises(StepError, match="no file matching") as info:
        file_copy(params, ctx)
    assert info.value.code == "data.missing"


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\0b", "x/.."])
def test_unsafe_listed_names(name: str) -> None:
    assert unsafe_name(name)


@pytest.mark.parametrize("name", ["db.sql.gz", ".hidden", "..gz", "a..b", "a\\b", "é t"])
def test_safe_listed_names(name: str) -> None:
    assert not unsafe_name(name)


def test_safe_files_keeps_the_order_and_names_the_refused() -> None:
    listed = [sftp.RemoteFile(n, 1, 0.0) for n in ("new", "../up", "mid", "a/b", "", "old")]
    safe, refused = safe_files(listed)
    assert [f.name for f in safe] == ["new", "mid", "old"]
    assert refused == ["../up", "a/b", ""]


def test_names_from_a_hostile_listing_are_refused_and_reported(
    ctx: RunbookContext, clean_sites: SshdSites, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_data = clean_sites["site-a"].root / "app" / "data"
    b_data = clean_sites["site-b"].root / "app" / "data"
    (a_data / "in").mkdir()
    (a_data / "in" / "db.sql.gz").write_bytes(b"dump")
    (a_data / "escape.sql.gz").write_bytes(b"must stay on A")
    real = sftp.listdir

    def hostile(pool: Any, target: Any, path: str) -> list[sftp.RemoteFile]:
        extra = [sftp.RemoteFile(n, 1, 9e9) for n in ("../escape.sql.gz", "x/../../y", "..")]
        return extra + real(pool, target, path)

    monkeypatch.setattr(sftp, "listdir", hostile)  # as copy.py reads it
    params = CopyParams(
        from_host="web-a", from_dir="app/data/in", to_host="web-b", to_dir="app/data/out"
    )
    output = file_copy(params, ctx)
    assert sorted(p.name for p in b_data.iterdir()) == ["out"]
    assert [p.name for p in (b_data / "out").iterdir()] == ["db.sql.gz"]
    assert output.summary.endswith(
        "; refused 3 unsafe file names listed by web-a (empty, '.', '..', or holding '/' or NUL): "
        "'../escape.sql.gz', 'x/../../y', '..'"
    )
    assert output.evidence["refused_names"] == ["'../escape.sql.gz'", "'x/../../y'", "'..'"]
    assert output.evidence["refused_count"] == 3
    assert [row["file"] for row in output.evidence["files"]] == ["db.sql.gz"]


def test_each_copied_file_records_its_checksum_and_the_file_kept_aside(
    ctx: RunbookContext, clean_sites: SshdSites
) -> None:
    a_data = clean_sites["site-a"].root / "app" / "data"
    b_data = clean_sites["site-b"].root / "app" / "data"
    (a_data / "new.sql.gz").write_bytes(b"fresh")
    (a_data / "db.sql.gz").write_bytes(b"from A")
    (b_data / "db.sql.gz").write_bytes(b"on B before")
    params = CopyParams(from_host="web-a", from_dir="app/data", to_host="web-b", to_dir="app/data")
    output = file_copy(params, ctx)
    by_what = {c.what: c for c in changes.read(output.evidence) or []}
    replaced, added = by_what["web-b:app/data/db.sql.gz"], by_what["web-b:app/data/new.sql.gz"]
    assert replaced.kept_aside is not None
    assert (b_data / replaced.kept_aside.rsplit("/", 1)[-1]).read_bytes() == b"on B before"
    assert replaced.source == "web-a:app/data/db.sql.gz"
    assert replaced.checksum == hashlib.sha256(b"from A").hexdigest()
    assert (added.kept_aside, added.before) == (None, "no file")
    rows = {row["file"]: row for row in output.evidence["files"]}
    assert rows["db.sql.gz"]["previous_saved_as"] == replaced.kept_aside
