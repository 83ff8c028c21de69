"""Shared by the fault tests (``test_network.py``, ``test_processes.py``): what the journals
hold, and the ledger row (``ledger.py``) each test records before it asserts.

A row's ``steps_executed`` always comes from what the test observed at the services (a
proxy's requests, a file on a site), never from the journal; ``steps_journaled`` and
``journal_verifies`` come from the journal, as ``Ran`` counts them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.journal import Entry, read, verify
from tests.faults.ledger import FaultRow, record

ENDED = ("step.succeeded", "step.failed", "step.retried")
STARTS = ("step.started", "rollback.started")


# --- what the journals hold ------------------------------------------------------------------


def journals(home: Path) -> list[Path]:
    return sorted((home / "runs").glob("*/journal.jsonl"))


def entries(journal: Path) -> list[Entry]:
    """The complete entries written so far (none while the file does not exist yet)."""
    return read(journal) if journal.exists() else []


def events(journal: Path) -> list[tuple[str, str | None]]:
    return [(e.event, e.step_id) for e in entries(journal)]


def started(journal: Path) -> list[str]:
    """Step ids (rollbacks as ``rollback:<id>``) in the order the journal says they started,
    once per start: a step started twice (resumed) is listed twice."""
    return [
        e.step_id if e.event == "step.started" else f"rollback:{e.step_id}"
        for e in entries(journal)
        if e.event in STARTS and e.step_id
    ]


def all_verify(home: Path) -> bool:
    found = journals(home)
    return bool(found) and all(verify(j).ok for j in found)


def journaled(journal: Path) -> set[str]:
    """Steps the journal shows as executed: started and ended (succeeded, failed, retried)."""
    return {e.step_id for e in read(journal) if e.event in ENDED and e.step_id}


def dangling(journal: Path) -> set[str]:
    """Steps journaled as started and never ended: a lost record."""
    began = {e.step_id for e in read(journal) if e.event == "step.started"}
    return {s for s in began if s is not None} - journaled(journal)


# --- the ledger row --------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What a test injects, into what, and what it expects: the row's first columns."""

    fault: str
    target: str
    expected: str


@dataclass(frozen=True)
class Ran:
    """Steps executed (observed at the services) against what the journals hold, and the
    journal checks that go with that count."""

    executed: int
    journaled: int
    verifies: bool
    checks: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def steps(cls, seen: Collection[str], journal: Path) -> Ran:
        """Each step seen at the service, against the steps the journal shows ended; the
        journal must hold each of them, leave none started and never ended, and verify."""
        logged, verifies = journaled(journal), verify(journal).ok
        checks = {
            "journal holds what ran": set(seen) <= logged,
            "nothing dangling": not dangling(journal),
            "journal verifies": verifies,
        }
        return cls(len(seen), len(logged), verifies, checks)

    @classmethod
    def starts(cls, executed: Sized, found: Sequence[Path]) -> Ran:
        """Every side effect seen on a site (a step can run twice), against every start the
        journals ``found`` hold; they verify when there are some and each verifies."""
        count = sum(len(started(j)) for j in found)
        return cls(len(executed), count, bool(found) and all(verify(j).ok for j in found))


def record_fault(
    fault: Fault,
    ran: Ran,
    checks: Mapping[str, bool],
    *,
    seconds: float,
    detail: str,
    context: str = "",
    digits: int = 2,
) -> None:
    """Record the row first (survived: every check held, ``ran``'s too), so that a failing
    test still leaves it; then fail naming each check that did not hold."""
    failed = [name for name, ok in {**checks, **ran.checks}.items() if not ok]
    row = FaultRow(
        fault=fault.fault,
        target=fault.target,
        expected=fault.expected,
        survived=not failed,
        steps_executed=ran.executed,
        steps_journaled=ran.journaled,
        journal_verifies=ran.verifies,
        seconds=round(seconds, digits),
        detail=detail,
    )
    record(row)
    assert not failed, f"{fault.fault}: failed {failed}\n{context}"
