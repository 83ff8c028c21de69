"""``make faults``'s table: what the fault and bad-input tests measured (``ledger.py``).

``python -m tests.faults.table`` prints one line per injected fault and per family of bad
inputs, then the totals the README quotes; it exits 1 when a fault was not survived, a
record was lost, an input crashed us or a row's inputs do not add up (each is refused with a
diagnostic, valid and accepted, or a crash), and 2 when the ledger is empty (nothing ran).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from tests.faults.ledger import FUZZED, LEDGER, FaultRow, InputRow, rows


def fault_table(faults: list[FaultRow]) -> Table:
    table = Table(title="Faults injected")
    for column in ("target", "fault", "expected", "survived", "executed", "journaled", "lost", "s"):
        table.add_column(column, overflow="fold")
    for row in faults:
        table.add_row(
            row.target,
            row.fault,
            row.expected,
            "yes" if row.survived else "[red]NO[/]",
            str(row.steps_executed),
            str(row.steps_journaled),
            str(row.records_lost) if row.records_lost == 0 else f"[red]{row.records_lost}[/]",
            f"{row.seconds:.1f}",
        )
    return table


def split(inputs: list[InputRow], what: str) -> str:
    """``"10,170 inputs: 9,413 refused with a diagnostic, 757 valid and accepted, 0 crashes"``:
    the valid inputs (fuzzing makes some by chance) counted apart from the bad ones refused,
    never in the same figure."""
    total = _total(inputs)
    crashes = f"{total.crashes:,} crash{'' if total.crashes == 1 else 'es'}"
    return (
        f"{total.tried:,} {what}: {total.rejected_cleanly:,} refused with a diagnostic, "
        f"{total.accepted:,} valid and accepted, {crashes}"
    )


def unaccounted(row: InputRow) -> int:
    """Inputs of a row counted in none of refused, accepted or crashed (0 when honest)."""
    return row.tried - row.rejected_cleanly - row.accepted - row.crashes


def input_table(inputs: list[InputRow]) -> Table:
    table = Table(title="Bad inputs")
    for column in ("family", "tried", "refused with a diagnostic", "valid and accepted"):
        table.add_column(column, overflow="fold")
    table.add_column("crashes")
    for row in [*inputs, _total(inputs)]:
        crashes = str(row.crashes) if row.crashes == 0 else f"[red]{row.crashes}[/]"
        tried = f"{row.tried:,}"
        if unaccounted(row):
            tried = f"[red]{tried} ({unaccounted(row):,} unaccounted)[/]"
        table.add_row(
            row.family, tried, f"{row.rejected_cleanly:,}", f"{row.accepted:,}", crashes
        )
    return table


def _total(inputs: list[InputRow]) -> InputRow:
    return InputRow(
        family="total",
        tried=sum(r.tried for r in inputs),
        rejected_cleanly=sum(r.rejected_cleanly for r in inputs),
        accepted=sum(r.accepted for r in inputs),
        crashes=sum(r.crashes for r in inputs),
    )


def totals(faults: list[FaultRow], inputs: list[InputRow]) -> list[str]:
    """The lines the README quotes: faults, then inputs (fuzzed mutants on a line of their
    own: most of the inputs, and the family that produces valid ones by chance)."""
    lines = [
        f"{len(faults)} faults injected: {sum(r.survived for r in faults)} survived, "
        f"{sum(r.records_lost for r in faults)} records lost.",
        f"{split(inputs, 'inputs')}.",
    ]
    fuzzed = [r for r in inputs if r.family == FUZZED]
    if fuzzed:
        lines.append(f"{split(fuzzed, 'of them fuzzed mutants')}.")
    return lines


def main() -> int:
    found = rows()
    if not found:
        print(f"no fault or bad-input results in {LEDGER}: run the tests first", file=sys.stderr)
        return 2
    faults = [r for r in found if isinstance(r, FaultRow)]
    inputs = [r for r in found if isinstance(r, InputRow)]
    console = Console(width=max(Console().width, 160))
    console.print(fault_table(faults), input_table(inputs))
    for line in totals(faults, inputs):
        console.print(line, highlight=False)
    bad = any(not r.survived or r.records_lost for r in faults) or any(
        r.crashes or unaccounted(r) for r in inputs
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
