"""``lifeboat demo`` run as a newcomer runs it (``make demo``), non-interactively, checked by
its outcomes on the real services it leaves running, then stopped with ``sandbox down``."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lifeboat.audit import integrity
from lifeboat.journal import Entry, read
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.state import SandboxState, read_state
from lifeboat.settings import Settings
from tests.conftest import LIFEBOAT_CLI

DEMO_TIMEOUT_S = 300


@dataclass
class DemoRun:
    home: Path
    result: subprocess.CompletedProcess[str]
    state: SandboxState
    journals: dict[str, list[Entry]]  # runbook id -> its run's journal entries
    run_dirs: dict[str, Path]

    def service(self, name: str) -> str:
        return next(s.url for s in self.state.services if s.name == name)

    def detail(self, name: str, key: str) -> str:
        return next(s.details[key] for s in self.state.services if s.name == name)


def lifeboat(home: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env |= {"LIFEBOAT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env["COLUMNS"] = "400"  # the summary's URLs and paths on one line each, as a wide terminal
    return subprocess.run(
        [LIFEBOAT_CLI, *args],
        env=env,
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """One whole demo for the module; its sandbox is stopped afterwards, whatever happened."""
    repo = Path(__file__).resolve().parents[3]
    home = tmp_path_factory.mktemp("demo-home")
    result = lifeboat(home, repo, "demo")
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        state = read_state(home / "sandbox")
        journals: dict[str, list[Entry]] = {}
        run_dirs: dict[str, Path] = {}
        for journal in (home / "runs").glob("*/journal.jsonl"):
            entries = read(journal)
            journals[entries[0].runbook.id] = entries
            run_dirs[entries[0].runbook.id] = journal.parent
        yield DemoRun(home, result, state, journals, run_dirs)
    finally:
        down = lifeboat(home, repo, "sandbox", "down")
        assert down.returncode == 0, down.stderr


def test_the_story_is_told_in_order_and_ends_with_the_summary(demo: DemoRun) -> None:
    out = demo.result.stdout
    chapters = [f"{n}/7" for n in range(1, 8) if f"{n}/7" in out]
    assert chapters == [f"{n}/7" for n in range(1, 7)]  # 7 is the summary table
    assert "drill passed" in out and "flagged" in out and "failover done" in out
    for row in ("RTO", "RPO", "review", "status page", "mails", "Prefect UI", "stop"):
        assert row in out, row
    assert "lifeboat sandbox down" in out
    assert "Traceback" not in out + demo.result.stderr


def test_backup_drill_passes_and_the_trap_is_flagged_as_drift(demo: DemoRun) -> None:
    drill = demo.journals["backup-drill"]
    assert drill[-1].event == "run.ended" and drill[-1].summary
    assert drill[-1].summary.startswith("succeeded")
    trap = demo.journals["files-backup-drill"]
    (geo,) = [e for e in trap if e.step_id == "geo-separation" and e.event == "step.failed"]
    assert geo.error_code == "data.drift"
    copy = next(c for c in geo.evidence["copies"] if c["uri"].startswith("s3://gra-"))
    assert copy["declared"] == "gra" and copy["region"] == "sbg" and copy["distance_km"] == 0


def test_failover_is_live_auto_approved_and_meets_its_objectives(demo: DemoRun) -> None:
    failover = demo.journals["webapp-failover"]
    assert failover[0].inputs["mode"] == "live" and failover[0].inputs["detected_at"]
    (answer,) = [e for e in failover if e.event == "approval.answered"]
    assert answer.actor is not None and "auto-approval" in answer.actor
    assert failover[-1].event == "run.ended" and (failover[-1].summary or "").startswith("succ")
    review = (demo.run_dirs["webapp-failover"] / "review.md").read_text()
    assert "RTO" in review and "RPO" in review
    assert review.count("met") >= 2 and "missed" not in review
    # www follows the DNS switch to Gravelines, through the public entry point.
    health = httpx.get(f"{demo.state.env['LIFEBOAT_SANDBOX_ENTRY_URL']}/health", timeout=5)
    assert health.status_code == 200 and health.headers["X-Lifeboat-Site"] == "site-b"


def test_every_journal_is_sealed_and_intact(demo: DemoRun) -> None:
    key = integrity.public_key(Settings(home=demo.home))
    for runbook, run_dir in demo.run_dirs.items():
        check = integrity.verify_run(run_dir, key)
        assert check.ok, f"{runbook}: {check.problem}"


def test_customers_are_told_in_french_and_on_call_in_english(demo: DemoRun) -> None:
    maildir = Path(demo.detail("smtp", "maildir"))
    mails = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(maildir.glob("*.eml"))
    ]
    subjects = [str(m["Subject"]) for m in mails if "customers@" in str(m["To"])]
    assert any(s.startswith("Interruption de service") for s in subjects), subjects
    assert any(s.startswith("Résolu") for s in subjects), subjects
    inbox = Path(demo.detail("receiver", "inbox"))
    posts = [json.loads(p.read_text())["json"] for p in sorted(inbox.glob("*.json"))]
    titles = [post["title"] for post in posts if post]
    assert any("resolved" in title.lower() for title in titles), titles


def test_the_status_page_is_served_in_french_and_shows_the_incident_resolved(
    demo: DemoRun,
) -> None:
    page = httpx.get(f"{demo.service('status')}/status-example/", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'lang="fr"' in page.text and "Résolu" in page.text
    feed = httpx.get(f"{demo.service('status')}/status-example/feed.json", timeout=5).json()
    (incident,) = feed["_lifeboat"]["incidents"]
    assert [u["stage"] for u in incident["updates"]] == ["incident.opened", "incident.resolved"]
    # Only the declared status page is public: the backups in the same S3 are not.
    backups = httpx.get(f"{demo.service('status')}/gra-web-backups/nightly/", timeout=5)
    assert backups.status_code == 404


def test_the_runs_are_in_the_prefect_server_the_summary_names(demo: DemoRun) -> None:
    ui = demo.service("prefect")
    run_id = demo.run_dirs["webapp-failover"].name
    assert f"{ui}/runs/flow-run/{run_id}" in demo.result.stdout
    answer = httpx.get(f"{ui}/api/flow_runs/{run_id}", timeout=10)
    assert answer.status_code == 200 and answer.json()["state_type"] == "COMPLETED"


def test_sandbox_down_stops_every_service_the_demo_started(demo: DemoRun) -> None:
    repo = Path(__file__).resolve().parents[3]
    pids = [s.pid for s in demo.state.services if s.kind == "process"]
    down = lifeboat(demo.home, repo, "sandbox", "down")
    assert down.returncode == 0 and "sandbox stopped" in down.stdout
    assert not any(pid_alive(pid) for pid in pids)
