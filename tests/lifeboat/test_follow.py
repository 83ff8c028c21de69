"""``lifeboat.follow``: the entries a run writes reach the screen, in order, once each."""

from __future__ import annotations

from pathlib import Path

from lifeboat.follow import run_followed
from lifeboat.journal import Entry, Journal, RunbookIdentity

RUNBOOK = RunbookIdentity(id="web", version="1.0.0", sha256="aa" * 32)


def test_a_resumed_run_is_followed_in_its_own_journal_from_where_it_was(tmp_path: Path) -> None:
    # A resumed run continues its journal: its first entry is older than the resume, so
    # "the newest run started since" cannot find it; the caller names it.
    path = tmp_path / "runs" / "r-1" / "journal.jsonl"
    before = Journal(path, "r-1", RUNBOOK)
    before.append("run.started", inputs={"mode": "live"})
    before.append("step.succeeded", step_id="one", summary="done before the crash")
    seen: list[Entry] = []

    def resumed() -> str:
        again = Journal(path, "r-1", RUNBOOK)
        again.append("run.resumed", summary="resumed")
        again.append("step.succeeded", step_id="two", summary="done now")
        return "ended"

    assert run_followed(resumed, tmp_path / "runs", seen.append, path) == "ended"
    assert [(e.event, e.step_id) for e in seen] == [
        ("run.resumed", None),
        ("step.succeeded", "two"),
    ]


def test_a_new_run_is_found_as_the_newest_journal_started_since(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = Journal(runs / "old" / "journal.jsonl", "old", RUNBOOK)
    old.append("run.started")
    seen: list[Entry] = []

    def fresh() -> None:
        new = Journal(runs / "new" / "journal.jsonl", "new", RUNBOOK)
        new.append("run.started")
        new.append("step.started", step_id="one")

    run_followed(fresh, runs, seen.append)
    assert [(e.run_id, e.event) for e in seen] == [("new", "run.started"), ("new", "step.started")]
