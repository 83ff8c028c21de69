"""The post-incident review, computed from a journal the engine wrote (InlineExecutor, moto S3
and Route 53 on loopback): RTO and RPO measured and judged, timeline, approvals, redaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeboat import dns
from lifeboat.audit.render_review import html, markdown, step_table
from lifeboat.audit.review import Review, build
from lifeboat.cli_report import find_journal
from lifeboat.engine import InlineExecutor, execute
from lifeboat.redact import MASK, Redactor
from lifeboat.sandbox.s3 import MotoServer
from tests.conftest import run_context

RUNBOOK = """\
id: Review_Test
version: 1.2.0
title: Fail the shop over
owner: sre@example.com
objectives: {{rto: 30m, rpo: {rpo}}}
sites:
  a: {{provider: ovh, region: sbg, datacenter: sbg-2}}
  b: {{provider: ovh, region: gra, datacenter: gra-1}}
hosts:
  web-a: {{site: a, address: web-a.example.net}}
  web-b: {{site: b, address: web-b.example.net}}
backups:
  db:
    protects: web-a
    copies: [{{uri: "s3://{bucket}/db/", site: b}}]
    max_age: 1h
stakeholders:
  oncall: {{channels: ["json://127.0.0.1:9/hook"]}}
comms: {{service: the shop, affected: nobody can log in}}
steps:
  - {{id: fresh, check: backup.freshness, with: {{backup: db}}}}
  - {{id: announce, notify: incident.opened, to: [oncall]}}
  - {{id: go, approval: {{prompt: "Switch www?"}}}}
  - {{id: switch, action: dns.switch, with: {{zone: "{zone}", record: www, to: web-b}}}}
  - {{id: validate, check: wait, with: {{duration: 300ms}}}}
  - {{id: resolved, notify: incident.resolved, to: [oncall]}}
