"""Small helpers for testing steps outside the engine (as ``prefect.testing`` does for flows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifeboat.runbook.model import Runbook
from lifeboat.settings import Settings


@dataclass
class RunbookContext:
    """The smallest StepContext that carries a runbook, for checks that read declarations."""

    runbook: Runbook
    mode: str = "drill"
    settings: Settings = field(default_factory=Settings)  # SSH steps read known_hosts here
    lines: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        self.lines.append(message)
