"""Lifeboat's orchestration overhead against Chaos Toolkit, raw Prefect and bare HTTP GETs.

The same work everywhere: 50 sequential GETs to a stdlib HTTP server on 127.0.0.1 that
answers 200. One Prefect server (``prefect_test_harness``) is started once, not timed.
Medians of 3 runs (min–max after). Flows are timed twice: the call's wall time, and "in
flow" (Running → Completed in the API), without Prefect's flow start-up and teardown, whose
heartbeat-thread join (1 s sleeps) puts Prefect 3.8 wall times just past whole seconds.
Prefect's console log handler is at WARNING; logs still reach the API, as in production.
Approval latency: from the approver's ``resume_flow_run`` to the next ``step.started``.
Run ``.venv/bin/python bench/overhead.py``: a Markdown table; exit 0 whatever the timings.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
os.environ["LIFEBOAT_HOME"] = tempfile.mkdtemp(prefix="lifeboat-bench-")  # and our files

import httpx
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState
from prefect.client.schemas.filters import FlowRunFilterStateName as StateName
from prefect.flow_runs import resume_flow_run
from prefect.testing.utilities import prefect_test_harness

from flows.run import run_sync
from lifeboat.journal import read
from lifeboat.outcome import RunOutcome

STEPS = 50
REPEATS = 3
MAX_MS = 25.0  # per-step overhead
MAX_S = 2.0  # approval latency
BIN = Path(sys.executable).parent
HEAD = "id: {id}\nversion: 1.0.0\ntitle: Overhead bench\nowner: sre@example.com\nsteps:\n"
STEP = "  - {{id: get-{i:02d}, check: http.status, with: {{url: '{url}'}}}}\n"
GATE = (
    "  - {id: go, approval: {prompt: 'Go?', timeout: 30s}}\n"
    "  - {id: after, check: wait, with: {duration: 10ms}}\n"
)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


# One shared client, as checks/http.py uses: the same HTTP work on every side of the table.
CLIENT = httpx.Client()


def bare_gets(url: str) -> float:
    started = time.perf_counter()
    for _ in range(STEPS):
        CLIENT.get(url, timeout=10).raise_for_status()
    return time.perf_counter() - started


@task(persist_result=False, cache_policy=NO_CACHE)
def get_status(url: str) -> int:
    return CLIENT.get(url, timeout=10).status_code


@flow(name="bench-raw-prefect", persist_result=False, log_prints=False)
def raw_prefect(url: str) -> None:
    for _ in range(STEPS):
        assert get_status.submit(url).result() == 200


def in_flow(run_id: UUID | str) -> float:
    """Seconds between the flow run's Running and Completed states, as the API has them."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(run_id)))
    assert run.start_time is not None and run.end_time is not None, run.state
    return (run.end_time - run.start_time).total_seconds()


def run_lifeboat(path: Path) -> RunOutcome:
    state: Any = run_sync(str(path))
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, RunOutcome), outcome
    assert {outcome.status, *(s.status for s in outcome.steps)} == {"succeeded"}, state.message
    return outcome


def lifeboat_once(path: Path) -> tuple[float, float]:
    started = time.perf_counter()
    outcome = run_lifeboat(path)
    return time.perf_counter() - started, in_flow(outcome.run_id)


def raw_once(url: str) -> tuple[float, float]:
    started = time.perf_counter()
    state: Any = raw_prefect(url, return_state=True)
    assert state.is_completed(), state.message
    return time.perf_counter() - started, in_flow(state.state_details.flow_run_id)


def experiment(url: str) -> dict[str, Any]:
    provider = {"type": "http", "url": url, "timeout": 10}
    probe = {"type": "probe", "tolerance": 200, "provider": provider}
    probes = [probe | {"name": f"get-{i:02d}"} for i in range(STEPS)]
    hypothesis = {"title": "all answer 200", "probes": probes}
    about = {"version": "1.0.0", "title": "Overhead bench", "description": f"{STEPS} GETs"}
    return about | {"steady-state-hypothesis": hypothesis, "method": []}


def chaos_in_process(exp: dict[str, Any]) -> float:
    run_experiment = importlib.import_module("chaoslib.experiment").run_experiment
    before_method = importlib.import_module("chaoslib.types").Strategy.BEFORE_METHOD
    started = time.perf_counter()
    journal = run_experiment(exp, settings={}, strategy=before_method)
    elapsed = time.perf_counter() - started
    assert journal["steady_states"]["before"]["steady_state_met"], journal["status"]
    return elapsed


