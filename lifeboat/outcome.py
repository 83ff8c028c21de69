"""What happened: one record per step and one per run, the same shape for journal and report.

Like chaostoolkit's activity runs, every outcome carries status, output, start, end and
duration instead of an exception escaping the run; unlike them, these are typed models.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class StepStatus(StrEnum):
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"  # live_only in a drill, or not reached after an abort


class StepOutcome(BaseModel):
    step_id: str
    kind: str
    target: str
    status: StepStatus
    summary: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None  # data.*, access.*, ... (see lifeboat.errors)
    started: datetime | None = None
    ended: datetime | None = None
    duration_ms: float = 0.0
    attempts: int = 0
    tolerated: bool = False  # failed, but on_failure: continue let the run go on
    actor: str | None = None  # who approved, for approval steps
    undo: dict[str, Any] | None = None  # {"action": ..., "with": {...}} the step asked for


class RunStatus(StrEnum):
    succeeded = "succeeded"
    failed = "failed"


class RunOutcome(BaseModel):
    run_id: str
    runbook_id: str
    version: str
    mode: str
    status: RunStatus
    plan_hash: str
    steps: list[StepOutcome]
    rollbacks: list[StepOutcome] = Field(default_factory=list)
    journal: str
    started: datetime
    ended: datetime

    @property
    def failed_step(self) -> StepOutcome | None:
        return next((s for s in self.steps if s.status == "failed" and not s.tolerated), None)
