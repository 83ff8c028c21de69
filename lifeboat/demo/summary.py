"""The demo's last screen: what was achieved against the objectives, and where to look.

Every figure comes from the failover's journal through the post-incident review
(``lifeboat.audit.review``), the same numbers an auditor reads; every path and URL is one
the demo's runs really wrote to or the sandbox really serves.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import httpx
from rich.table import Table

from lifeboat.audit import integrity
from lifeboat.audit.review import Review, build
from lifeboat.audit.review_parts import Objective
from lifeboat.outcome import RunOutcome

from . import world as w
from .story import DemoError, Story


def summary(story: Story) -> Table:
    """The table ``lifeboat demo`` ends with; raises ``DemoError`` if a part is missing."""
    world, failover = story.world, story.runs.get("webapp-failover")
    if world is None or failover is None:
        raise DemoError("the story did not reach the failover")
    review = build(Path(failover.journal))
    table = Table(
        title="Lifeboat demo: Strasbourg lost, www recovered in Gravelines", show_header=False
    )
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("", overflow="fold")
    for label, value in _rows(story, world, failover, review):
        table.add_row(label, value)
    return table


def _rows(
    story: Story, world: w.World, failover: RunOutcome, review: Review
) -> list[tuple[str, str]]:
    drill = story.runs["backup-drill"]
    run_dir = Path(failover.journal).parent
    mails = w.mails(world)
    hooks = w.webhooks(world)
    page = world.status_page("s3://status-example/")
    return [
        ("backup drill", f"{drill.status.value}: {len(drill.steps)} steps"),
        ("Strasbourg trap", _trap(story)),
        ("failover", f"{failover.status.value}; www served by {story.served_after}"),
        ("RTO", _objective(review.rto)),
        ("RPO", _objective(review.rpo)),
        ("approval", "; ".join(f"{a.step_id}: {a.verdict} by {a.actor}" for a in review.approvals)),
        ("review", f"{run_dir / 'review.html'}\n{run_dir / 'review.md'}"),
        ("journal", _journal(story, failover)),
        ("status page", f"{page} ({_answers(page)})"),
        ("mails", _mails(mails, world)),
        (
            "on-call webhooks",
            f"{len(hooks)} JSON posts in {world.service('receiver').details['inbox']}",
        ),
        ("Prefect UI", f"{world.ui_url}/runs/flow-run/{failover.run_id}"),
        ("took", f"{_elapsed(story):.0f} s"),
        ("stop", "lifeboat sandbox down"),
    ]


def _objective(objective: Objective) -> str:
    verdict = {True: "[green]met[/]", False: "[red]missed[/]", None: "not measured"}
    return (
        f"{objective.achieved or '-'} against {objective.target or 'no objective'}: "
        f"{verdict[objective.met]} ({objective.basis})"
    )


def _trap(story: Story) -> str:
    flagged = [row for row in story.trap_rows if not row.get("offsite")]
    return "; ".join(f"{row['uri']}: {row['verdict']}" for row in flagged) or "not flagged"


def _journal(story: Story, failover: RunOutcome) -> str:
    check = integrity.verify_run(Path(failover.journal), integrity.public_key(story.settings))
    state = (
        f"intact, {check.entries} entries, signed" if check.ok else f"NOT intact: {check.problem}"
    )
    return (
        f"{failover.journal}: {state}; write-once copy in s3://{w.AUDIT_BUCKET}/journals/\n"
        f'check both: eval "$(lifeboat sandbox env)"; LIFEBOAT_AUDIT_OFFSITE_URI={w.AUDIT_URI} '
        f"lifeboat audit verify {failover.run_id} --against-offsite"
    )


def _answers(url: str) -> str:
    try:
        answer = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        return f"no answer: {type(exc).__name__}"
    return f"HTTP {answer.status_code}, {answer.headers.get('content-type', '?')}"


def _mails(mails: list[EmailMessage], world: w.World) -> str:
    lines = [f"{len(mails)} received in {world.service('smtp').details['maildir']}"]
    lines += [f"to {mail['To']}: {mail['Subject']}" for mail in mails]
    return "\n".join(lines)


def _elapsed(story: Story) -> float:
    return time.monotonic() - story.started
