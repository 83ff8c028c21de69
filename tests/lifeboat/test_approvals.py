"""Approval decisions without Prefect: which channel an answer may claim, what is journaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat import approvals
from lifeboat.context import RunContext
from lifeboat.journal import read
from lifeboat.runbook.model import ApprovalStep
from tests.conftest import run_context

GATED = """\
id: gated
version: 1.0.0
title: Gated
owner: sre@example.com
sites:
  pg-b: {provider: aws, region: eu-central-1}
steps:
  - {id: go, approval: {prompt: 'Fail over to pg-b?', confirm: pg-b}}
"""


@pytest.fixture
def ctx(tmp_path: Path, lifeboat_home: Path) -> RunContext:
    path = tmp_path / "gated.yaml"
    path.write_text(GATED)
    return run_context(path)


def gate(ctx: RunContext) -> ApprovalStep:
    step = ctx.runbook.steps[0]
    assert isinstance(step, ApprovalStep)
    return step


def test_a_remote_answer_claims_the_terminal_or_is_from_the_ui_or_api() -> None:
    def via(claimed: str) -> str:
        return approvals.arrived(approvals.Answer(approver="a", via=claimed)).via

    assert via("terminal") == "terminal"
    assert via("") == "ui or api"
    for claimed in ("--yes", "watchdog", "anything"):  # the gate's own channels
        assert via(claimed) == "ui or api"


def test_a_name_ending_in_yes_does_not_skip_the_confirmation(ctx: RunContext) -> None:
    sent = approvals.Answer(approved=True, approver="bob (--yes)", via="--yes")
    answer = approvals.arrived(sent)
    assert approvals.refusal(ctx, gate(ctx), answer) == "confirmation must be 'pg-b'"


def test_an_approval_given_in_advance_is_journaled_as_yes(ctx: RunContext) -> None:
    ctx.auto_approver = "alice"
    answer = approvals.in_advance(ctx)
    assert answer is not None and approvals.refusal(ctx, gate(ctx), answer) is None
    approvals.decide(ctx, gate(ctx), answer)
    (entry,) = [e for e in read(ctx.journal.path) if e.event == "approval.answered"]
    assert entry.actor == "alice (--yes)"
    assert entry.evidence == {"via": "--yes", "approver": "alice (--yes)"}


def test_a_refused_answer_is_journaled_with_its_channel(ctx: RunContext) -> None:
    answer = approvals.arrived(approvals.Answer(approved=True, approver="carol", via="terminal"))
    approvals.refused(ctx, gate(ctx), answer, "confirmation must be 'pg-b'")
    (entry,) = [e for e in read(ctx.journal.path) if e.event == "approval.answered"]
    assert entry.error == "refused: confirmation must be 'pg-b'"
    assert entry.evidence == {"via": "terminal", "approver": "carol"}
