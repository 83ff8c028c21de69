"""``lifeboat sandbox up|down|status|seed``: the real local services, kept running between commands.

``up`` starts a detached keeper process (``lifeboat.sandbox.keeper``) that owns every
service until ``down`` signals it; ``up --prefect`` adds the local Prefect server and its
UI. State lives in ``LIFEBOAT_HOME/sandbox/sandbox.json``; ``up`` prints the environment
to export.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Annotated

import typer

from lifeboat.console import EXIT_FAILED, EXIT_INVALID, err, fail, out
from lifeboat.sandbox import SandboxError, keeper, read_state, status
from lifeboat.sandbox.state import state_path
from lifeboat.settings import Settings


def sandbox_dir(settings: Settings) -> Path:
    return settings.home / "sandbox"


def up(directory: Path, *, prefect: bool = False) -> None:
    if state_path(directory).exists() and not keeper.healthy(directory, prefect=prefect):
        err.print(
            f"the sandbox in {directory} is not healthy: stopping what is left of it and "
            "starting afresh, its data gone",
            markup=False,
        )
    keeper.start(directory, prefect=prefect)
    err.print(f"sandbox up in {directory}; to use it:", markup=False)
    exports(directory)


def exports(directory: Path) -> None:
    """The running sandbox's variables as ``export`` lines for ``eval "$(...)"``, its
    Prefect server's API included; nothing is started or restarted (a site the demo
    burned stays burned)."""
    state = read_state(directory)
    variables = dict(state.env)
    ui = next((s.url for s in state.services if s.name == keeper.PREFECT), None)
    if ui is not None:
        variables["PREFECT_API_URL"] = f"{ui}/api"
    for name, value in variables.items():
        out.print(f"export {name}={shlex.quote(value)}", markup=False)  # for eval "$(...)"


def down(directory: Path) -> None:
    """Stop every process of the sandbox and wait for them; exit 1 naming any survivor."""
    stopped = keeper.stop(directory)
    if not stopped.found:
        out.print("no sandbox is running")
        return
    for process in stopped.leftovers:
        out.print(f"stopped what was left running: {process}", markup=False)
    if stopped.survivors:
        fail("still running after down: " + "; ".join(map(str, stopped.survivors)))
    out.print("sandbox stopped")


def show(directory: Path) -> None:
    if not state_path(directory).exists():
        err.print("no sandbox is running")
        raise typer.Exit(EXIT_FAILED)
    state = read_state(directory)
    for record in state.services:
        out.print(
            f"{record.name:12} {status(directory)[record.name]:12} {record.url}", markup=False
        )


def seed_runbooks(directory: Path, paths: list[Path]) -> None:
    """Build the world the runbooks describe on the running sandbox (see sandbox.seed)."""
    from lifeboat.console import load_or_exit
    from lifeboat.runbook import load
    from lifeboat.runbook.loader import discover
    from lifeboat.sandbox.seed import seed

    state = read_state(directory)
    paths = paths or [Path("runbooks")]
    files = list(discover(paths))
    if not files:
        fail(f"no runbook found in {', '.join(map(str, paths))}", EXIT_INVALID)
    runbooks = [load_or_exit(functools.partial(load, file)).runbook for file in files]
    seeded = seed(
        runbooks,
        s3_url=state.env["AWS_ENDPOINT_URL"],
        ssh_config=Path(state.env["LIFEBOAT_SSH_CONFIG"]),
    )
    out.print(
        f"seeded {len(files)} runbooks: {len(seeded.buckets)} buckets created, "
        f"{seeded.objects} objects written, {len(seeded.aliases)} hosts mapped to sandbox sites",
        markup=False,
    )
    for address, site in sorted(seeded.aliases.items()):
        out.print(f"  {address} -> {site}", markup=False)


def sandbox_command(
    action: Annotated[str, typer.Argument(help="up, down, status, env or seed")],
    runbooks: Annotated[
        list[Path] | None, typer.Argument(help="seed: runbook files or folders (./runbooks)")
    ] = None,
    prefect: Annotated[
        bool,
        typer.Option(
            "--prefect",
            help="up: also start the local Prefect server (UI included); down stops it too.",
        ),
    ] = False,
) -> None:
    """Start, stop, show or seed the local sandbox: S3 (two regions), sshd sites, SMTP, webhooks;
    ``env`` prints the running one's variables (``eval "$(lifeboat sandbox env)"``).

    ``seed`` builds what the runbooks declare: backup buckets with nightly dumps in their
    regions, and SSH aliases from each host's address to a sandbox sshd site.
    """
    directory = sandbox_dir(Settings())
    actions = {"up": up, "down": down, "status": show, "env": exports}
    if action not in (*actions, "seed"):
        fail(f"unknown action {action!r}: use up, down, status, env or seed", EXIT_INVALID)
    if runbooks and action != "seed":
        fail(f"{action} takes no runbook arguments", EXIT_INVALID)
    if prefect and action != "up":
        fail("--prefect goes with up", EXIT_INVALID)
    try:
        if action == "seed":
            seed_runbooks(directory, runbooks or [])
        elif action == "up":
            up(directory, prefect=prefect)
        else:
            actions[action](directory)
    except SandboxError as exc:
        fail(str(exc))
