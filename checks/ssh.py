"""SSH steps: run a command on a runbook host (``ssh.run``), or prove we can reach it.

The transport (host-key verification, argv quoting, timeouts, output limits) lives in
``lifeboat.ssh``; these functions only turn a runbook host name into a target, stream
the command's output to the step log, and judge the exit status against ``expect``.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any

from pydantic import Field

from lifeboat.errors import CheckFailed, StepError
from lifeboat.registry import Params, Ref, StepContext, StepOutput, registry
from lifeboat.ssh import SshError, SshTarget, fingerprint, pool_for

#: Characters of each output stream kept in evidence and error messages.
TAIL_CHARS = 2048


class SshRunParams(Params):
    host: Annotated[str, Ref("hosts")] = Field(description="A host declared in the runbook")
    argv: list[str] = Field(
        min_length=1,
        description="Command and arguments, passed as argv items (never through a shell)",
    )
    expect: list[int] = Field([0], min_length=1, description="Accepted exit statuses")
    timeout: float = Field(60.0, gt=0, le=3600, description="Seconds the command may run")
    sudo: bool = Field(False, description="Run through `sudo -n --` (no password prompt)")


class SshReachableParams(Params):
    host: Annotated[str, Ref("hosts")] = Field(description="A host declared in the runbook")
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds to connect and log in")


def _target(ctx: StepContext, host: str) -> SshTarget:
    runbook: Any = getattr(ctx, "runbook", None)
    if runbook is None or host not in runbook.hosts:
        raise StepError(f"host {host!r} is not declared in the runbook", target=host)
    return SshTarget.from_host(runbook.hosts[host])


def _tail(text: str, limit: int = TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


@registry.action("ssh.run", reversible=False)
def ssh_run(params: SshRunParams, ctx: StepContext) -> StepOutput:
    """Run a command on a host over SSH and require an expected exit status."""
    target = _target(ctx, params.host)
    command = shlex.join(params.argv)

    def log_line(stream: str, line: str) -> None:
        ctx.log(f"{params.host} {stream}: {line}")

    result = pool_for(ctx).run(
        target, params.argv, params.timeout, sudo=params.sudo, on_line=log_line
    )
    shown = f"sudo {command}" if params.sudo else command
    evidence = {
        "host": params.host,
        "argv": params.argv,
        "sudo": params.sudo,
        "exit_status": result.exit_status,
        "duration_ms": result.duration_ms,
        "stdout_tail": _tail(result.stdout),
        "stderr_tail": _tail(result.stderr),
    }
    if result.exit_status not in params.expect:
        stderr = " / ".join(_tail(result.stderr, 300).strip().splitlines()) or "(no stderr)"
        raise StepError(
            f"`{shown}` exited {result.exit_status}, expected "
            f"{' or '.join(map(str, params.expect))}; stderr: {stderr}",
            target=params.host,
            evidence=evidence,
        )
    return StepOutput(
        summary=f"{params.host}: `{shown}` exited {result.exit_status} "
        f"in {result.duration_ms:.0f} ms",
        evidence=evidence,
    )


@registry.check("ssh.reachable")
def ssh_reachable(params: SshReachableParams, ctx: StepContext) -> StepOutput:
    """Connect and log in to a host over SSH (its host key verified); run nothing."""
    target = _target(ctx, params.host)
    pool = pool_for(ctx)
    try:
        endpoint = pool.resolve(target)
        client = pool.client(target, timeout=params.timeout)
    except SshError as exc:
        raise CheckFailed(exc.reason, target=f"{params.host} ({exc.target})") from exc
    transport = client.get_transport()
    assert transport is not None
    key = transport.get_remote_server_key()
    evidence = {
        "host": params.host,
        "endpoint": str(endpoint),
        "via": str(endpoint.jump) if endpoint.jump else None,
        "host_key_type": key.get_name(),
        "host_key_fingerprint": fingerprint(key),
    }
    return StepOutput(
        summary=f"{params.host}: logged in as {endpoint}, host key "
        f"{key.get_name()} {fingerprint(key)} verified",
        evidence=evidence,
    )
