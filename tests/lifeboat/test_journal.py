"""The hash-chained journal: written as it happens, verifiable, tamper-evident, redacted."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lifeboat.journal import GENESIS, Journal, RunbookIdentity, line_hash, read, verify
from lifeboat.redact import Redactor

RUNBOOK = RunbookIdentity(id="webapp-failover", version="2.1.0", sha256="ab" * 32)


def journal_with(path: Path, count: int) -> Journal:
    journal = Journal(path, "run-1", RUNBOOK)
    journal.append("run.started", actor="alice")
    for number in range(1, count - 1):
        journal.append(
            "step.succeeded",
            step_id=f"s{number}",
            kind="check",
            summary=f"step {number} ok",
            duration_ms=1.5,
        )
    journal.append("run.ended", summary="ok")
    return journal


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def test_entries_are_chained_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal_with(path, 5)
    entries = read(path)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_sha256 == GENESIS
    assert entries[1].prev_sha256 == line_hash(lines_of(path)[0])
    assert entries[0].runbook == RUNBOOK and entries[0].actor == "alice"
    result = verify(path)
    assert result.ok and result.entries == 5


def test_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "run-1" / "journal.jsonl"
    journal_with(path, 2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def tamper(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_modified_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_with(path, 5)
    lines = lines_of(path)
    lines[1] = lines[1].replace(b"step 1 ok", b"step 1 OK")
    tamper(path, lines)
    result = verify(path)
    assert not result.ok and result.bad_seq == 3
    assert result.problem == "entry 3: hash chain broken (entry 2 altered or removed)"


@pytest.mark.parametrize("removed", [[1], [1, 2], [0]])
def test_deleted_entries_are_detected(tmp_path: Path, removed: list[int]) -> None:
    path = tmp_path / "j.jsonl"
    journal_with(path, 6)
    lines = [line for index, line in enumerate(lines_of(path)) if index not in removed]
    tamper(path, lines)
    result = verify(path)
    assert not result.ok
    assert result.bad_seq == removed[0] + 1
    assert "deleted, inserted or reordered" in (result.problem or "")


def test_reordered_entries_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_with(path, 5)
    lines = lines_of(path)
    lines[1], lines[2] = lines[2], lines[1]
    tamper(path, lines)
    assert verify(path).bad_seq == 2


def test_truncated_tail_is_named(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_with(path, 4)
    path.write_bytes(path.read_bytes()[:-20])
    result = verify(path)
    assert not result.ok and result.entries == 3
    assert result.problem == "entry 4: truncated (no end of line)"


def test_resume_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_with(path, 3)
    again = Journal(path, "run-1", RUNBOOK)
    again.append("run.resumed", actor="bob")
    assert verify(path).ok and read(path)[-1].seq == 4


def test_broken_journal_is_not_continued(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal_with(path, 3)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="cannot continue a broken journal"):
        Journal(path, "run-1", RUNBOOK)


def test_secrets_are_redacted_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, "run-1", RUNBOOK, Redactor(["hunter2-secret"]))
    journal.append(
        "step.failed",
        step_id="notify",
        kind="notify",
        inputs={
            "channel": "mailto://ops:smtp-pass@127.0.0.1",
            "password": "pw1234",
            "note": "used hunter2-secret",
        },
        error="POST https://hooks.example.com/x?token=abcdef failed",
    )
    text = path.read_text()
    for secret in ("smtp-pass", "pw1234", "hunter2-secret", "abcdef"):
        assert secret not in text
    entry = read(path)[0]
    assert entry.inputs["channel"] == "mailto://ops:***@127.0.0.1"
    assert entry.error == "POST https://hooks.example.com/x?token=*** failed"


def test_killed_writer_leaves_a_verifiable_prefix(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from lifeboat.journal import Journal, RunbookIdentity
        journal = Journal(Path({str(path)!r}), "run-9", RunbookIdentity(id="x", version="1.0.0",
                          sha256="0" * 64))
        journal.append("run.started")
        journal.append("step.started", step_id="a")
        os.kill(os.getpid(), signal.SIGKILL)
        journal.append("step.succeeded", step_id="a")
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert result.returncode == -9
    verification = verify(path)
    assert verification.ok and verification.entries == 2
