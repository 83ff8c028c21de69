"""The review as evidence, from journals the engine wrote (InlineExecutor, moto S3 and Route 53
on loopback): a failed run achieves no objective, each action says what it changed and how
its rollback ended, every message keeps its text, approvals their channel, the record its
signature, off-site copy and git commit."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from lifeboat.audit import integrity
from lifeboat.audit.render_review import html, markdown
from lifeboat.audit.review import build
from lifeboat.audit.review_parts import via_of
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import Entry, RunbookIdentity, read
from lifeboat.redact import MASK, Redactor
from lifeboat.sandbox.ports import free_port
from lifeboat.sandbox.receiver import Receiver
from lifeboat.settings import Settings
from tests.conftest import run_context
from tests.lifeboat.audit.test_offsite import bucket, settings_for
from tests.lifeboat.audit.test_review import RUNBOOK, aws, run

__all__ = ["aws"]  # the fixture, imported to be used here
WAIT = "check: wait, with: {duration: 300ms}"
DEAD_HOOK = "json://127.0.0.1:9/hook"  # on-call's channel in RUNBOOK: nothing listens


def failing_run(
    tmp_path: Path, aws: tuple[str, str], channel: str | None = None, **options: Any
) -> Path:
    """The review runbook whose validation cannot pass: 'switch' is rolled back. On-call
    also gets ``channel`` when given (a channel that answers: it is told of the failure)."""
    path = tmp_path / "runbook.yaml"
    text = RUNBOOK.format(bucket=aws[0], zone=aws[1], rpo="1h")
    dead = f"check: tcp.open, with: {{host: 127.0.0.1, port: {free_port()}, timeout: 2}}"
    text = text.replace(WAIT, dead)
    if channel:
        text = text.replace(f'"{DEAD_HOOK}"', f'"{channel}", "{DEAD_HOOK}"')
    path.write_text(text, encoding="utf-8")
    ctx = run_context(path, **options)
    ctx.auto_approver = "alice"
    outcome = execute(ctx, InlineExecutor(ctx))
    assert outcome.failed_step is not None and outcome.failed_step.step_id == "validate"
    return Path(outcome.journal)


def test_a_failed_run_achieves_neither_objective(tmp_path: Path, aws: tuple[str, str]) -> None:
    review = build(failing_run(tmp_path, aws), Redactor())
    # The freshness check passed and the backup is minutes old: RPO used to say "met".
    for objective in (review.rto, review.rpo):
        assert objective.verdict == "not achieved" and objective.met is False, objective
        assert objective.achieved is None and objective.basis.startswith("not achieved")
    assert "the run failed" in review.rpo.basis
    rows = [line for line in markdown(review).splitlines() if line.startswith(("| RTO", "| RPO"))]
    assert len(rows) == 2 and all("| not achieved |" in r and "| met |" not in r for r in rows)


def test_each_action_says_what_it_changed_and_how_its_rollback_ended(
    tmp_path: Path, aws: tuple[str, str]
) -> None:
    review = build(failing_run(tmp_path, aws), Redactor())
    (switch,) = review.actions
    assert (switch.step_id, switch.name, switch.status) == ("switch", "dns.switch", "succeeded")
    assert f"zone={aws[1]}" in switch.inputs and "to=web-b" in switch.inputs
    (change,) = switch.changes or []
    assert change.what == f"www.{aws[1]}. CNAME"
    assert (change.before, change.after) == (
        "no A, AAAA or CNAME record",
        "CNAME web-b.example.net TTL 60",
    )
    assert switch.undo is not None and switch.undo.startswith("dns.delete ")
    rollback = switch.rollback
    assert rollback is not None
    assert (rollback.action, rollback.status) == ("dns.delete", "succeeded")
    assert switch.rollback_words == "rolled back" and switch.rollback_call == "the undo it left"
    (undone,) = rollback.changes or []
    assert (undone.before, undone.after) == (change.after, "deleted")
    text = markdown(review)
    assert "### `switch` dns.switch: succeeded, rolled back" in text
    assert f"| www.{aws[1]}. CNAME | no A, AAAA or CNAME record | {change.after} |" in text
    assert f"| www.{aws[1]}. CNAME | {change.after} | deleted |" in text


def test_every_message_keeps_its_full_text_in_the_journal_and_the_review(
    tmp_path: Path, aws: tuple[str, str], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = f"s3cr3t-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LIFEBOAT_SECRET_PLANTED", planted)  # known to the run's redactor
    hook = f"json://127.0.0.1:{receiver.port}/review-{uuid.uuid4().hex[:8]}"
    journal = failing_run(tmp_path, aws, hook, reason=f"lost; token {planted}")
    raw = journal.read_text()
    assert planted not in raw
    sent = [
        d
        for e in read(journal)
        for d in e.evidence.get("deliveries") or []
        if e.step_id == "announce"
    ]
    assert sent and all(d["body"] and f"lost; token {MASK}" in d["body"] for d in sent), sent
    review = build(journal, Redactor())
    stages = {m.stage for m in review.messages}
    assert {"incident.opened", "incident.failed"} <= stages, stages  # the closing one too
    assert all(m.body for m in review.messages)
    text, page = markdown(review), html(review)
    for message in review.messages:
        assert message.body is not None
        assert message.body in text  # whole, in a code block
        assert message.subject in text and message.subject in page
        assert f"by {message.channel} ({message.language})" in text
    assert f"Receipt: failed after 3 attempts to {DEAD_HOOK}" in text
    assert f"Receipt: sent after 1 attempt to {hook}" in text


def test_approvals_say_how_and_by_whom_they_were_given(
    tmp_path: Path, aws: tuple[str, str]
) -> None:
    review = build(run(tmp_path, aws), Redactor())
    (approval,) = review.approvals
    assert (approval.actor, approval.via) == ("alice (--yes)", "--yes")
    assert "by alice (--yes), via --yes, at " in markdown(review)
    assert "<th>Via</th>" in html(review)


def test_a_channel_in_the_journal_is_shown_and_old_journals_still_read() -> None:
    identity = RunbookIdentity(id="x", version="1.0.0", sha256="ab" * 32)

    def answered(actor: str, evidence: dict[str, Any]) -> Entry:
        return Entry(
            seq=1, ts="2026-01-01T00:00:00+00:00", run_id="r", event="approval.answered",
            runbook=identity, actor=actor, evidence=evidence, prev_sha256="0" * 64,
        )  # fmt: skip

    assert via_of(answered("bob", {"via": "terminal"})) == "terminal"
    assert via_of(answered("bob", {"via": "ui or api"})) == "ui or api"
    assert via_of(answered("bob (--yes)", {})) == "--yes"  # journaled before `via`
    assert via_of(answered("bob", {})) == "not recorded"


def test_the_record_says_whether_the_signature_and_the_offsite_copy_verify(
    s3: Any, tmp_path: Path, lifeboat_home: Path
) -> None:
    settings = settings_for(lifeboat_home, bucket(s3))
    path = tmp_path / "runbook.yaml"
    path.write_text("id: r\nversion: 1.0.0\ntitle: t\nowner: o@example.com\nsteps:\n"
                    "  - {id: a, check: wait, with: {duration: 10ms}}\n")  # fmt: skip
    ctx = run_context(path, "drill", settings=settings)
    journal = Path(execute(ctx, InlineExecutor(ctx)).journal)
    review = build(journal, Redactor(), settings)
    assert review.record is not None
    assert review.record.signature_ok is True and "verifies" in review.record.signature
    assert review.record.offsite_ok is True, review.record.offsite
    assert f"audit/{ctx.run_id}/journal.jsonl" in review.record.offsite
    text = markdown(review)
    assert "| Signed digest | verifies: 4 entries, signed by sha256:" in text
    # A digest altered since: neither the signature nor the off-site copy matches now.
    digest = journal.parent / integrity.DIGEST
    sealed = json.loads(digest.read_text())
    digest.write_text(json.dumps(sealed | {"entries": sealed["entries"] + 1}))
    again = build(journal, Redactor(), settings).record
    assert again is not None and again.signature_ok is False and again.offsite_ok is False
    assert "bad signature" in again.signature and "DIFFERS" in again.offsite
    unset = build(journal, Redactor(), Settings(home=lifeboat_home)).record
    assert unset is not None and unset.offsite_ok is None
    assert unset.offsite.startswith("not configured")


def git(folder: Path, *argv: str) -> str:
    who = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(
        ["git", *who, *argv], cwd=folder, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_runbook_in_a_git_checkout_shows_its_commit_and_uncommitted_changes(
    tmp_path: Path, aws: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "ops"
    checkout.mkdir()
    git(checkout, "init", "-q")
    (checkout / "runbooks").mkdir()
    runbook = checkout / "runbooks" / "runbook.yaml"
    runbook.write_text(RUNBOOK.format(bucket=aws[0], zone=aws[1], rpo="1h"), encoding="utf-8")
    git(checkout, "add", ".")
    git(checkout, "commit", "-qm", "the runbook")
    head = git(checkout, "rev-parse", "HEAD")
    monkeypatch.chdir(tmp_path)  # not the checkout: git is asked about the file's folder
    ctx = run_context(runbook)
    ctx.auto_approver = "alice"
    journal = Path(execute(ctx, InlineExecutor(ctx)).journal)
    review = build(journal, Redactor())
    assert (review.runbook.git_commit, review.runbook.git_dirty) == (head, False)
    assert f"| Git commit | {head} |" in markdown(review)

    with runbook.open("a") as edited:
        edited.write("# edited, not committed\n")
    ctx = run_context(runbook)
    ctx.auto_approver = "alice"
    dirty = build(Path(execute(ctx, InlineExecutor(ctx)).journal), Redactor())
    assert (dirty.runbook.git_commit, dirty.runbook.git_dirty) == (head, True)
    assert f"| Git commit | {head} (the file had uncommitted changes when it ran" in (
        markdown(dirty)
    )
