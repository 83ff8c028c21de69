"""``lifeboat audit drills`` draws every drill's RTO and RPO against the runbook's objectives:
an SVG file, said where, with a point per drill (a cross for a drill that achieved none)."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

from lifeboat.audit import drill_chart
from lifeboat.audit.history import runs
from lifeboat.journal import RunbookIdentity
from lifeboat.settings import Settings
from tests.lifeboat.audit.test_history import NOW, cli, write_run

NS = "{http://www.w3.org/2000/svg}"
RUNBOOK = """\
id: tiny
version: 1.0.0
title: Tiny
owner: sre@example.com
objectives: {rto: 15s, rpo: 2h}
steps:
  - {id: a, check: wait, with: {duration: 10ms}}
"""


def fresh(age: timedelta, start_ago: timedelta) -> list[dict[str, Any]]:
    """A passing backup.freshness step whose newest backup is ``age`` old at the run's start."""
    modified = (NOW - start_ago - age).isoformat()
    copy = {"uri": "s3://b/db/", "newest": "db.sql.gz", "modified": modified, "age": "x"}
    started = {
        "event": "step.started", "step_id": "fresh", "kind": "check",
        "summary": "backup.freshness attempt 1",
    }  # fmt: skip
    done = {
        "event": "step.succeeded", "step_id": "fresh", "kind": "check",
        "evidence": {"backup": "db", "copies": [copy]},
    }  # fmt: skip
    return [started, done]


def history(home: Path, runbook: Path) -> None:
    """Four drills (RTO 12 s, failed, 10 s, 20 s; backups 1 h, -, 1.5 h, 3 h old) and a
    live run, which is no drill."""
    tiny = RunbookIdentity(
        id="tiny", version="1.0.0", sha256=hashlib.sha256(runbook.read_bytes()).hexdigest()
    )
    drills = [(20, 12.0, "succeeded", 1.0), (15, 11.0, "failed", 1.0)]
    drills += [(10, 10.0, "succeeded", 1.5), (5, 20.0, "succeeded", 3.0)]
    for n, (days, seconds, end, hours) in enumerate(drills):
        ago = timedelta(days=days)
        write_run(
            home, f"d{n}", tiny, ago=ago, seconds=seconds, ended=f"{end}: x",
            runbook_path=str(runbook), steps=fresh(timedelta(hours=hours), ago),
        )  # fmt: skip
    write_run(home, "live", tiny, mode="live", ago=timedelta(days=1), runbook_path=str(runbook))


def points(root: ET.Element, panel: str) -> list[ET.Element]:
    (group,) = [g for g in root.iter(f"{NS}g") if g.get("class") == f"panel {panel}"]
    return [e for e in group if "point" in (e.get("class") or "").split()]


def test_each_drill_is_a_point_against_the_objective(lifeboat_home: Path, tmp_path: Path) -> None:
    runbook = tmp_path / "tiny.yaml"
    runbook.write_text(RUNBOOK)
    history(lifeboat_home, runbook)
    [series] = drill_chart.all_series(Settings().runs_dir, None)
    assert (series.rto_target_s, series.rpo_target_s) == (15.0, 7200.0)
    assert [p.run_id for p in series.points] == ["d0", "d1", "d2", "d3"]  # oldest first
    assert [p.rto_s for p in series.points] == [12.0, None, 10.0, 20.0]
    hours = [p.rpo_s and round(p.rpo_s / 3600, 1) for p in series.points]
    assert hours == [1.0, None, 1.5, 3.0]  # measured at the end: no action ran

    chart = tmp_path / "charts" / "drills.svg"
    result = cli("drills", "--since", "90d", "--chart", str(chart))
    assert result.exit_code == 0, result.output
    assert f"chart of each drill's RTO and RPO against the objectives: {chart}" in result.output
    root = ET.fromstring(chart.read_text())
    for panel in ("rto", "rpo"):
        drawn = points(root, panel)
        assert [p.get("data-run") for p in drawn] == ["d0", "d1", "d2", "d3"]
        assert [p.tag for p in drawn].count(f"{NS}circle") == 3  # the failed drill: a cross
        assert "missing" in (drawn[1].get("class") or "")
        assert "not achieved: the drill failed" in (drawn[1].findtext(f"{NS}title") or "")
    objectives = [e for e in root.iter(f"{NS}line") if e.get("class") == "objective"]
    assert len(objectives) == 2
    said = [c.findtext(f"{NS}title") or "" for c in root.iter(f"{NS}circle")]
    assert any(s.startswith("d3, ") and "RTO 20.0 s (MISSED)" in s for s in said), said
    assert any(s.startswith("d3, ") and "RPO 3h 0m (MISSED)" in s for s in said), said
    assert all("<script" not in line for line in chart.read_text().splitlines())


def test_the_chart_goes_to_the_lifeboat_home_unless_told(
    lifeboat_home: Path, tmp_path: Path
) -> None:
    runbook = tmp_path / "tiny.yaml"
    runbook.write_text(RUNBOOK.replace("objectives: {rto: 15s, rpo: 2h}\n", ""))
    history(lifeboat_home, runbook)
    result = cli("drills")
    assert result.exit_code == 0, result.output
    written = Settings().home / "drills.svg"
    assert f"against the objectives: {written}" in result.output
    root = ET.fromstring(written.read_text())
    assert [e for e in root.iter(f"{NS}line") if e.get("class") == "objective"] == []
    texts = [t.text or "" for t in root.iter(f"{NS}text")]
    assert "RTO per drill (no objective set)" in texts
    assert len(runs(Settings().runs_dir)) == 5  # the live run is listed, not drawn:
    assert len(points(root, "rto")) == 4


def test_an_unwritable_chart_is_one_error_line(lifeboat_home: Path, tmp_path: Path) -> None:
    runbook = tmp_path / "tiny.yaml"
    runbook.write_text(RUNBOOK)
    history(lifeboat_home, runbook)
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli("drills", "--chart", str(blocker / "drills.svg"))
    assert result.exit_code == 1
    assert f"Error: --chart: cannot write {blocker / 'drills.svg'}" in result.output
