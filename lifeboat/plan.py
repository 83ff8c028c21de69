"""The plan: a runbook resolved against its parameters, in execution order, changing nothing.

``lifeboat plan`` prints it; the engine executes it; an approval gate shows its hash so
an approver can tell that what they approve is what will run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel

from lifeboat.registry import StepRegistry
from lifeboat.runbook import templates
from lifeboat.runbook.loader import LoadedRunbook
from lifeboat.runbook.model import ActionStep, ApprovalStep, CheckStep, NotifyStep, Runbook
from lifeboat.runbook.semantics import dependency_graph

Mode = Literal["drill", "live"]
AnyStep = CheckStep | ActionStep | NotifyStep | ApprovalStep


class PlannedStep(BaseModel):
    id: str
    title: str
    kind: str
    target: str  # the registered name, notify stage or approval
    inputs: dict[str, Any]  # rendered with the run's parameters
    needs: list[str]
    live_only: bool
    drill: str  # what happens to this step in a drill
    live: str  # ... and in a live run
    rollback: str | None
    mutating: bool
    reversible: bool


class Plan(BaseModel):
    runbook_id: str
    version: str
    sha256: str
    params: dict[str, Any]
    steps: list[PlannedStep]

    @property
    def hash(self) -> str:
        """SHA-256 of the plan's canonical JSON: same runbook bytes and parameters, same hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def scope_for(runbook: Runbook, params: dict[str, Any], run: dict[str, Any]) -> templates.Scope:
    return templates.Scope(
        params=params,
        hosts={n: h.model_dump() for n, h in runbook.hosts.items()},
        sites={n: s.model_dump() for n, s in runbook.sites.items()},
        run=run,
    )


def execution_order(runbook: Runbook) -> list[str]:
    """Step ids in a valid execution order; ties keep file order (Kahn's algorithm)."""
    graph = dependency_graph([s.model_dump(by_alias=True) for s in runbook.steps])
    done: list[str] = []
    pending = list(graph)
    while pending:
        ready = next(s for s in pending if all(n in done for n in graph[s]))
        done.append(ready)
        pending.remove(ready)
    return done


def build_plan(
    loaded: LoadedRunbook, params: dict[str, Any], registry: StepRegistry, mode: Mode = "drill"
) -> Plan:
    runbook = loaded.runbook
    # The run's reason, incident and time are only known when it starts.
    run = {"mode": mode, **{f: f"<run.{f}>" for f in ("reason", "incident", "detected_at", "id")}}
    scope = scope_for(runbook, params, run)
    graph = dependency_graph([s.model_dump(by_alias=True) for s in runbook.steps])
    steps = [
        _planned(runbook.step(step_id), graph[step_id], scope, registry, runbook)
        for step_id in execution_order(runbook)
    ]
    return Plan(
        runbook_id=runbook.id,
        version=runbook.version,
        sha256=loaded.sha256,
        params=params,
        steps=steps,
    )


def _planned(
    step: AnyStep,
    needs: list[str],
    scope: templates.Scope,
    registry: StepRegistry,
    runbook: Runbook,
) -> PlannedStep:
    title = templates.render(step.title, scope) if step.title else step.id
    common = {"id": step.id, "title": title, "needs": needs, "live_only": step.live_only}
    if isinstance(step, ApprovalStep):
        prompt = templates.render(step.approval.prompt, scope)
        return PlannedStep(
            **common,
            kind="approval",
            target="approval",
            inputs={"prompt": prompt},
            drill="skipped (live only): would ask for approval"
            if step.live_only
            else "asks for approval",
            live="asks for approval",
            rollback=None,
            mutating=False,
            reversible=True,
        )
    if isinstance(step, NotifyStep):
        return PlannedStep(
            **common,
            kind="notify",
            target=step.notify.value,
            inputs={"to": step.to},
            drill=_notify_in_drill(step, runbook),
            live=f"sends to {', '.join(step.to)}",
            rollback=None,
            mutating=False,
            reversible=True,
        )
    name = step.check if isinstance(step, CheckStep) else step.action
    spec = registry.get(name)
    inputs = templates.render(step.with_, scope)
    live = "runs"
    drill = f"skipped (live only): would run {name}" if step.live_only else "runs"
    rollback = None
    if isinstance(step, ActionStep) and step.rollback is not None:
        undo = templates.render(step.rollback.with_, scope)
        rollback = f"{step.rollback.action} {_brief(undo)}".strip()
    elif isinstance(step, ActionStep) and spec is not None and spec.reversible:
        rollback = "the undo the action records when it runs"
    return PlannedStep(
        **common,
        kind=step.__class__.__name__.removesuffix("Step").lower(),
        target=name,
        inputs=inputs,
        drill=drill,
        live=live,
        rollback=rollback,
        mutating=bool(spec and spec.mutating),
        reversible=bool(spec is None or spec.reversible),
    )


def _notify_in_drill(step: NotifyStep, runbook: Runbook) -> str:
    """Drills page only stakeholders who asked for drill messages (``in_drills``)."""
    if step.live_only:
        return f"skipped (live only): would send to {', '.join(step.to)}"
    told = [n for n in step.to if runbook.stakeholders[n].in_drills]
    spared = [n for n in step.to if n not in told]
    said = f"sends [DRILL] to {', '.join(told)}" if told else "sends nothing"
    return said + (f"; not to {', '.join(spared)}" if spared else "")


def _brief(inputs: dict[str, Any]) -> str:
    """Every input, whole: an approver must see the full command they approve (a cut
    ``verify=['gzip', '…`` hides what runs), in the plan, the run's summary and the gate."""
    return " ".join(f"{k}={v}" for k, v in inputs.items())


def describe(step: PlannedStep) -> str:
    """One line saying what the step does, for tables and approval prompts."""
    if step.kind == "approval":
        return str(step.inputs["prompt"])
    if step.kind == "notify":
        return f"{step.target} to {', '.join(step.inputs['to'])}"
    return f"{step.target} {_brief(step.inputs)}".strip()
