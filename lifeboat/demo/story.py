"""``lifeboat demo``: a datacenter lost and recovered, end to end, on the embedded sandbox.

The chapters, each on real services (``world.py``) and real Prefect flow runs:

1. the sandbox comes up: Prefect server and UI, S3 (moto) in every region, two sshd sites
   with a web app each, SMTP and webhook receivers, the public entry point;
2. production as it was: nightly backups seeded in Strasbourg and Gravelines, www served
   by Strasbourg (site A);
3. the weekly backup drill passes: the copies are far apart, fresh, complete, locked and a
   dump restores on the standby;
4. the Strasbourg trap: another backup set declares a copy in Gravelines that really sits
   in Strasbourg; its drill flags it by asking the store where the bucket is;
5. the fire: every process of site A is killed;
6. the failover, live, auto-approved (recorded as such): customers told in French, on-call
   in English, the standby restored and started, www switched and validated, the review
   written;
7. the summary (``summary.py``): RTO and RPO against the objectives, where everything is.

Progress is read from each run's journal as it is written (``lifeboat.follow``), the record
auditors read. The sandbox stays up afterwards for a look at the UI, the mails and the
status page; ``lifeboat sandbox down`` stops it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from lifeboat import follow
from lifeboat.journal import Entry
from lifeboat.outcome import RunOutcome
from lifeboat.runbook import load
from lifeboat.sandbox import keeper
from lifeboat.settings import Settings

from . import world as w

HERE = Path(__file__).resolve().parent
TRAP = HERE / "strasbourg-trap.yaml"
DRILL, FAILOVER = "backup-drill.yaml", "webapp-failover.yaml"
PRIMARY, STANDBY = "site-a", "site-b"
PRIMARY_HOST = "web-a.sbg.example.net"
APPROVER = "lifeboat demo (auto-approval)"
CHAPTERS = 7
MARK = {"step.succeeded": "[green]✓[/]", "step.failed": "[red]✗[/]", "step.skipped": "[yellow]-[/]"}


class DemoError(Exception):
    """A chapter did not turn out as the story needs; the message says which and why."""


@dataclass
class Story:
    """What the chapters found, for the summary."""

    console: Console
    settings: Settings
    started: float = field(default_factory=time.monotonic)
    world: w.World | None = None
    runs: dict[str, RunOutcome] = field(default_factory=dict)
    lost_at: datetime | None = None
    trap_rows: list[dict[str, Any]] = field(default_factory=list)
    served_before: str = ""
    served_after: str = ""

    def chapter(self, number: int, title: str) -> None:
        elapsed = time.monotonic() - self.started
        self.console.rule(f"[bold]{number}/{CHAPTERS}  {title}[/]  [dim]{elapsed:5.1f} s[/]")

    def say(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False)


def runbooks_folder(given: Path | None) -> Path:
    """The shipped runbooks: ``given``, else ./runbooks, else the repository's."""
    candidates = [given] if given else [Path("runbooks"), HERE.parents[1] / "runbooks"]
    for folder in candidates:
        if folder is not None and (folder / FAILOVER).is_file() and (folder / DRILL).is_file():
            return folder
    raise DemoError(
        f"no {FAILOVER} and {DRILL} in {', '.join(map(str, candidates))}: "
        "run from the repository's root or give --runbooks"
    )


def run_demo(console: Console, settings: Settings, runbooks: Path) -> Story:
    """Tell the whole story; raise ``DemoError`` when a chapter goes wrong."""
    story = Story(console, settings)
    story.world = _start(story)
    _production(story, runbooks)
    _drill(story, runbooks / DRILL)
    _trap(story)
    _fire(story)
    _failover(story, runbooks / FAILOVER)
    story.chapter(7, "The summary")
    return story


def _start(story: Story) -> w.World:
    story.chapter(1, "The sandbox: real services on 127.0.0.1")
    directory = story.settings.home / "sandbox"
    with story.console.status("stopping any previous sandbox, starting a fresh one"):
        # A fresh world each time: every process of an earlier sandbox stopped, no mail,
        # webhook or site data from it. The runs and the Prefect server's history (under
        # LIFEBOAT_HOME) are kept.
        world = w.World(keeper.start(directory, prefect=True, fresh=True))
    for record in world.state.services:
        story.say(f"{record.name:13} {record.url}")
    _use(world, story.settings)
    return world


def _use(world: w.World, settings: Settings) -> None:
    """Point this process (its Settings, boto3, Prefect) at the sandbox and its server.

    A ``PREFECT_API_URL`` set by the user is replaced: the demo's runs belong to the
    sandbox's server, never to a production one.
    """
    from lifeboat import server

    os.environ.update(world.env)
    os.environ["PREFECT_API_URL"] = f"{world.ui_url}/api"
    os.environ.pop("PREFECT_API_AUTH_STRING", None)  # a production credential stays home
    server.use_auth(settings)  # the sandbox server's own, when LIFEBOAT_ sets one
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["LIFEBOAT_AUDIT_OFFSITE_URI"] = w.AUDIT_URI
    os.environ["LIFEBOAT_HOME"] = str(settings.home)
    # Prefect's own lines on the terminal (every step's, the tracebacks of the failures the
    # story expects) would drown the story; they all still reach the API: the UI shows every
    # line of every run. Prefect re-applies its logging settings at each flow run, so this
    # is set as a setting, not patched onto a handler.
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"


