"""Reading the record at scale: verifying one long journal, exporting a large history.

Two measurements, medians of 3 runs (min–max after), on files written first (not timed) in
a temporary ``LIFEBOAT_HOME``:

- verify: one 100,000-entry journal (a valid SHA-256 chain, entries shaped like a real run's:
  step starts and ends with inputs, summaries, evidence) checked by ``lifeboat.journal.verify``
  and by ``lifeboat.audit.integrity.verify_run`` (what ``lifeboat audit verify`` runs) against
  the run's signed digest (chain and signature). Target: under 1 s.
- export: 1,000 runs of 10 steps each (22 entries a run) exported to CSV, one row per step:
  ``write_export`` in-process, and ``lifeboat audit export --format csv`` as a whole process
  (interpreter start-up and imports included). Target: under 5 s.

Journals are written entry by entry as ``Journal`` would, without its per-entry fsync (which
would make writing 122,000 entries take minutes and changes nothing that is read).
Run ``.venv/bin/python bench/audit.py``: a Markdown table; exit 0 whatever the timings, 1
only if a result is wrong (a journal that does not verify, a row count that differs).
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifeboat.audit import integrity
from lifeboat.audit.cli_history import write_export
from lifeboat.journal import GENESIS, Entry, RunbookIdentity, line_hash, verify
from lifeboat.settings import Settings

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "100000"))  # fewer only to try the script
RUNS = int(os.environ.get("BENCH_RUNS", "1000"))
STEPS = 10
REPEATS = 3
VERIFY_TARGET = 1.0  # seconds
EXPORT_TARGET = 5.0
BIN = Path(sys.executable).parent
RUNBOOK = RunbookIdentity(id="bench", version="1.0.0", sha256="ab" * 32, git_commit="c0ffee")


def write_journal(path: Path, run_id: str, events: list[dict[str, Any]], start: datetime) -> None:
    """A valid chain of ``events`` (fields of ``Entry``), 1 ms apart from ``start``."""
    lines, previous = [], GENESIS
    for seq, fields in enumerate(events, start=1):
        entry = Entry(
            seq=seq,
            ts=start + timedelta(milliseconds=seq),
            run_id=run_id,
            runbook=RUNBOOK,
            prev_sha256=previous,
            **fields,
        )
        line = entry.model_dump_json().encode()
        lines.append(line)
        previous = line_hash(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")


def run_events(steps: int, mode: str = "drill") -> list[dict[str, Any]]:
    started = {
        "event": "run.started",
        "actor": "bench",
        "summary": "scheduled drill",
        "inputs": {"mode": mode, "params": {}, "incident": "", "plan_hash": "00" * 32},
    }
    events: list[dict[str, Any]] = [started]
    for i in range(steps):
        step = {"step_id": f"step-{i:05d}", "kind": "check"}
        events.append(
            step | {"event": "step.started", "inputs": {"url": "https://example.com/health"}}
        )
        events.append(
            step
            | {
                "event": "step.succeeded",
                "summary": "HTTP 200 in 12 ms",
                "evidence": {"status": 200, "elapsed_ms": 12.0},
                "duration_ms": 12.5,
            }
        )
    events.append({"event": "run.ended", "summary": "succeeded: all steps done"})
    return events


def timed(work: Callable[[], Any]) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return times, result


def row(name: str, times: list[float], target: float) -> str:
    median = statistics.median(times)
    spread = f"{min(times):.3f}–{max(times):.3f}"
    verdict = "met" if median < target else "NOT met"
    return f"| {name} | {median:.3f} s ({spread}) | < {target:g} s | {verdict} |"


def bench_verify(work: Path) -> list[str]:
    run_dir = work / "long" / "run-long"
    path = run_dir / "journal.jsonl"
    steps = (ENTRIES - 2) // 2
    write_journal(path, "run-long", run_events(steps), datetime.now(UTC) - timedelta(days=1))
    size = path.stat().st_size / 1e6
    print(f"journal: {ENTRIES:,} entries, {size:.1f} MB", file=sys.stderr)
    times, result = timed(lambda: verify(path))
    if not result.ok or result.entries != ENTRIES:
        raise SystemExit(f"journal.verify failed: {result}")
    rows = [row(f"`journal.verify`, {ENTRIES:,} entries ({size:.0f} MB)", times, VERIFY_TARGET)]
    settings = Settings()
    integrity.seal(path, settings)
    key = integrity.public_key(settings)
    times, check = timed(lambda: integrity.verify_run(run_dir, key))
    if not check.ok:
        raise SystemExit(f"integrity.verify_run failed: {check}")
    name = f"`integrity.verify_run` (chain + signed digest), {ENTRIES:,} entries"
    return [*rows, row(name, times, VERIFY_TARGET)]


def bench_export(work: Path) -> list[str]:
    runs_dir = Settings().runs_dir
    now = datetime.now(UTC)
    for n in range(RUNS):
        run_id = f"run-{n:05d}"
        start = now - timedelta(hours=RUNS - n)
        write_journal(runs_dir / run_id / "journal.jsonl", run_id, run_events(STEPS), start)
    expected = RUNS * STEPS
    print(f"runs: {RUNS:,} of {STEPS} steps in {runs_dir}", file=sys.stderr)

    def in_process() -> int:
        return write_export(io.StringIO(), "csv", runs_dir)

    times, count = timed(in_process)
    if count != expected:
        raise SystemExit(f"export wrote {count} rows, not {expected}")
    rows = [row(f"`write_export` CSV, {RUNS:,} runs × {STEPS} steps", times, EXPORT_TARGET)]
    output = work / "export.csv"

    def cli() -> int:
        command = [str(BIN / "lifeboat"), "audit", "export", "--format", "csv"]
        subprocess.run([*command, "--output", str(output)], check=True, capture_output=True)
        return len(output.read_text().splitlines()) - 1  # the header

    times, count = timed(cli)
    if count != expected:
        raise SystemExit(f"lifeboat audit export wrote {count} rows, not {expected}")
    name = f"`lifeboat audit export --format csv` (process), {RUNS:,} runs"
    return [*rows, row(name, times, EXPORT_TARGET)]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="lifeboat-bench-audit-") as folder:
        work = Path(folder)
        os.environ["LIFEBOAT_HOME"] = str(work / "home")  # runs, the signing key: all temporary
        rows = bench_verify(work) + bench_export(work)
    print(f"\nMedian (min–max) of {REPEATS} runs; {os.cpu_count()} CPUs.\n")
    print("| measurement | value | target | verdict |\n|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
