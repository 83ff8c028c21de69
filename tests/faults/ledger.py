"""What each fault and bad-input test measured, for ``make faults``'s table.

Every test under ``tests/faults/`` that injects a fault or feeds bad input records one row
here *from what it observed*, never from what it expected: ``survived`` is the assertion
outcome the test computed (clear failure within the timeout, retry, or resume), and
``records_lost`` compares the steps that really executed (seen at the service: a file on a
site, a request at the receiver, an object in S3) with the steps the journal holds. The
rows go to ``test-output/faults/ledger.jsonl`` (one JSON object per line, appended; ``make
faults`` empties it first) and ``python -m tests.faults.table`` prints the table from them.

A test records its row *before* asserting, so a failing test still leaves a row that shows
the failure (``survived: false``) in the table instead of a silently missing line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

ROOT = Path(__file__).resolve().parents[2]
LEDGER = Path(
    os.environ.get("LIFEBOAT_FAULTS_LEDGER", ROOT / "test-output" / "faults" / "ledger.jsonl")
)


class FaultRow(BaseModel):
    """One injected fault: what was done, what we expected, what happened."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["fault"] = "fault"
    fault: str  # e.g. "S3 connection reset mid-listing"
    target: str  # "s3", "sshd", "prefect", "orchestrator", "lock"
    expected: str  # "clear failure within 10 s", "retried and succeeded", "resumed"
    survived: bool
    steps_executed: int  # observed at the services, not read from the journal
    steps_journaled: int
    journal_verifies: bool
    seconds: float
    detail: str = ""

    @property
    def records_lost(self) -> int:
        return max(0, self.steps_executed - self.steps_journaled) + (
            0 if self.journal_verifies else 1
        )


#: The family of ``test_bad_input.py``'s fuzzing row: the table counts its mutants apart.
FUZZED = "fuzzed runbooks (hypothesis, derandomized)"


class InputRow(BaseModel):
    """One family of bad inputs: how many were tried, and of them how many were refused with
    a diagnostic, valid and accepted, or crashed us (the three add up to ``tried``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["input"] = "input"
    family: str  # e.g. FUZZED, "YAML alias bombs"
    tried: int
    rejected_cleanly: int  # refused: a file:line:col diagnostic / a clear Error: line, exit 2
    # Valid, and accepted: a mutant that happens to be a valid runbook, a hostile-looking
    # value that is a valid parameter (then proven to arrive literally). Not a bad input
    # handled: counted apart from ``rejected_cleanly``, never added to it.
    accepted: int
    crashes: int  # a traceback, a hang past the limit, or an exception that is not ours
    detail: str = ""


def record(row: FaultRow | InputRow) -> None:
    """Append one row to the ledger (process-safe enough: one short write per row)."""
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    with LEDGER.open("a", encoding="utf-8") as sink:
        sink.write(row.model_dump_json() + "\n")


def rows() -> list[FaultRow | InputRow]:
    """Every row recorded so far, in order."""
    if not LEDGER.exists():
        return []
    found: list[FaultRow | InputRow] = []
    for line in LEDGER.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        found.append(FaultRow(**data) if data["kind"] == "fault" else InputRow(**data))
    return found
