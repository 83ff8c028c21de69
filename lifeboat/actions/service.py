"""``service.start|stop|restart``: a systemd unit on a runbook host, over SSH.

Each action reads the unit's state first (``systemctl is-active``), does nothing when the
unit is already as asked (a resumed or repeated run must not flap a service), checks the
state afterwards, and records the opposite action as its undo: a failover that stopped the
primary's web app and then failed starts it again on rollback.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lifeboat.changes import Change, recorded
from lifeboat.errors import StepError
from lifeboat.registry import Params, Ref, StepContext, StepOutput, Undo, registry
from lifeboat.remote import Remote

Verb = Literal["start", "stop", "restart"]


class ServiceParams(Params):
    host: Annotated[str, Ref("hosts")] = Field(description="A host declared in the runbook")
    unit: str = Field(
        pattern=r"^[A-Za-z0-9@_][A-Za-z0-9@._:-]*$",
        description="The systemd unit, e.g. webapp or nginx (never starting with -)",
    )
    sudo: bool = Field(False, description="Run systemctl through `sudo -n --`")
    timeout: float = Field(120.0, gt=0, le=3600, description="Seconds the command may take")


def _active(remote: Remote, params: ServiceParams) -> bool:
    argv = ["systemctl", "is-active", "--quiet", params.unit]
    result = remote.pool.run(remote.target, argv, params.timeout, sudo=params.sudo)
    return result.exit_status == 0


def _act(params: ServiceParams, ctx: StepContext, verb: Verb) -> StepOutput:
    remote = Remote.of(ctx, params.host)
    before = _active(remote, params)
    wanted = verb != "stop"
    evidence = {"host": params.host, "unit": params.unit, "verb": verb, "was_active": before}
    if verb != "restart" and before == wanted:
        state = "active" if before else "inactive"
        unchanged = Change(what=f"{params.host}: {params.unit}", before=state, after=state)
        return StepOutput(
            summary=f"{params.host}: {params.unit} already {state}, nothing to do",
            evidence=evidence | {"is_active": before} | recorded(unchanged),
        )
    argv = ["systemctl", verb, params.unit]
    result = remote.pool.run(remote.target, argv, params.timeout, sudo=params.sudo)
    after = _active(remote, params)
    evidence |= {"exit_status": result.exit_status, "is_active": after}
    state = "active" if after else "inactive"
    change = Change(
        what=f"{params.host}: {params.unit}",
        before="active" if before else "inactive",
        after=state + (" (restarted)" if verb == "restart" and after else ""),
    )
    evidence |= recorded(change)
    if result.exit_status != 0 or after != wanted:
        stderr = " / ".join(result.stderr.strip().splitlines()[-3:]) or "(no stderr)"
        raise StepError(
            f"`systemctl {verb} {params.unit}` exited {result.exit_status}, unit is {state}; "
            f"stderr: {stderr}",
            target=params.host,
            evidence=evidence,
        )
    undo = None
    if before != after:  # back to how we found it
        back = "service.start" if before else "service.stop"
        undo = Undo(action=back, with_=params.model_dump())
    return StepOutput(
        summary=f"{params.host}: systemctl {verb} {params.unit}: now {state}",
        evidence=evidence,
        undo=undo,
    )


@registry.action("service.start", reversible=True)
def start(params: ServiceParams, ctx: StepContext) -> StepOutput:
    """Start a systemd unit on a host (no-op when active); undo: stop it again."""
    return _act(params, ctx, "start")


@registry.action("service.stop", reversible=True)
def stop(params: ServiceParams, ctx: StepContext) -> StepOutput:
    """Stop a systemd unit on a host (no-op when inactive); undo: start it again."""
    return _act(params, ctx, "stop")


@registry.action("service.restart", reversible=True)
def restart(params: ServiceParams, ctx: StepContext) -> StepOutput:
    """Restart a systemd unit and require it active; undo: stop it if it was not running."""
    return _act(params, ctx, "restart")