def _production(story: Story, runbooks: Path) -> None:
    story.chapter(2, "Production before the fire: nightly backups, www in Strasbourg")
    world = _world(story)
    files = [runbooks / DRILL, runbooks / FAILOVER, TRAP]
    seeded = w.build(world, [load(path).runbook for path in files])
    story.say(
        f"{len(seeded.buckets)} buckets in their regions, {seeded.objects} objects "
        "(3 nightly dumps and a SHA256SUMS manifest per copy; off-site copies under Object Lock)"
    )
    story.say(
        f"the file store's 'Gravelines' copy s3://{w.TRAP_BUCKET} was created in "
        f"{w.TRAP_REAL_REGION} (the trap: nothing in its runbook says so)"
    )
    w.serve_from(world, PRIMARY, PRIMARY_HOST)
    story.served_before = w.serving_site(world)
    story.say(f"www.example.com ({world.entry_url}) is served by {story.served_before}")
    if story.served_before != PRIMARY:
        raise DemoError(f"www should be served by {PRIMARY}, got {story.served_before}")


def _drill(story: Story, runbook: Path) -> None:
    story.chapter(3, "The weekly backup drill")
    outcome = _run(story, runbook, "drill", reason="weekly backup drill")
    if outcome.status != "succeeded":
        failed = outcome.failed_step
        raise DemoError(f"the backup drill failed at {failed.step_id if failed else '?'}")
    story.say("[green]drill passed[/]: the database backups would survive the loss of Strasbourg")


def _trap(story: Story) -> None:
    story.chapter(4, "The Strasbourg trap: a copy declared off-site that is not")
    outcome = _run(story, TRAP, "drill", reason="weekly backup drill")
    geo = next((s for s in outcome.steps if s.step_id == "geo-separation"), None)
    if geo is None or geo.status != "failed":
        raise DemoError("the trap's drill should have failed its geo-separation check")
    story.trap_rows = list(geo.evidence.get("copies", []))
    for row in story.trap_rows:
        story.say(
            f"{row['uri']}: declared {row['declared']}, really in {row['region']}, "
            f"{row['distance_km']} km from files-a: {row['verdict']}"
        )
    story.say(
        "[bold red]flagged[/]: in a Strasbourg fire both copies of the file store burn "
        "(the 2021 OVHcloud fire's lesson)"
    )


def _fire(story: Story) -> None:
    story.chapter(5, "Fire in Strasbourg: site A is lost")
    world = _world(story)
    killed = w.lose_site(world, PRIMARY)
    story.lost_at = datetime.now(UTC)
    story.say(f"killed on {PRIMARY}: {', '.join(killed) or 'nothing (already gone)'}")
    deadline = time.monotonic() + 10
    while (answer := w.serving_site(world)) == PRIMARY and time.monotonic() < deadline:
        time.sleep(0.2)
    story.say(f"www.example.com now answers: [red]{answer}[/]")


def _failover(story: Story, runbook: Path) -> None:
    story.chapter(6, "The failover to Gravelines, live")
    world = _world(story)
    params = {
        "entry_url": world.entry_url,
        "primary_health": f"{world.site_app(PRIMARY)}/health",
        "standby_health": f"{world.site_app(STANDBY)}/health",
        "settle": 20,
    }
    story.say(f"the approval gate is answered by '{APPROVER}': recorded as an auto-approval")
    outcome = _run(
        story,
        runbook,
        "live",
        reason="site loss: fire in Strasbourg",
        incident="DEMO-2021-03-10",
        params=params,
        detected_at=story.lost_at,
        auto_approver=APPROVER,
    )
    story.served_after = w.serving_site(world)
    if outcome.status != "succeeded":
        failed = outcome.failed_step
        raise DemoError(f"the failover failed at {failed.step_id if failed else '?'}")
    story.say(f"[green]failover done[/]: www.example.com is served by {story.served_after}")


def _run(story: Story, runbook: Path, mode: str, **options: Any) -> RunOutcome:
    """Run ``runbook`` as a Prefect flow in this process, showing its journal as it grows."""
    from flows.run import run_sync

    with story.console.status(f"{runbook.name} ({mode})") as status:
        state = follow.run_followed(
            lambda: run_sync(str(runbook.resolve()), mode=mode, **options),
            story.settings.runs_dir,
            lambda entry: _show(story, entry, status),
        )
    outcome = state.result(raise_on_failure=False)
    if not isinstance(outcome, RunOutcome):
        raise DemoError(f"{runbook.name}: the flow run ended without a result: {outcome}")
    story.runs[outcome.runbook_id] = outcome
    return outcome


def _show(story: Story, entry: Entry, status: Any) -> None:
    seconds = f"{entry.duration_ms / 1000:.1f} s" if entry.duration_ms is not None else ""
    if entry.event == "step.started":
        status.update(f"{entry.step_id}: running")
    elif entry.event in MARK:
        detail = entry.error or entry.summary or ""
        story.say(f"{MARK[entry.event]} {entry.step_id:16} {detail}  [dim]{seconds}[/]")
    elif entry.event == "update.sent":
        story.say(f"[cyan]✉[/] {'(cadence)':16} {entry.summary or ''}")


def _world(story: Story) -> w.World:
    if story.world is None:
        raise DemoError("the sandbox is not up")
    return story.world