def chaos_cli(path: Path) -> float:
    work = path.parent
    command = [str(BIN / "chaos"), "--no-version-check", "--settings", str(work / "settings.yaml")]
    command += ["--log-file", str(work / "chaostoolkit.log"), "run", "--journal-path"]
    command += [str(work / "journal.json"), "--hypothesis-strategy", "before-method-only"]
    started = time.perf_counter()
    done = subprocess.run([*command, str(path)], cwd=work, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    journal = json.loads((work / "journal.json").read_text())
    assert done.returncode == 0 and journal["status"] == "completed", done.stderr[-500:]
    return elapsed


def answer_when_paused(seen: dict[str, float]) -> None:
    """As an approver would: wait for the pause and its form, note t0, approve."""
    paused = FlowRunFilter(state=FlowRunFilterState(name=StateName(any_=["Paused"])))
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            time.sleep(0.02)
            runs = client.read_flow_runs(flow_run_filter=paused)
            t0 = time.time()
            with contextlib.suppress(RuntimeError, IndexError):  # RuntimeError: form not there yet
                resume_flow_run(runs[0].id, run_input={"approved": True, "approver": "bench"})
                seen["t0"] = t0
                return


def approval_seconds(path: Path) -> float:
    seen: dict[str, float] = {}
    approver = threading.Thread(target=answer_when_paused, args=(seen,), daemon=True)
    approver.start()
    outcome = run_lifeboat(path)
    approver.join(5)
    started = [e for e in read(Path(outcome.journal)) if e.event == "step.started"]
    assert [e.step_id for e in started] == ["after"], started
    return started[0].ts.timestamp() - seen["t0"]


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f})"


def row(name: str, value: str, target: str = "", ok: bool | None = None, note: str = "") -> str:
    verdict = " ".join(w for w in ("" if ok is None else "PASS" if ok else "FAIL", note) if w)
    return f"| {name} | {value} | {target} | {verdict} |"


def per_step(name: str, slow: list[float], fast: list[float]) -> str:
    ms = (statistics.median(slow) - statistics.median(fast)) / STEPS * 1000
    return row(name, f"{ms:.1f} ms", f"≤ {MAX_MS:g} ms", ms <= MAX_MS)


def versus(name: str, chaos: list[float], lifeboat: float, judged: bool) -> str:
    median = statistics.median(chaos)
    target, ok = ("Lifeboat wall ≤ this", lifeboat <= median) if judged else ("reference", None)
    return row(name, spread(chaos), target, ok, f"(Lifeboat takes {lifeboat / median:.0f}×)")


def main() -> int:
    work = Path(os.environ["LIFEBOAT_HOME"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    checks, gate, exp_path = work / "checks.yaml", work / "gate.yaml", work / "experiment.json"
    steps = "".join(STEP.format(i=i, url=url) for i in range(STEPS))
    checks.write_text(HEAD.format(id="bench-http") + steps)
    gate.write_text(HEAD.format(id="bench-gate") + GATE)
    exp = experiment(url)
    exp_path.write_text(json.dumps(exp))

    bare = [bare_gets(url) for _ in range(REPEATS)]
    lifeboat: list[tuple[float, float]] = []
    raw: list[tuple[float, float]] = []
    with prefect_test_harness(server_startup_timeout=60):
        for _ in range(REPEATS):  # interleaved, so drift on a busy machine hits both alike
            lifeboat.append(lifeboat_once(checks))
            raw.append(raw_once(url))
        approval = [approval_seconds(gate) for _ in range(REPEATS)]
    lb_wall, lb_flow = map(list, zip(*lifeboat, strict=True))
    raw_wall, raw_flow = map(list, zip(*raw, strict=True))
    rows = [
        row(f"Lifeboat: {STEPS} `http.status` steps, `run_runbook`, wall", spread(lb_wall)),
        row("Lifeboat: the same runs, in flow", spread(lb_flow)),
        row(f"raw Prefect: {STEPS} tasks, `.submit().result()`, wall", spread(raw_wall)),
        row("raw Prefect: the same runs, in flow", spread(raw_flow)),
        row(f"bare GETs × {STEPS} in a loop (shared httpx client)", spread(bare)),
    ]
    lb = statistics.median(lb_wall)
    if importlib.util.find_spec("chaoslib") is None:
        rows.append(row("Chaos Toolkit", "not installed", "Lifeboat wall ≤ this", note="n/a"))
    else:
        inproc = [chaos_in_process(exp) for _ in range(REPEATS)]
        cli = [chaos_cli(exp_path) for _ in range(REPEATS)]
        rows.append(versus("Chaos Toolkit in-process: `run_experiment`", inproc, lb, True))
        rows.append(versus("Chaos Toolkit CLI: `chaos run`, its start-up included", cli, lb, False))
    server.shutdown()
    ok, limit = statistics.median(approval) <= MAX_S, f"≤ {MAX_S:g} s"
    rows += [
        per_step("per-step overhead: Lifeboat vs raw Prefect, wall", lb_wall, raw_wall),
        per_step("per-step overhead: Lifeboat vs raw Prefect, in flow", lb_flow, raw_flow),
        per_step("per-step overhead: Lifeboat wall vs bare GETs", lb_wall, bare),
        row("approval latency: resume → next `step.started`", spread(approval), limit, ok),
    ]
    print(f"\nMedian (min–max) of {REPEATS} runs; {os.cpu_count()} CPUs; traffic on 127.0.0.1.\n")
    print("| measurement | value | target | verdict |\n|---|---|---|---|")
    print("\n".join(rows))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
