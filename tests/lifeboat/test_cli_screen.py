"""The run screen's words, from journal entries (pure: no Prefect, no process)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from lifeboat.cli_screen import Gate, Screen, approve_commands, channels, skipped
from lifeboat.journal import GENESIS, Entry, RunbookIdentity

RUNBOOK = RunbookIdentity(id="web", version="1.0.0", sha256="aa" * 32)
AT = datetime(2025, 3, 10, 0, 47, 5, tzinfo=UTC)


def receipt(stakeholder: str, status: str, why: str | None = None) -> dict[str, Any]:
    return {"stakeholder": stakeholder, "kind": "json", "status": status, "why": why}


def test_channels_count_sent_skipped_in_drill_and_failed_apart() -> None:
    deliveries = [
        receipt("oncall", "sent"),
        receipt("customers", "skipped", "drill: stakeholder not in drills"),
        receipt("status page", "skipped", "a drill: never on the public page"),
        receipt("pager", "failed", "connection refused"),
    ]
    assert channels(deliveries) == ("channels: 1 sent, 2 skipped in drill, 1 failed (pager: json)")
    assert channels([receipt("oncall", "sent")]) == "channels: 1 sent, 0 skipped in drill, 0 failed"


def test_a_skip_for_another_reason_says_why() -> None:
    text = channels([receipt("status page", "skipped", "no page configured")])
    assert text == (
        "channels: 0 sent, 0 skipped in drill, 0 failed, "
        "1 skipped (status page: no page configured)"
    )


def test_skipped_steps_say_whether_the_drill_skipped_them() -> None:
    assert (
        skipped("drill: would ask for approval") == "in drill (live only): would ask for approval"
    )
    assert skipped("not run: the run stopped at probe") == "not run: the run stopped at probe"


def test_approve_commands_name_the_confirmation_word_and_who_may_approve() -> None:
    assert approve_commands("r-1", Gate()) == (
        "lifeboat approve r-1 --by NAME",
        "lifeboat approve r-1 --reject --by NAME",
    )
    yes, no = approve_commands("r-1", Gate(confirm="web-b", approvers=("alice", "bob")))
    assert yes == "lifeboat approve r-1 --by NAME --confirm web-b   (NAME: one of alice, bob)"
    assert no == "lifeboat approve r-1 --reject --by NAME"


def entry(event: str, **fields: Any) -> Entry:
    return Entry(
        seq=1, ts=AT, run_id="r-1", event=event, runbook=RUNBOOK, prev_sha256=GENESIS, **fields
    )


def screen(**options: Any) -> tuple[Screen, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, emoji=False)
    shown = Screen(
        console,
        ["go", "restore"],
        {"go": Gate(confirm="web-b")},
        lambda run: f"ui/{run}",
        **options,
    )
    return shown, buffer


def test_a_resumed_run_s_gate_is_answered_through_the_flow_run_that_resumed_it() -> None:
    shown, buffer = screen()
    resumed = entry(
        "run.resumed", summary="resumed: 1 steps kept", inputs={"resumed_by_flow_run": "f-2"}
    )
    shown.on_entry(resumed)
    shown.on_entry(entry("approval.asked", step_id="go", inputs={"prompt": "Go [b]now[/b]?"}))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "run r-1 resumed by flow run f-2: 1 steps kept"
    assert lines[1] == "Prefect UI: ui/f-2"
    assert lines[-4] == "00:47:05  go       waiting    for approval: Go [b]now[/b]?"
    assert lines[-3].strip() == "approve: lifeboat approve f-2 --by NAME --confirm web-b"
    assert lines[-2].strip() == "reject:  lifeboat approve f-2 --reject --by NAME"
    assert lines[-1].strip() == "or in the Prefect UI: ui/f-2"


def test_a_gate_approved_in_advance_prints_no_instructions() -> None:
    shown, buffer = screen(answered_in_advance=True)
    shown.on_entry(entry("approval.asked", step_id="go", inputs={"prompt": "Go?"}))
    assert buffer.getvalue() == "00:47:05  go       waiting    for approval: Go?\n"


def test_rollbacks_and_refused_answers_are_said_as_such() -> None:
    shown, buffer = screen()
    shown.on_entry(entry("approval.answered", step_id="go", actor="eve", error="refused: no"))
    shown.on_entry(entry("rollback.succeeded", step_id="restore", summary="moved back"))
    assert buffer.getvalue().splitlines() == [
        "00:47:05  go       refused    by eve: refused: no",
        "00:47:05  restore  rollback   succeeded: moved back",
    ]