"""


@pytest.fixture
def aws(s3: MotoServer) -> Iterator[tuple[str, str]]:
    """A fresh bucket holding one backup, and a fresh hosted zone: (bucket, zone)."""
    bucket, zone = f"rv-{uuid.uuid4().hex[:10]}", f"z{uuid.uuid4().hex[:8]}.example.com"
    api = s3.client("s3", "eu-west-3")
    api.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    api.put_object(Bucket=bucket, Key="db/dump.sql.gz", Body=b"backup")
    s3.client("route53").create_hosted_zone(Name=zone, CallerReference=uuid.uuid4().hex)
    dns.client.cache_clear()
    yield bucket, zone
    dns.client.cache_clear()


def run(tmp_path: Path, aws: tuple[str, str], rpo: str = "1h", **options: Any) -> Path:
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(bucket=aws[0], zone=aws[1], rpo=rpo), encoding="utf-8")
    ctx = run_context(path, **options)
    ctx.auto_approver = "alice"
    outcome = execute(ctx, InlineExecutor(ctx))
    assert outcome.status == "succeeded", outcome.failed_step
    return Path(outcome.journal)


def test_rto_and_rpo_are_measured_and_judged(tmp_path: Path, aws: tuple[str, str]) -> None:
    journal = run(tmp_path, aws)
    review = build(journal, Redactor())
    assert review.title == "Fail the shop over" and review.runbook_note is None
    assert review.impact == "the shop: nobody can log in"
    assert review.outcome == "succeeded" and review.journal_intact
    # RTO: run start (no detected_at) to the end of 'validate', the check after the action.
    assert review.rto.target == "30m" and review.rto.met is True
    assert "validation step 'validate'" in review.rto.basis and "run's start" in review.rto.basis
    assert review.rto.achieved_s is not None and 0.3 <= review.rto.achieved_s < 60
    validate = next(s for s in review.steps if s.id == "validate")
    assert validate.ended is not None
    assert review.rto.achieved_s == pytest.approx((validate.ended - review.started).total_seconds())
    # RPO: the verified backup's age when 'switch' (first action after the approval) started.
    assert review.rpo.target == "1h" and review.rpo.met is True
    assert "dump.sql.gz" in review.rpo.basis and "start of 'switch'" in review.rpo.basis
    assert review.rpo.achieved_s is not None and 0 <= review.rpo.achieved_s < 120


def test_a_missed_objective_says_missed_and_detected_at_starts_the_clock(
    tmp_path: Path, aws: tuple[str, str]
) -> None:
    detected = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(bucket=aws[0], zone=aws[1], rpo="1ms"), encoding="utf-8")
    ctx = run_context(path)
    ctx.auto_approver, ctx.detected_at = "alice", detected
    execute(ctx, InlineExecutor(ctx))
    review = build(ctx.journal.path, Redactor())
    assert review.rto.met is False and review.rto.verdict == "MISSED"  # an hour > 30m
    assert review.rto.achieved_s is not None and review.rto.achieved_s >= 3600
    assert "detection" in review.rto.basis
    assert review.rpo.met is False and review.rpo.target == "1ms"
    assert review.timeline[0].text == "The incident was detected."


def test_timeline_approvals_messages_and_steps(tmp_path: Path, aws: tuple[str, str]) -> None:
    review = build(run(tmp_path, aws, incident="INC-42", reason="site lost"), Redactor())
    texts = [t.text for t in review.timeline]
    assert texts[0] == "The live run started, by tester, for: site lost (incident INC-42)."
    assert any(t.startswith("Check 'fresh' passed: db: newest object") for t in texts), texts
    assert "alice (--yes) answered approval 'go': approved: approved in advance with --yes." in (
        texts
    )
    assert any(t.startswith("Action 'switch' done: www.") for t in texts), texts
    assert texts[-1] == "The run ended: succeeded: all steps done."
    assert [t.ts for t in review.timeline] == sorted(t.ts for t in review.timeline)
    (approval,) = review.approvals
    assert (approval.actor, approval.verdict) == ("alice (--yes)", "approved")
    assert approval.comment == "approved in advance with --yes"  # inline: never asked
    assert [s.id for s in review.steps] == [
        "fresh", "announce", "go", "switch", "validate", "resolved",
    ]  # fmt: skip
    assert all(s.status == "succeeded" and s.duration_s is not None for s in review.steps)
    assert [(m.step_id, m.channel, m.stakeholder) for m in review.messages] == [
        ("announce", "json", "oncall"),
        ("resolved", "json", "oncall"),
    ]
    assert all(m.subject for m in review.messages)
    (fresh, validate) = review.checks
    assert fresh.name == "backup.freshness" and "max_age=1h" in fresh.evidence
    assert validate.name == "wait"
    assert review.open_questions and review.rollbacks == []
    text = markdown(review)
    for heading in ("## Objectives and achieved", "## Timeline (UTC)", "## Steps", "## Approvals",
                    "## Checks and their evidence", "## Messages sent", "## Rollbacks",
                    "### What was the root cause?", "## Record"):  # fmt: skip
        assert heading in text
    assert review.runbook.sha256 in text and review.plan_hash in text
    assert "| RTO | 30m |" in text and "| met |" in text
    assert [row["step"] for row in step_table(review)][:2] == ["fresh", "announce"]


def test_a_planted_secret_is_masked_in_the_review(
    tmp_path: Path, aws: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = f"s3cr3t-{uuid.uuid4().hex[:8]}"
    journal = run(tmp_path, aws, reason=f"lost; token {planted}")
    assert planted in journal.read_text()  # not a secret when the run wrote it
    monkeypatch.setenv("LIFEBOAT_SECRET_PLANTED", planted)  # declared since: reports mask it
    review = build(journal)
    for text in (review.model_dump_json(), markdown(review), html(review)):
        assert planted not in text
        assert MASK in text


def test_html_is_escaped_and_self_contained(tmp_path: Path, aws: tuple[str, str]) -> None:
    review = build(run(tmp_path, aws, reason="<script>alert(1)</script>"), Redactor())
    page = html(review)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page.split("<body>")[0] and "<table>" in page


def test_a_changed_runbook_is_said_and_the_journal_identity_kept(
    tmp_path: Path, aws: tuple[str, str]
) -> None:
    journal = run(tmp_path, aws)
    runbook = tmp_path / "runbook.yaml"
    runbook.write_text(runbook.read_text().replace("version: 1.2.0", "version: 1.3.0"))
    review = build(journal, Redactor())
    assert review.runbook_note and "changed since the run" in review.runbook_note
    assert review.runbook.version == "1.2.0"
    runbook.unlink()
    gone = build(journal, Redactor())
    assert gone.runbook_note and "unreadable" in gone.runbook_note
    assert gone.rto.target is None and gone.rto.verdict == "no objective"


def test_report_finds_runs_by_id_folder_or_path(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "abc"
    folder.mkdir(parents=True)
    (folder / "journal.jsonl").write_text("")
    for given in ("abc", str(folder), str(folder / "journal.jsonl")):
        assert find_journal(given, tmp_path / "runs") == folder / "journal.jsonl"


def test_review_round_trips_as_json(tmp_path: Path, aws: tuple[str, str]) -> None:
    review = build(run(tmp_path, aws), Redactor())
    again = Review.model_validate(json.loads(review.model_dump_json()))
    assert again.rto == review.rto and again.timeline == review.timeline
