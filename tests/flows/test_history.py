"""``lifeboat audit list|show`` add Prefect's view of a run when its API answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.history import enrich
from flows.run import run_sync
from lifeboat.audit.history import runs
from lifeboat.cli import app
from lifeboat.outcome import RunOutcome
from lifeboat.settings import Settings

pytestmark = pytest.mark.usefixtures("lifeboat_home")

RUNBOOK = """\
id: history-flow
version: 1.0.0
title: History through Prefect
owner: sre@example.com
steps:
  - {id: a, check: wait, with: {duration: 10ms}}
"""


def test_list_and_show_add_the_flow_run_state_and_link(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.yaml"
    path.write_text(RUNBOOK)
    outcome = run_sync(str(path), mode="drill").result(raise_on_failure=False)
    assert isinstance(outcome, RunOutcome) and outcome.status == "succeeded"
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    [record] = runs(Settings().runs_dir)
    enrich([record])
    assert record.flow_run_state == "Completed"
    assert record.flow_run_url and outcome.run_id in record.flow_run_url
    listed = CliRunner().invoke(app, ["audit", "list"])
    assert listed.exit_code == 0, listed.output
    assert "Prefect state" in listed.output and "Completed" in listed.output
    shown = CliRunner().invoke(app, ["audit", "show", outcome.run_id])
    assert shown.exit_code == 0, shown.output
    assert f"Prefect: Completed, {record.flow_run_url}" in shown.output
