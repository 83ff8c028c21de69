"""Follow a run's journal while the run is in progress: the same record auditors read.

``lifeboat run`` and ``lifeboat demo`` show progress by reading the journal the engine
writes, rather than by hooking the engine: what the operator sees is exactly what was
recorded, and a step missing from the screen would be missing from the record too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from lifeboat.audit.run_records import first_entry, parse_ts
from lifeboat.journal import Entry, read

POLL_S = 0.2
MTIME_SLACK_S = 1.0
T = TypeVar("T")


def newest_journal(runs: Path, since: float) -> Path | None:
    """The journal of the newest run that started after ``since`` (its first entry's time).

    Not the newest file: a run that ended a moment before may still be writing its review
    and off-site copies beside its journal.
    """
    if not runs.exists():
        return None
    started = {}
    for path in runs.glob("*/journal.jsonl"):
        # Only a shortcut past old journals: file times tick coarser than time.time(), so a
        # journal written just after ``since`` may carry an mtime a few ms before it.
        if path.stat().st_mtime >= since - MTIME_SLACK_S:
            first = _first_time(path)
            if first is not None and first >= since:
                started[path] = first
    return max(started, key=started.__getitem__, default=None)


def _first_time(journal: Path) -> float | None:
    """When the run journaled at ``journal`` started; None while its first line is partial."""
    first = first_entry(journal)
    return parse_ts(first["ts"]).timestamp() if first is not None else None


def entries(
    runs: Path,
    since: float,
    running: Callable[[], bool],
    journal: Path | None = None,
    shown: int = 0,
) -> Iterator[Entry]:
    """Each new entry of the run's journal as it is written, until the run has stopped and
    every entry it wrote was yielded.

    ``journal``: the journal to follow when it is known already (a resumed run continues
    its own, whose first entry is older than ``since``), from its entry ``shown`` on.
    """
    while True:
        alive = running()  # read before the journal: its last entries are then included
        journal = journal or newest_journal(runs, since)
        found = read(journal) if journal is not None and journal.exists() else []
        yield from found[shown:]
        shown = len(found)
        if not alive:
            return
        time.sleep(POLL_S)


def run_followed(
    call: Callable[[], T],
    runs: Path,
    on_entry: Callable[[Entry], None],
    journal: Path | None = None,
) -> T:
    """Run ``call`` (a flow run) in a thread and hand each entry its journal gets to
    ``on_entry`` as it is written; its result once it ended, or what it raised.
    ``journal``: see ``entries``; its entries written before the call are not handed on."""
    since = time.time()
    shown = len(read(journal)) if journal is not None and journal.exists() else 0
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # raised again in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="lifeboat-flow")
    worker.start()
    for entry in entries(runs, since, worker.is_alive, journal, shown):
        on_entry(entry)
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
