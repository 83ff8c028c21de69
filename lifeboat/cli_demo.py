"""``lifeboat demo``: the end-to-end story on the embedded sandbox (``lifeboat.demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lifeboat.console import EXIT_FAILED, EXIT_INVALID, fail, out


def demo(
    runbooks: Annotated[
        Path | None,
        typer.Option(help="Folder of the shipped runbooks (default: ./runbooks, else the repo's)."),
    ] = None,
) -> None:
    """Lose a datacenter and recover, end to end, on the sandbox: backups verified, the
    Strasbourg trap flagged, failover live, customers told, review written (about 30 s).
    The sandbox stays up afterwards; `lifeboat sandbox down` stops it."""
    from lifeboat.demo.story import DemoError, run_demo, runbooks_folder
    from lifeboat.demo.summary import summary
    from lifeboat.errors import LifeboatError
    from lifeboat.sandbox import SandboxError
    from lifeboat.settings import Settings

    try:
        folder = runbooks_folder(runbooks)
    except DemoError as exc:
        fail(str(exc), EXIT_INVALID)
    try:
        story = run_demo(out, Settings(), folder)
        out.print(summary(story))
    except (DemoError, SandboxError, LifeboatError) as exc:
        fail(
            f"the demo stopped: {exc} (the sandbox is still up: lifeboat sandbox down)", EXIT_FAILED
        )
