"""Every error Lifeboat raises on purpose, in one place.

Vendor errors (ruamel.yaml, httpx, sockets, later botocore and paramiko) are converted at
the boundary where they happen, ``raise OurError(...) from exc``, so callers catch ours only.

    LifeboatError                 base: anything Lifeboat reports as a one-line ``Error: ...``
    ├── RunbookInvalid            a runbook file failed validation; carries every Diagnostic
    ├── ParameterError            a ``-p key=value`` that is unknown, missing or of the wrong type
    ├── RegistryError             a step name registered twice, or a malformed step function
    └── StepError                 a step ran and did not succeed (what, where, why)
        ├── CheckFailed           a read-only check found the system not as required
        └── StepTimeout           a step ran out of its time budget

The CLI maps ``RunbookInvalid`` and ``ParameterError`` to exit code 2 and ``StepError`` to 1.
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

    def __init__(self, message: str, *, target: str = "", evidence: Any = None) -> None:
        self.target = target
        self.evidence = evidence
        super().__init__(f"{target}: {message}" if target else message)


class CheckFailed(StepError):
    """A read-only check ran and found the system not as the runbook requires."""


class StepTimeout(StepError):
    """A step did not finish within its timeout."""
