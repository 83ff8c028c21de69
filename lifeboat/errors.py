"""Every error Lifeboat raises on purpose, in one place.

Vendor errors (ruamel.yaml, httpx, sockets, later botocore and paramiko) are converted at
the boundary where they happen, ``raise OurError(...) from exc``, so callers catch ours only.

    LifeboatError                 base: anything Lifeboat reports as a one-line ``Error: ...``
    ├── RunbookInvalid            a runbook file failed validation; carries every Diagnostic
    ├── ParameterError            a ``-p key=value`` that is unknown, missing or of the wrong type
    ├── RegistryError             a step name registered twice, or a malformed step function
    └── StepError                 a step ran and did not succeed (what, where, why)
        ├── CheckFailed           a read-only check found the system not as required
        ├── AccessError           could not reach or read what the step works on: no verdict
        ├── StepTimeout           a step ran out of its time budget
        └── LockHeld              a live run of the same system holds its lock: not started

The CLI maps ``RunbookInvalid`` and ``ParameterError`` to exit code 2 and ``StepError`` to 1.

Every ``StepError`` carries a ``code`` the journal and the report keep beside the message.
Codes are dotted: the first part says whose problem it is, so a drill's reader (and an
alert rule) can tell "the backup is bad" from "we could not look at it":

    data.*     the system is not as required: data.missing, data.corrupted, data.stale,
               data.too_close, data.drift, data.unprotected, data.restore_failed
    access.*   we could not look: access.denied, access.no_bucket, access.unreachable,
               access.no_credentials, access.no_zone, access.no_region (the store does
               not say where a bucket is), access.ssh, access.no_secret, access.failed
    lock.held  another live run of the system holds its lock: this run did not start
    check.failed, step.failed, step.timeout    anything else
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class LifeboatError(Exception):
    """Base class of every error Lifeboat reports to its users."""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a runbook file, at a 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: error: {self.message}"


class RunbookInvalid(LifeboatError):
    """A runbook did not validate. ``diagnostics`` holds every problem found, in file order."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(set(diagnostics))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ParameterError(LifeboatError):
    """A run parameter is unknown, missing, or does not fit its declared type."""


class RegistryError(LifeboatError):
    """A step function could not be registered (duplicate name, missing parameter model)."""


class StepError(LifeboatError):
    """A step did not succeed. ``target`` says where (URL, host:port, bucket)."""

    code = "step.failed"

    def __init__(
        self, message: str, *, target: str = "", evidence: Any = None, code: str | None = None
    ) -> None:
        self.target = target
        self.evidence = evidence
        self.code = code or type(self).code
        super().__init__(f"{target}: {message}" if target else message)


class CheckFailed(StepError):
    """A read-only check ran and found the system not as the runbook requires."""

    code = "check.failed"


class AccessError(StepError):
    """What a step works on could not be reached or read (credentials, endpoint, absence).

    Says nothing about the data itself: a drill that cannot list a bucket has not found
    the backup missing, it has not looked. Kept apart so nobody restores "around" a
    backup that is fine, or shrugs off one that is gone.
    """

    code = "access.failed"


class StepTimeout(StepError):
    """A step did not finish within its timeout."""

    code = "step.timeout"


class LockHeld(StepError):
    """Another live run of the same system (the runbook's ``lock``) holds the lock.

    Raised before any step: the run did nothing. The message names the holding run.
    """

    code = "lock.held"
