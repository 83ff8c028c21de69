"""``make faults``'s table: what the fault and bad-input tests measured (``ledger.py``).

``python -m tests.faults.table`` prints one line per injected fault and per family of bad
inputs, then the totals the README quotes; it exits 1 when a fault was not survived, a
record was lost or an input crashed us, and 2 when the ledger is empty (nothing ran).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from tests.faults.ledger import LEDGER, FaultRow, InputRow, rows


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


def input_table(inputs: list[InputRow]) -> Table:
    table = Table(title="Bad inputs")
    for column in ("family", "tried", "rejected cleanly", "accepted (valid)", "crashes"):
        table.add_column(column, overflow="fold")
    for row in inputs:
        crashes = str(row.crashes) if row.crashes == 0 else f"[red]{row.crashes}[/]"
        table.add_row(
            row.family, f"{row.tried:,}", f"{row.rejected_cleanly:,}", f"{row.accepted:,}", crashes
        )
    return table


def totals(faults: list[FaultRow], inputs: list[InputRow]) -> Table:
    table = Table(title="Totals")
    for column in ("", "tried", "survived / rejected cleanly", "records lost / crashes"):
        table.add_column(column)
    table.add_row(
        "faults",
        str(len(faults)),
        str(sum(r.survived for r in faults)),
        str(sum(r.records_lost for r in faults)),
    )
    table.add_row(
        "bad inputs",
        f"{sum(r.tried for r in inputs):,}",
        f"{sum(r.rejected_cleanly for r in inputs):,}",
        str(sum(r.crashes for r in inputs)),
    )
    return table


def main() -> int:
    found = rows()
    if not found:
        print(f"no fault or bad-input results in {LEDGER}: run the tests first", file=sys.stderr)
        return 2
    faults = [r for r in found if isinstance(r, FaultRow)]
    inputs = [r for r in found if isinstance(r, InputRow)]
    console = Console(width=max(Console().width, 160))
    console.print(fault_table(faults), input_table(inputs), totals(faults, inputs))
    bad = any(not r.survived or r.records_lost for r in faults) or any(r.crashes for r in inputs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
