"""``lifeboat audit list|show|export|drills``: the history of runs, read from the journals."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lifeboat.audit import history
from lifeboat.audit.history import EXPORT_COLUMNS, Filters, find_run, runs
from lifeboat.cli import app
from lifeboat.engine import InlineExecutor, execute
from lifeboat.journal import GENESIS, Entry, RunbookIdentity, line_hash, verify
from lifeboat.settings import Settings
from tests.conftest import run_context

NOW = datetime.now(UTC)
WEB = RunbookIdentity(id="web", version="2.0.0", sha256="aa" * 32, git_commit="1234abc")
DB = RunbookIdentity(id="db", version="1.0.0", sha256="bb" * 32)


def write_run(
    home: Path,
    run_id: str,
    runbook: RunbookIdentity,
    *,
    mode: str = "drill",
    ago: timedelta = timedelta(hours=1),
    steps: list[dict[str, Any]] | None = None,
    ended: str | None = "succeeded: all steps done",
    seconds: float = 10.0,
    runbook_path: str = "",
) -> Path:
    """A valid journal: run.started ``ago``, the given entries 1 s apart, run.ended
    ``seconds`` after the start (no run.ended when ``ended`` is None)."""
    start = NOW - ago
    started = {
        "event": "run.started",
        "actor": "alice",
        "summary": "quarterly drill",
        "inputs": {"mode": mode, "params": {}, "incident": "INC-7", "runbook": runbook_path},
    }
    events = [(start, started)]
    for n, fields in enumerate(steps or [], start=1):
        events.append((start + timedelta(seconds=n), fields))
    if ended is not None:
        events.append(
            (start + timedelta(seconds=seconds), {"event": "run.ended", "summary": ended})
        )
    path = Settings(home=home).runs_dir / run_id / "journal.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines, previous = [], GENESIS
    for seq, (ts, fields) in enumerate(events, start=1):
        entry = Entry(
            seq=seq, ts=ts, run_id=run_id, runbook=runbook, prev_sha256=previous, **fields
        )
        line = entry.model_dump_json().encode()
        lines.append(line)
        previous = line_hash(line)
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert verify(path).ok
    return path


def check(step: str, event: str = "step.succeeded", **fields: Any) -> list[dict[str, Any]]:
    start = {"event": "step.started", "step_id": step, "kind": "check", "summary": "attempt 1"}
    end = {"event": event, "step_id": step, "kind": "check", "duration_ms": 812.5} | fields
    return [start, end]


STEPS = [
    *check("health", summary="HTTP 200 in 12 ms"),
    {
        "event": "approval.asked",
        "step_id": "go",
        "kind": "approval",
        "inputs": {"prompt": "Fail over?"},
    },
    {
        "event": "approval.answered",
        "step_id": "go",
        "kind": "approval",
        "actor": "carol",
        "summary": "approved: site is gone",
    },
    {
        "event": "step.succeeded",
        "step_id": "go",
        "kind": "approval",
        "actor": "carol",
        "summary": "approved by carol",
        "duration_ms": 2000.0,
    },
    {"event": "step.skipped", "step_id": "dns", "kind": "action", "summary": "drill: would swap"},
    *check("restore", "step.failed", error="connection refused (host db-b:5432)"),
]


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["audit", *args])


@pytest.fixture
def history_home(lifeboat_home: Path) -> Path:
    """Four runs: web live ok (2 d), web drill failed (40 d), db drill ok (1 d), db
    interrupted (10 min)."""
    write_run(lifeboat_home, "r-web-live", WEB, mode="live", ago=timedelta(days=2), steps=STEPS)
    write_run(
        lifeboat_home, "r-web-old", WEB, ago=timedelta(days=40), ended="failed: failed at restore"
    )
    write_run(lifeboat_home, "r-db-ok", DB, ago=timedelta(days=1), steps=check("restore"))
    write_run(
        lifeboat_home,
        "r-db-cut",
        DB,
        ago=timedelta(minutes=10),
        steps=[check("restore")[0]],
        ended=None,
    )
    return lifeboat_home


def ids(filters: Filters, home: Path) -> list[str]:
    return [r.run_id for r in runs(Settings(home=home).runs_dir, filters)]


def test_list_filters(history_home: Path) -> None:
    assert ids(Filters(), history_home) == ["r-db-cut", "r-db-ok", "r-web-live", "r-web-old"]
    assert ids(Filters(runbook="web"), history_home) == ["r-web-live", "r-web-old"]
    since = history.since_cutoff("30d")
    assert ids(Filters(since=since), history_home) == ["r-db-cut", "r-db-ok", "r-web-live"]
    assert ids(Filters(mode="live"), history_home) == ["r-web-live"]
    assert ids(Filters(status="failed"), history_home) == ["r-web-old"]
    assert ids(Filters(status="ok", mode="drill"), history_home) == ["r-db-ok"]


def test_list_command_filters_and_record(history_home: Path) -> None:
    result = cli("list", "--runbook", "web", "--since", "30d")
    assert result.exit_code == 0, result.output
    assert "r-web-live" in result.output
    assert "r-web-old" not in result.output and "r-db" not in result.output
    assert "web 2.0.0" in result.output and "carol" in result.output
    result = cli("list", "--mode", "drill", "--status", "failed")
    assert result.exit_code == 0, result.output
    assert "r-web-old" in result.output and "r-web-live" not in result.output
    record = runs(Settings(home=history_home).runs_dir, Filters(runbook="web", mode="live"))[0]
    assert record.initiator == "alice" and record.approvers == ["carol"]
    assert record.incident == "INC-7" and record.reason == "quarterly drill"
    assert record.git_commit == "1234abc" and record.sha256 == "aa" * 32
    assert record.duration == timedelta(seconds=10) and record.status == "ok"


def test_a_run_without_run_ended_is_listed_as_interrupted(history_home: Path) -> None:
    interrupted = ids(Filters(status="interrupted"), history_home)
    assert interrupted == ["r-db-cut"]
    result = cli("list", "--runbook", "db")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "r-db-cut" in x)
    assert "running or interrupted" in line


def test_a_resumed_run_is_unfinished_until_it_ends_again(lifeboat_home: Path) -> None:
    resumed = {"event": "run.resumed", "actor": "bob", "summary": "resumed"}
    write_run(
        lifeboat_home,
        "r-resumed",
        DB,
        steps=[{"event": "run.ended", "summary": "failed: failed at restore"}, resumed],
        ended=None,
    )
    assert ids(Filters(status="interrupted"), lifeboat_home) == ["r-resumed"]


def test_show_prints_the_timeline(history_home: Path) -> None:
    result = cli("show", "r-web-live")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "run r-web-live: web 2.0.0 (sha256 aaaaaaaaaaaa), live, ok in 10.0s" in lines[0]
    assert "started by: alice" in lines[1] and "approved by: carol" in lines[1]
    answered = next(x for x in lines if "approval.answered" in x)
    assert "go" in answered and "approved" in answered and "carol" in answered
    failed = next(x for x in lines if "step.failed" in x)
    assert "restore" in failed and "connection refused" in failed
    assert any("step.skipped" in x and "drill: would swap" in x for x in lines)
    events = [e.event for e in history.timeline(find_run(Settings().runs_dir, "r-web-l"))]  # type: ignore[arg-type]
    assert events[0] == "run.started" and events[-1] == "run.ended" and len(events) == 10


def test_show_an_unknown_run_exits_2(history_home: Path) -> None:
    result = cli("show", "no-such-run")
    assert result.exit_code == 2
    assert result.output.startswith("Error: no run 'no-such-run'")
    assert cli("show", "r-db").exit_code == 2  # a prefix of two runs names neither


def test_export_csv_has_one_row_per_step_with_every_column(history_home: Path) -> None:
    result = cli("export", "--format", "csv", "--runbook", "web", "--since", "30d")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert tuple(reader.fieldnames or ()) == EXPORT_COLUMNS
    rows = {r["step"]: r for r in reader}
    assert list(rows) == ["health", "go", "dns", "restore"]
    health = rows["health"]
    start = NOW - timedelta(days=2)
    assert health == {
        "run": "r-web-live",
        "runbook_id": "web",
        "version": "2.0.0",
        "sha256": "aa" * 32,
        "git_commit": "1234abc",
        "mode": "live",
        "step": "health",
        "kind": "check",
        "status": "succeeded",
        "start": (start + timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        "end": (start + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
        "duration_ms": "812.5",
        "actor": "",
        "summary": "HTTP 200 in 12 ms",
    }
    assert rows["go"]["actor"] == "carol" and rows["go"]["kind"] == "approval"
    assert rows["go"]["start"] < rows["go"]["end"]  # from approval.asked to the answer
    assert rows["dns"]["status"] == "skipped"
    assert rows["restore"]["status"] == "failed"
    assert rows["restore"]["summary"] == "connection refused (host db-b:5432)"


def test_export_json_is_a_list_and_marks_interrupted_steps(
    history_home: Path, tmp_path: Path
) -> None:
    output = tmp_path / "export.json"
    result = cli("export", "--format", "json", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "6 rows written" in result.output
    rows = json.loads(output.read_text())
    assert isinstance(rows, list) and all(tuple(r) == EXPORT_COLUMNS for r in rows)
    assert [(r["run"], r["step"]) for r in rows] == [
        ("r-db-cut", "restore"),
        ("r-db-ok", "restore"),
        ("r-web-live", "health"),
        ("r-web-live", "go"),
        ("r-web-live", "dns"),
        ("r-web-live", "restore"),
    ]
    cut = rows[0]
    assert cut["status"] == "interrupted" and cut["end"] is None and cut["start"]
    assert rows[1]["duration_ms"] == 812.5


def test_export_redacts_secret_shaped_text(lifeboat_home: Path) -> None:
    leaky = check("fetch", summary="got https://admin:hunter2hunter2@db.example.com/x")
    write_run(lifeboat_home, "r-leak", DB, steps=leaky)
    result = cli("export", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.stdout and "admin:" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--since", "3x"],
        ["export", "--format", "csv", "--since", "thirty days"],
        ["drills", "--since", "90"],
        ["drills", "--certify-within", "soon"],
        ["list", "--mode", "prod"],
        ["export", "--format", "xml"],
    ],
)
def test_bad_options_exit_2_with_one_error_line(history_home: Path, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


RUNBOOK = """\
id: tiny
version: {version}
title: Tiny
owner: sre@example.com
steps:
  - {{id: a, check: wait, with: {{duration: 10ms}}}}
