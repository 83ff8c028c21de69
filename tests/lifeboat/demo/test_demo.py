"""``lifeboat demo`` run as a newcomer runs it (``make demo``), non-interactively, checked by
its outcomes on the real services it leaves running, then stopped with ``sandbox down``.

The demo runs once per session (``demo_run`` in tests/conftest.py), with a Prefect API auth
string set: the security scan (tests/faults/test_security.py) reads the same run. The test
that stops its sandbox is marked ``stops_demo``: it runs after every other test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from lifeboat.audit import integrity
from lifeboat.sandbox.process import pid_alive
from lifeboat.sandbox.receiver import read_inbox
from lifeboat.sandbox.smtp import read_maildir
from lifeboat.settings import Settings
from tests.conftest import LIFEBOAT_CLI, DemoRun, demo_cli, demo_cli_env


def test_the_story_is_told_in_order_and_ends_with_the_summary(demo_run: DemoRun) -> None:
    out = demo_run.result.stdout
    chapters = [f"{n}/7" for n in range(1, 8) if f"{n}/7" in out]
    assert chapters == [f"{n}/7" for n in range(1, 8)]
    assert "drill passed" in out and "flagged" in out and "failover done" in out
    for row in ("RTO", "RPO", "review", "status page", "mails", "Prefect UI", "stop"):
        assert row in out, row
    assert "lifeboat sandbox down" in out
    assert "Traceback" not in out + demo_run.result.stderr


def test_backup_drill_passes_and_the_trap_is_flagged_as_drift(demo_run: DemoRun) -> None:
    drill = demo_run.journals["backup-drill"]
    assert drill[-1].event == "run.ended" and drill[-1].summary
    assert drill[-1].summary.startswith("succeeded")
    trap = demo_run.journals["files-backup-drill"]
    (geo,) = [e for e in trap if e.step_id == "geo-separation" and e.event == "step.failed"]
    assert geo.error_code == "data.drift"
    copy = next(c for c in geo.evidence["copies"] if c["uri"].startswith("s3://gra-"))
    assert copy["declared"] == "gra" and copy["region"] == "sbg" and copy["distance_km"] == 0


def test_failover_is_live_auto_approved_and_meets_its_objectives(demo_run: DemoRun) -> None:
    failover = demo_run.journals["webapp-failover"]
    assert failover[0].inputs["mode"] == "live" and failover[0].inputs["detected_at"]
    (answer,) = [e for e in failover if e.event == "approval.answered"]
    assert answer.actor is not None and "auto-approval" in answer.actor
    assert failover[-1].event == "run.ended" and (failover[-1].summary or "").startswith("succ")
    review = (demo_run.run_dirs["webapp-failover"] / "review.md").read_text()
    assert "RTO" in review and "RPO" in review
    assert review.count("met") >= 2 and "missed" not in review
    # www follows the DNS switch to Gravelines, through the public entry point.
    health = httpx.get(f"{demo_run.state.env['LIFEBOAT_SANDBOX_ENTRY_URL']}/health", timeout=5)
    assert health.status_code == 200 and health.headers["X-Lifeboat-Site"] == "site-b"


def test_every_journal_is_sealed_and_intact(demo_run: DemoRun) -> None:
    key = integrity.public_key(Settings(home=demo_run.home))
    for runbook, run_dir in demo_run.run_dirs.items():
        check = integrity.verify_run(run_dir, key)
        assert check.ok, f"{runbook}: {check.problem}"


def test_customers_are_told_in_french_and_on_call_in_english(demo_run: DemoRun) -> None:
    mails = read_maildir(Path(demo_run.detail("smtp", "maildir")))
    subjects = [str(m["Subject"]) for m in mails if "customers@" in str(m["To"])]
    assert any(s.startswith("Interruption de service") for s in subjects), subjects
    assert any(s.startswith("Résolu") for s in subjects), subjects
    posts = [d.json for d in read_inbox(Path(demo_run.detail("receiver", "inbox")))]
    titles = [post["title"] for post in posts if post]
    assert any("resolved" in title.lower() for title in titles), titles


def test_the_status_page_is_served_in_french_and_shows_the_incident_resolved(
    demo_run: DemoRun,
) -> None:
    page = httpx.get(f"{demo_run.service('status')}/status-example/", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'lang="fr"' in page.text and "Résolu" in page.text
    feed = httpx.get(f"{demo_run.service('status')}/status-example/feed.json", timeout=5).json()
    (incident,) = feed["_lifeboat"]["incidents"]
    assert [u["stage"] for u in incident["updates"]] == ["incident.opened", "incident.resolved"]
    # Only the declared status page is public: the backups in the same S3 are not.
    backups = httpx.get(f"{demo_run.service('status')}/gra-web-backups/nightly/", timeout=5)
    assert backups.status_code == 404


def test_the_runs_are_in_the_prefect_server_the_summary_names(demo_run: DemoRun) -> None:
    ui = demo_run.service("prefect")
    run_id = demo_run.run_dirs["webapp-failover"].name
    assert f"{ui}/runs/flow-run/{run_id}" in demo_run.result.stdout
    answer = httpx.get(f"{ui}/api/flow_runs/{run_id}", timeout=10, auth=demo_run.api_auth)
    assert answer.status_code == 200 and answer.json()["state_type"] == "COMPLETED"


def test_the_summary_s_command_verifies_the_journal_and_its_write_once_copy(
    demo_run: DemoRun,
) -> None:
    """What the summary tells a newcomer to type works as typed, in a plain shell."""
    line = next(x for x in demo_run.result.stdout.splitlines() if "audit verify" in x)
    command = line[line.index("eval") :].split("│")[0].strip()
    shell = subprocess.run(
        ["sh", "-c", command.replace("lifeboat ", f"{LIFEBOAT_CLI} ")],
        env={
            **demo_cli_env(demo_run.home),
            "LIFEBOAT_PREFECT_API_AUTH_STRING": demo_run.auth_string,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert shell.stdout.startswith("intact and off-site: run ")


@pytest.mark.stops_demo
def test_sandbox_down_stops_every_service_the_demo_started(demo_run: DemoRun) -> None:
    pids = [s.pid for s in demo_run.state.services if s.kind == "process"]
    down = demo_cli(demo_run.home, "sandbox", "down")
    assert down.returncode == 0 and "sandbox stopped" in down.stdout
    assert not any(pid_alive(pid) for pid in pids)
