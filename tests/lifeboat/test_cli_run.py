"""``lifeboat run`` as an operator sees it: a real process, the session's real Prefect server,
a webhook receiver on loopback; piped and on a terminal (a pty)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import typer

from lifeboat.cli_run import parse_detected_at
from lifeboat.journal import read
from lifeboat.sandbox.receiver import Receiver
from tests.terminal import on_terminal
from tests.waiting import wait_until

LIFEBOAT = str(Path(sys.executable).parent / "lifeboat")
MARKED = "[bold]x[/bold]"
WORDS = [f"word{n:02}" for n in range(1, 41)]
COMMAND = "ssh.run host=h argv=['echo', " + ", ".join(f"'{w}'" for w in WORDS) + "]"
STAMP = r"\d\d:\d\d:\d\d"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(prefect_server: str, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "LIFEBOAT_HOME": str(home),
        "DO_NOT_TRACK": "1",  # Prefect's first-run telemetry notice is for people, not tests
    }


def cli(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def records(text: str) -> list[str]:
    """Each printed record, its wrapped lines joined and its spacing collapsed: a line
    indented by four spaces or more continues the record above (a terminal's wrapping)."""
    found: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") and found:
            found[-1] += " " + line
        else:
            found.append(line)
    return [" ".join(record.split()) for record in found]


def screen_runbook(tmp_path: Path, receiver: Receiver, dead: int) -> Path:
    """A drill that tells on-call (one channel up, one down) and not customers, skips two
    live-only steps (one a long command), then fails a check whose URL holds user text."""
    hook = f"json://127.0.0.1:{receiver.port}"
    path = tmp_path / "screen.yaml"
    path.write_text(
        'id: screen\nversion: 1.0.0\ntitle: ":smile: [bold]x[/bold] :100:"\nowner: o\n'
        'parameters:\n  path: {type: string, default: "/"}\n'
        "sites: {a: {provider: onprem, region: lab}}\n"
        "hosts: {h: {site: a, address: 192.0.2.1}}\n"
        "stakeholders:\n"
        f"  oncall: {{channels: ['{hook}/screen', 'json://127.0.0.1:{dead}/x'], in_drills: true}}\n"
        f"  customers: {{channels: ['{hook}/customers']}}\n"
        "steps:\n"
        "  - {id: tell, notify: incident.opened, to: [oncall, customers]}\n"
        '  - {id: go, approval: {prompt: "Run it?"}, live_only: true, needs: [tell]}\n'
        f"  - {{id: cmd, action: ssh.run, with: {{host: h, argv: [echo, {', '.join(WORDS)}]}},"
        " live_only: true, needs: [go]}\n"
        f'  - {{id: probe, check: http.status, with: {{url: "http://127.0.0.1:{dead}/'
        '${{ params.path }}"}, needs: [cmd]}\n'
        "  - {id: after, check: wait, with: {duration: 10ms}, needs: [probe]}\n"
    )
    return path


@pytest.mark.parametrize("where", ["pipe", "terminal"])
def test_run_screen_is_one_calm_line_per_event_with_user_text_as_written(
    prefect_server: str, lifeboat_home: Path, receiver: Receiver, tmp_path: Path, where: str
) -> None:
    dead = closed_port()
    args = [
        LIFEBOAT, "run", str(screen_runbook(tmp_path, receiver, dead)),
        "-p", f"path=:smile:{MARKED}", "--incident", f"INC-:1234:{MARKED}",
    ]  # fmt: skip
    env = cli_env(prefect_server, lifeboat_home)
    if where == "terminal":
        code, raw, text = on_terminal(args, env, columns=80)
        assert "\x1b[" in raw  # it was a terminal: rich coloured the status words
        # Wrapped to the terminal; a path is left whole (a cut path cannot be copied).
        assert all(len(x) <= 80 for x in text.splitlines() if not x.startswith("journal: "))
    else:
        result = cli(args, env)
        code, text = result.returncode, result.stdout + result.stderr
        assert result.stderr == ""  # no Prefect console lines without --verbose
    assert code == 1, text
    for noise in ("Traceback", "Finished in state", "apprise", "Task run", "\U0001f604"):
        assert noise not in text
    (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
    run_id = journal.parent.name
    ui = prefect_server.removesuffix("/api")
    shown = records(text)
    started = f"run {run_id} started: screen 1.0.0, drill run, incident INC-:1234:{MARKED}"
    assert f"{started} (times in UTC)" in shown
    assert f"Prefect UI: {ui}/runs/flow-run/{run_id}" in shown
    events = [r for r in shown if re.match(STAMP + " ", r)]
    said = {" ".join(r.split()[1:3]): " ".join(r.split()[3:]) for r in events}
    assert re.fullmatch(
        r"channels: 1 sent, 1 skipped in drill, 1 failed \(oncall: json\) \(\d+\.\d\ds\)",
        said["tell succeeded"],
    )
    assert said["go skipped"] == "in drill (live only): would ask for approval"
    assert said["cmd skipped"] == f"in drill (live only): would {COMMAND}"
    assert re.fullmatch(
        re.escape(f"http://127.0.0.1:{dead}/:smile:{MARKED}: request failed: ConnectError: ")
        + r".+ \(\d+\.\d\ds\)",
        said["probe failed"],
    )
    assert said["after skipped"] == "not run: the run stopped at probe"
    # The order of the journal, the record auditors read: one line per step event.
    journaled = [
        (e.step_id, e.event) for e in read(journal) if e.step_id and e.event in WORDED.values()
    ]
    stepped = [r.split()[1:3] for r in events if r.split()[2] in WORDED]
    assert [(step, WORDED[word]) for step, word in stepped] == journaled
    summary = shown[shown.index(next(r for r in shown if r.startswith("screen 1.0.0: "))) :]
    assert summary[0].startswith("screen 1.0.0: drill run failed at probe, ")
    assert f"cmd skipped in drill (live only): would {COMMAND}" in summary
    assert any(r.startswith("tell succeeded ") and "1 skipped in drill" in r for r in summary)
    assert summary[-1] == f"journal: {journal}"


WORDED = {
    "started": "step.started",
    "succeeded": "step.succeeded",
    "failed": "step.failed",
    "skipped": "step.skipped",
}


def test_verbose_shows_prefect_s_own_log_and_the_traceback(
    prefect_server: str, lifeboat_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "fails.yaml"
    path.write_text(
        "id: fails\nversion: 1.0.0\ntitle: t\nowner: o\nsteps:\n"
        f"  - {{id: probe, check: http.status, with: {{url: 'http://127.0.0.1:{closed_port()}/'}}}}\n"
    )
    env = cli_env(prefect_server, lifeboat_home)
    result = cli([LIFEBOAT, "run", str(path), "--verbose"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" in result.stderr and "Finished in state Failed" in result.stderr
    failed = [x for x in result.stdout.splitlines() if re.match(STAMP + "  probe  failed ", x)]
    assert len(failed) == 1  # the screen stays one line per event; Prefect's log is apart


def test_a_gate_prints_the_exact_command_that_answers_it(
    prefect_server: str, lifeboat_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(
        "id: gate\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "sites: {a: {provider: onprem, region: lab}}\n"
        "hosts: {web-b: {site: a, address: 192.0.2.1}}\n"
        "steps:\n"
        f'  - {{id: go, approval: {{prompt: "Fail over to :smile: {MARKED}?", timeout: 10m,'
        " confirm: web-b}}\n"
        "  - {id: after, check: wait, with: {duration: 10ms}, needs: [go]}\n"
    )
    env = cli_env(prefect_server, lifeboat_home)
    lines: list[str] = []
    with subprocess.Popen(
        [LIFEBOAT, "run", str(path), "--mode", "live"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
        reader.start()
        try:
            wait_until(  # the gate's last line: the UI link under the commands
                lambda: any("or in the Prefect UI: " in x for x in list(lines)),
                "the run printed how to answer its gate",
                timeout=120,
            )
            (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
            run_id = journal.parent.name
            ui = prefect_server.removesuffix("/api")
            gate = [x.strip() for x in lines if x.startswith(" " * 20)]
            assert gate == [
                f"approve: lifeboat approve {run_id} --by NAME --confirm web-b",
                f"reject:  lifeboat approve {run_id} --reject --by NAME",
                f"or in the Prefect UI: {ui}/runs/flow-run/{run_id}",
            ]
            argv = shlex.split(gate[0].removeprefix("approve: ").replace("NAME", "bob"))
            answered = cli([str(Path(LIFEBOAT).parent / argv[0]), *argv[1:]], env)
            assert answered.returncode == 0, answered.stdout + answered.stderr
            assert process.wait(300) == 0
        finally:
            if process.poll() is None:
                process.kill()
            reader.join(30)
    text = "".join(lines)
    assert f"for approval: Fail over to :smile: {MARKED}?" in text
    assert re.search(r"go +answered +by bob: approved", text)
    assert "gate 1.0.0: live run succeeded" in text


def test_detected_at_and_incident_reach_the_journal_and_the_rto(
    prefect_server: str, lifeboat_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "rto.yaml"
    path.write_text(
        "id: rto\nversion: 1.0.0\ntitle: t\nowner: o\nobjectives: {rto: 30m}\nsteps:\n"
        "  - {id: check, check: wait, with: {duration: 10ms}}\n"
    )
    detected = ["--detected-at", "2025-03-10T00:47:00+02:00", "--incident", "INC-7"]
    result = cli([LIFEBOAT, "run", str(path), *detected], cli_env(prefect_server, lifeboat_home))
    assert result.returncode == 0, result.stdout + result.stderr
    (journal,) = (lifeboat_home / "runs").glob("*/journal.jsonl")
    inputs = read(journal)[0].inputs
    assert inputs["detected_at"] == "2025-03-10T00:47:00+02:00"
    assert inputs["incident"] == "INC-7"
    assert "incident INC-7, detected at 2025-03-10T00:47:00+02:00" in result.stdout
    (rto,) = [x for x in result.stdout.splitlines() if x.startswith("RTO: ")]
    assert re.fullmatch(
        r"RTO: \d+h \d+m, from detection \(detected_at\) to the run's end \(no action ran\); "
        r"objective 30m: MISSED",
        rto,
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("3pm", "neither an ISO 8601 time"),
        ("-15", "not a time ago: invalid duration '15'"),
        ("-15x", "not a time ago: invalid duration '15x'"),
        ("2999-01-01T00:00:00+00:00", "is in the future"),
        ("2025-13-01", "neither an ISO 8601 time"),
    ],
)
def test_a_bad_detected_at_is_one_error_line_and_exit_2(value: str, why: str) -> None:
    runbook = Path(__file__).resolve().parents[2] / "runbooks" / "backup-drill.yaml"
    result = cli([LIFEBOAT, "run", str(runbook), "--detected-at", value])
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: --detected-at {value!r}: ")
    assert why in result.stderr and len(result.stderr.splitlines()) == 1
    assert "Prefect API" not in result.stdout  # refused before anything started


def test_resume_keeps_the_run_s_own_detected_at_and_incident(lifeboat_home: Path) -> None:
    result = cli([LIFEBOAT, "run", "--resume", "some-run", "--detected-at", "-5m"])
    assert result.returncode == 2
    assert result.stderr == (
        "Error: --resume keeps the run's own --incident and --detected-at: drop them\n"
    )


NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def test_detected_at_reads_iso_8601_and_times_ago() -> None:
    assert parse_detected_at("-15m", NOW) == NOW - timedelta(minutes=15)
    assert parse_detected_at("-1h30m", NOW) == NOW - timedelta(hours=1, minutes=30)
    paris = timezone(timedelta(hours=1))
    assert parse_detected_at("2025-03-10T11:47:00+01:00", NOW) == datetime(
        2025, 3, 10, 11, 47, tzinfo=paris
    )
    assert parse_detected_at("2025-03-10T10:00:00Z", NOW) == datetime(2025, 3, 10, 10, tzinfo=UTC)
    naive = parse_detected_at("2025-03-10T08:00:00", NOW)  # a clock's time: this machine's zone
    assert naive.tzinfo is not None
    assert naive == datetime(2025, 3, 10, 8, 0).astimezone()


def test_detected_at_in_the_future_exits_2() -> None:
    with pytest.raises(typer.Exit) as info:
        parse_detected_at("2025-03-10T12:00:01+00:00", NOW)
    assert info.value.exit_code == 2
