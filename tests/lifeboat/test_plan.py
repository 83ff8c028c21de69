"""The plan: execution order, drill versus live, rollbacks, and a hash that pins it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.plan import build_plan, describe, execution_order
from lifeboat.registry import Params, StepContext, StepOutput, StepRegistry
from lifeboat.runbook import LoadedRunbook, load


class ServiceParams(Params):
    host: str
    name: str


local = StepRegistry()


@local.action("service.restart", reversible=True)
def restart(params: ServiceParams, ctx: StepContext) -> StepOutput:
    return StepOutput(summary="restarted")


@local.check("service.running")
def running(params: ServiceParams, ctx: StepContext) -> StepOutput:
    return StepOutput(summary="running")


STEPS = """\
  - {id: check-a, check: service.running, with: {host: web-a, name: nginx}}
  - {id: check-b, needs: [], check: service.running, with: {host: web-b, name: nginx}}
  - id: go
    needs: [check-a, check-b]
    approval: {prompt: "Restart on ${{ hosts.web-b.address }} (${{ run.mode }})?"}
  - id: restart
    action: service.restart
    with: {host: web-b, name: "${{ params.path }}"}
    live_only: true
    rollback: {action: service.restart, with: {host: web-a, name: nginx}}
  - {id: tell, notify: incident.update, to: [oncall]}
"""


@pytest.fixture
def loaded(with_steps: Callable[[str], Path]) -> LoadedRunbook:
    return load(with_steps(STEPS), registry=local)


def test_order_follows_needs_then_file_order(loaded: LoadedRunbook) -> None:
    assert execution_order(loaded.runbook) == ["check-a", "check-b", "go", "restart", "tell"]


def test_drill_skips_live_only_and_says_what_it_would_do(loaded: LoadedRunbook) -> None:
    plan = build_plan(loaded, {"port": 443, "path": "nginx"}, local, mode="drill")
    restart_step = next(s for s in plan.steps if s.id == "restart")
    assert restart_step.drill == "skipped (live only): would run service.restart"
    assert restart_step.live == "runs"
    assert restart_step.rollback == "service.restart host=web-a name=nginx"
    assert restart_step.mutating and restart_step.reversible
    assert describe(restart_step) == "service.restart host=web-b name=nginx"


def test_templates_are_rendered_for_the_mode(loaded: LoadedRunbook) -> None:
    plan = build_plan(loaded, {"port": 443, "path": "nginx"}, local, mode="live")
    go = next(s for s in plan.steps if s.id == "go")
    assert describe(go) == "Restart on 198.51.100.7 (live)?"
    assert go.needs == ["check-a", "check-b"]


def test_plan_hash_pins_parameters(loaded: LoadedRunbook) -> None:
    one = build_plan(loaded, {"port": 443, "path": "nginx"}, local)
    same = build_plan(loaded, {"port": 443, "path": "nginx"}, local)
    other = build_plan(loaded, {"port": 443, "path": "apache2"}, local)
    assert one.hash == same.hash
    assert one.hash != other.hash
    assert len(one.hash) == 64


def test_live_only_notification_is_skipped_in_drills(with_steps: Callable[[str], Path]) -> None:
    path = with_steps(
        "  - {id: tell, notify: incident.opened, to: [oncall], live_only: true}\n"
        "  - {id: go, approval: {prompt: Go?}, live_only: true}\n"
    )
    plan = build_plan(load(path, registry=local), {"port": 443, "path": "x"}, local)
    assert [s.drill for s in plan.steps] == [
        "skipped (live only): would send to oncall",
        "skipped (live only): would ask for approval",
    ]
    assert [s.live for s in plan.steps] == ["sends to oncall", "asks for approval"]


def test_drills_notify_only_stakeholders_in_drills(with_steps: Callable[[str], Path]) -> None:
    path = with_steps("  - {id: tell, notify: incident.opened, to: [oncall]}\n")
    text = path.read_text()
    plan = build_plan(load(path, registry=local), {"port": 443, "path": "x"}, local)
    assert plan.steps[0].drill == "sends nothing; not to oncall"
    path.write_text(text.replace("oncall: {channels:", "oncall: {in_drills: true, channels:"))
    plan = build_plan(load(path, registry=local), {"port": 443, "path": "x"}, local)
    assert plan.steps[0].drill == "sends [DRILL] to oncall"


def test_describe_never_cuts_what_will_run(loaded: LoadedRunbook) -> None:
    # The approver reads this (plan, run summary, the gate's description): a cut command
    # ("verify=['gzip', '…") hides what they approve.
    name = "nginx-" + "-".join(f"part{n}" for n in range(60))
    plan = build_plan(loaded, {"port": 443, "path": name}, local, mode="live")
    restart_step = next(s for s in plan.steps if s.id == "restart")
    assert describe(restart_step) == f"service.restart host=web-b name={name}"
    assert "…" not in describe(restart_step)
