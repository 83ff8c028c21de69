"""The run context: everything a running step may use, and nothing Prefect-specific.

Flows build one ``RunContext`` per run and hand it to the engine; checks and actions see it
through the ``StepContext`` protocol of ``lifeboat.registry``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lifeboat.cadence import Cadence
from lifeboat.journal import Event, Journal, RunbookIdentity
from lifeboat.outcome import StepOutcome
from lifeboat.plan import Mode, Plan, scope_for
from lifeboat.redact import Redactor
from lifeboat.registry import StepRegistry
from lifeboat.runbook import LoadedRunbook, Runbook
from lifeboat.runbook.templates import Scope
from lifeboat.settings import Settings

_fallback = logging.getLogger("lifeboat.run")
#: A log record's attribute marking a notice the operator must read on the calm run screen
#: (``lifeboat run`` without ``--verbose`` hides every other line of Prefect's log).
OPERATOR_NOTICE = "lifeboat_operator_notice"


@dataclass
class RunContext:
    run_id: str
    mode: Mode
    loaded: LoadedRunbook
    params: dict[str, Any]
    plan: Plan
    settings: Settings
    registry: StepRegistry
    journal: Journal
    redactor: Redactor
    initiator: str
    reason: str = ""
    incident: str = ""
    detected_at: str = ""
    auto_approver: str | None = None  # set by `lifeboat run --yes`: who approved in advance
    resumed_by: str | None = None  # the new flow run of `lifeboat run --resume`
    logger: Callable[[str], None] = _fallback.info
    #: What the operator must read even on the calm run screen (a lock not released, say).
    warner: Callable[[str], None] = _fallback.warning
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    cadence: Cadence | None = None  # the timer of comms.updates_every, while the run runs
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def runbook(self) -> Runbook:
        return self.loaded.runbook

    def scope(self) -> Scope:
        run = {
            "mode": self.mode,
            "reason": self.reason,
            "incident": self.incident,
            "detected_at": self.detected_at,
            "id": self.run_id,
        }
        return scope_for(self.runbook, self.params, run)

    def log(self, message: str) -> None:
        self.logger(self.redactor.text(message))

    def warn(self, message: str) -> None:
        """Log ``message`` as a notice for the operator: ``lifeboat run`` prints it even
        without ``--verbose``, where Prefect's own lines stay hidden."""
        self.warner(self.redactor.text(message))

    def record(self, outcome: StepOutcome) -> None:
        with self._lock:
            self.outcomes[outcome.step_id] = outcome
        if self.settings.audit_offsite_each_step:
            from lifeboat.audit.offsite import after_step

            after_step(self.journal.path, self.settings, self.log)

    def finish(self, event: Event, outcome: StepOutcome) -> StepOutcome:
        """Journal a step's end and record its outcome from the same fields, both redacted."""
        entry = self.journal.append(
            event,
            step_id=outcome.step_id,
            kind=outcome.kind,
            summary=outcome.summary or None,
            evidence=outcome.evidence,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            actor=outcome.actor,
        )
        final = outcome.model_copy(
            update={
                "summary": entry.summary or "",
                "evidence": entry.evidence,
                "error": entry.error,
                "ended": outcome.ended or entry.ts,
            }
        )
        self.record(final)
        return final


def identity(loaded: LoadedRunbook) -> RunbookIdentity:
    rb = loaded.runbook
    return RunbookIdentity(
        id=rb.id,
        version=rb.version,
        sha256=loaded.sha256,
        git_commit=loaded.git_commit,
        git_dirty=loaded.git_dirty,
    )