"""


def drill_history(home: Path, runbook: Path) -> None:
    """Three drills of the file's current version (12 s, 10.4 s, 9.8 s; the middle one
    failed: 11 s) and a failed live run, over the last 20 days."""
    import hashlib

    sha = hashlib.sha256(runbook.read_bytes()).hexdigest()
    tiny = RunbookIdentity(id="tiny", version="1.0.0", sha256=sha)
    days = [(20, 12.0, "succeeded"), (15, 11.0, "failed"), (10, 10.4, "succeeded")]
    days += [(5, 9.8, "succeeded")]
    for n, (ago, seconds, end) in enumerate(days):
        write_run(
            home,
            f"d{n}",
            tiny,
            ago=timedelta(days=ago),
            seconds=seconds,
            ended=f"{end}: x",
            runbook_path=str(runbook),
        )
    write_run(home, "live", tiny, mode="live", ago=timedelta(days=1), ended="failed: x")


def test_drills_pass_rate_last_pass_trend_and_certified(
    lifeboat_home: Path, tmp_path: Path
) -> None:
    runbook = tmp_path / "tiny.yaml"
    runbook.write_text(RUNBOOK.format(version="1.0.0"))
    drill_history(lifeboat_home, runbook)
    [stats] = history.drills(Settings().runs_dir, NOW - timedelta(days=90), timedelta(days=30))
    assert (stats.runbook_id, stats.drills, stats.passed) == ("tiny", 4, 3)
    assert stats.pass_rate == 0.75
    assert stats.last_pass == NOW - timedelta(days=5) + timedelta(seconds=9.8)
    assert stats.rto_trend == [12.0, 10.4, 9.8] and stats.trend == "improving"
    assert stats.certified and stats.certified_by == "d3" and stats.current_version == "1.0.0"
    result = cli("drills", "--since", "90d")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "tiny" in x)
    assert "75% (3/4)" in line and "12.0s → 10.4s → 9.8s (improving)" in line
    assert "yes:" in line
    # Only a passing drill within --certify-within counts:
    result = cli("drills", "--certify-within", "3d")
    assert "NO: last passing drill of 1.0.0 is 5d old" in result.output


def test_a_new_version_not_yet_drilled_is_not_certified(
    lifeboat_home: Path, tmp_path: Path
) -> None:
    runbook = tmp_path / "tiny.yaml"
    runbook.write_text(RUNBOOK.format(version="1.0.0"))
    drill_history(lifeboat_home, runbook)
    runbook.write_text(RUNBOOK.format(version="1.1.0"))  # edited since the drills
    [stats] = history.drills(Settings().runs_dir, None, timedelta(days=30))
    assert stats.current_version == "1.1.0" and not stats.certified
    assert stats.why == "no passing drill of 1.1.0 (this file)"
    result = cli("drills")
    assert "NO: no passing drill of 1.1.0" in result.output
    runbook.unlink()  # the file is gone: the newest journal's version is the current one
    [stats] = history.drills(Settings().runs_dir, None, timedelta(days=30))
    assert stats.current_version == "1.0.0" and stats.certified


def test_a_real_run_through_the_engine_is_listed_and_exported(
    lifeboat_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(RUNBOOK.format(version="3.0.0"))
    incident = f"INC-{uuid.uuid4().hex[:6]}"
    ctx = run_context(path, "drill", incident=incident)
    outcome = execute(ctx, InlineExecutor(ctx))
    assert outcome.status == "succeeded"
    [record] = runs(Settings().runs_dir)
    assert (record.run_id, record.status, record.mode) == (outcome.run_id, "ok", "drill")
    assert record.incident == incident and record.initiator == "tester"
    assert record.runbook_path == str(path) and record.version == "3.0.0"
    rows = list(history.step_rows(record))
    assert [(r.step, r.status, r.kind) for r in rows] == [("a", "succeeded", "check")]
    [stats] = history.drills(Settings().runs_dir, None, timedelta(days=1))
    assert stats.certified and stats.current_sha256 == record.sha256


def test_an_unreachable_prefect_api_only_means_no_enrichment(
    lifeboat_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = str(uuid.uuid4())  # a flow run id, as real runs have
    write_run(lifeboat_home, run_id, DB)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens
    result = cli("list")
    assert result.exit_code == 0, result.output
    assert run_id in result.output and "Prefect" not in result.output


def test_list_and_show_print_what_people_wrote_not_markup_or_emoji(lifeboat_home: Path) -> None:
    marked = "[bold]carol[/bold] :smile:"
    answered = {
        "event": "approval.answered",
        "step_id": "go",
        "kind": "approval",
        "actor": marked,
        "summary": "approved: [red]site[/red] is gone :fire:",
    }
    write_run(lifeboat_home, "r-marks", DB, steps=[answered])
    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    assert marked in listed.output
    shown = cli("show", "r-marks")
    assert shown.exit_code == 0, shown.output
    assert "approved: [red]site[/red] is gone :fire:" in shown.output
    assert "\U0001f525" not in shown.output + listed.output  # :fire: stays words
