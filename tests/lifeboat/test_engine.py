"""The run lifecycle without Prefect: rollback order, failing compensations, resume of the DAG.

Actions here are real functions on a local registry writing to a list: the engine's
scheduling and rollback logic is pure logic (Prefect runs are in tests/flows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.context import RunContext, identity
from lifeboat.engine import InlineExecutor, execute
from lifeboat.errors import StepError
from lifeboat.journal import Journal, read, verify
from lifeboat.plan import Mode, build_plan
from lifeboat.redact import Redactor
from lifeboat.registry import Params, StepContext, StepOutput, StepRegistry, Undo
from lifeboat.runbook import load
from lifeboat.settings import Settings


class Mark(Params):
    name: str
    fail: bool = False


local = StepRegistry()
done: list[str] = []
lock = threading.Lock()


@local.action("mark.set", reversible=True)
def mark_set(params: Mark, ctx: StepContext) -> StepOutput:
    if params.fail:
        raise StepError(f"cannot set {params.name}", code="data.unset")
    with lock:
        done.append(params.name)
    return StepOutput(summary=f"set {params.name}")


@local.action("mark.recorded", reversible=True)
def mark_recorded(params: Mark, ctx: StepContext) -> StepOutput:
    """A reversible action that decides its own compensation from what it saw."""
    with lock:
        done.append(params.name)
    return StepOutput(summary="set", undo=Undo(action="mark.set", with_={"name": "was-before"}))


def context(path: Path, tmp_path: Path, mode: Mode = "live") -> RunContext:
    loaded = load(path, registry=local)
    plan = build_plan(loaded, {"port": 443, "path": "/"}, local, mode=mode)
    journal = Journal(tmp_path / "journal.jsonl", "run-1", identity(loaded))
    return RunContext(
        run_id="run-1",
        mode=mode,
        loaded=loaded,
        params={"port": 443, "path": "/"},
        plan=plan,
        settings=Settings(home=tmp_path),
        registry=local,
        journal=journal,
        redactor=Redactor(),
        initiator="alice",
    )


STEPS = """\
  - {id: a, action: mark.set, with: {name: a}, rollback: {action: mark.set, with: {name: undo-a}}}
  - {id: b, action: mark.set, with: {name: b}, rollback: {action: mark.set, with: {name: undo-b}}}
  - {id: c, action: mark.set, with: {name: c, fail: true}}
  - {id: d, action: mark.set, with: {name: d}}
"""


@pytest.fixture(autouse=True)
def _clear() -> None:
    done.clear()


def test_live_abort_rolls_back_in_reverse_order(
    with_steps: Callable[[str], Path], tmp_path: Path
) -> None:
    ctx = context(with_steps(STEPS), tmp_path)
    outcome = execute(ctx, InlineExecutor(ctx))
    assert outcome.status == "failed"
    assert done == ["a", "b", "undo-b", "undo-a"]
    assert [r.step_id for r in outcome.rollbacks] == ["rollback:b", "rollback:a"]
    assert [(s.step_id, s.status) for s in outcome.steps] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "failed"),
        ("d", "skipped"),
    ]
    kinds = [e.event for e in read(ctx.journal.path)]
    assert kinds.count("rollback.succeeded") == 2 and kinds[-1] == "run.ended"
    assert verify(ctx.journal.path).ok


def test_drill_abort_does_not_roll_back(with_steps: Callable[[str], Path], tmp_path: Path) -> None:
    ctx = context(with_steps(STEPS), tmp_path, mode="drill")
    outcome = execute(ctx, InlineExecutor(ctx))
    assert done == ["a", "b"] and outcome.rollbacks == []


def test_failing_compensation_does_not_stop_the_others(
    with_steps: Callable[[str], Path], tmp_path: Path
) -> None:
    steps = STEPS.replace("with: {name: undo-b}", "with: {name: undo-b, fail: true}")
    ctx = context(with_steps(steps), tmp_path)
    outcome = execute(ctx, InlineExecutor(ctx))
    assert done == ["a", "b", "undo-a"]
    assert [(r.step_id, r.status) for r in outcome.rollbacks] == [
        ("rollback:b", "failed"),
        ("rollback:a", "succeeded"),
    ]
    ended = read(ctx.journal.path)[-1]
    assert ended.summary == "failed: failed at c; ROLLBACK INCOMPLETE: see rollback.failed entries"


def test_on_failure_rollback_applies_in_drills(
    with_steps: Callable[[str], Path], tmp_path: Path
) -> None:
    steps = STEPS.replace("fail: true}}", "fail: true}, on_failure: rollback}")
    ctx = context(with_steps(steps), tmp_path, mode="drill")
    execute(ctx, InlineExecutor(ctx))
    assert done == ["a", "b", "undo-b", "undo-a"]


def test_a_failed_step_keeps_its_error_code_in_outcome_and_journal(
    with_steps: Callable[[str], Path], tmp_path: Path
) -> None:
    ctx = context(with_steps(STEPS), tmp_path, mode="drill")
    outcome = execute(ctx, InlineExecutor(ctx))
    failed = outcome.failed_step
    assert failed is not None and failed.error_code == "data.unset"
    entry = next(e for e in read(ctx.journal.path) if e.event == "step.failed")
    assert (entry.step_id, entry.error_code) == ("c", "data.unset")


def test_an_undo_recorded_by_the_step_is_its_rollback_and_is_journaled(
    with_steps: Callable[[str], Path], tmp_path: Path
) -> None:
    steps = """\
  - {id: a, action: mark.recorded, with: {name: a}}
  - {id: b, action: mark.set, with: {name: b, fail: true}}
"""
    ctx = context(with_steps(steps), tmp_path)
    outcome = execute(ctx, InlineExecutor(ctx))
    assert done == ["a", "was-before"]
    assert [(r.step_id, r.status) for r in outcome.rollbacks] == [("rollback:a", "succeeded")]
    entry = next(e for e in read(ctx.journal.path) if e.event == "step.succeeded")
    assert entry.undo == {"action": "mark.set", "with": {"name": "was-before"}}
