"""The history of runs, read from their journals: list, show, export, drill statistics.

The one import for callers (``cli_history``, ``flows.history``, tests): it re-exports the
public names of the modules that hold the code, one per question asked of the journals:

- ``run_records``: streaming journals, ``RunRecord`` and ``Filters``; finding and listing
  runs (``audit list``), and the primitives the other views read journals with.
- ``timeline``: one run's entries as a timeline (``audit show``).
- ``step_export``: one row per step of every run, for CSV/JSON (``audit export``).
- ``drill_stats``: per runbook drill counts, RTO trend and certification (``audit drills``).

Journals are the source of truth; integrity is ``audit verify``'s job (``integrity``).
"""

from __future__ import annotations

from lifeboat.audit.drill_stats import RunbookDrills, current_identity, drills, trend_of
from lifeboat.audit.run_records import (
    JOURNAL,
    Filters,
    RunRecord,
    Status,
    find_run,
    journals,
    runs,
    scan_run,
    since_cutoff,
)
from lifeboat.audit.step_export import (
    EXPORT_COLUMNS,
    ROLLBACK_ENDS,
    STARTS,
    STEP_ENDS,
    StepRow,
    export_rows,
    row_values,
    step_rows,
)
from lifeboat.audit.timeline import TimelineEvent, timeline

__all__ = [
    "EXPORT_COLUMNS",
    "JOURNAL",
    "ROLLBACK_ENDS",
    "STARTS",
    "STEP_ENDS",
    "Filters",
    "RunRecord",
    "RunbookDrills",
    "Status",
    "StepRow",
    "TimelineEvent",
    "current_identity",
    "drills",
    "export_rows",
    "find_run",
    "journals",
    "row_values",
    "runs",
    "scan_run",
    "since_cutoff",
    "step_rows",
    "timeline",
    "trend_of",
]
