"""The ``lifeboat`` command as users run it: a real process, exit codes, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIFEBOAT = Path(sys.executable).parent / "lifeboat"

FIVE_DEFECTS = """\
id: five
version: 2.1
title: Five defects, one of each kind
owner: sre@example.com
objectives: {rto: half an hour}
steps:
  - id: a
    check: http.stats
    with: {url: "https://127.0.0.1/"}
  - id: b
    check: tcp.open
    with: {host: "${{ hosts.ghost.address }}", port: 22}
    needs: [c]
  - id: c
    check: tcp.open
    with: {host: 127.0.0.1, port: 22}
    needs: [b]
"""


def lifeboat(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIFEBOAT), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_shipped_runbooks() -> None:
    result = lifeboat("validate", "runbooks/")
    assert result.returncode == 0, result.stderr
    assert "ok: runbooks/webapp-failover.yaml (webapp-failover 3.1.0, 13 steps)" in result.stdout
    assert re.search(r"^\d+ runbooks valid$", result.stdout, re.M)


def test_five_defects_give_five_positioned_errors(tmp_path: Path) -> None:
    path = tmp_path / "five.yaml"
    path.write_text(FIVE_DEFECTS)
    result = lifeboat("validate", str(path))
    assert result.returncode == 2
    assert_no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert [line.split(": error: ")[0] for line in errors] == [
        f"{path}:2:10",
        f"{path}:5:19",
        f"{path}:8:12",
        f"{path}:12:19",  # the reference's own ${{, not the string's quote
        f"{path}:13:12",
    ]
    assert [line.split(": error: ")[1].split(":")[0] for line in errors] == [
        "version",
        "objectives.rto",
        "unknown check 'http.stats' (did you mean 'http.status'?)",
        "undefined host 'ghost' in 'hosts.ghost.address'",
        "dependency cycle",
    ]
    assert result.stderr.splitlines()[-1] == "Error: 1 of 1 runbooks invalid, 5 errors"


def test_validate_mixed_folder_reports_each_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_bytes((REPO / "runbooks" / "backup-drill.yaml").read_bytes())
    (tmp_path / "bad.yaml").write_text("id: [\n")
    result = lifeboat("validate", str(tmp_path))
    assert result.returncode == 2
    assert f"ok: {tmp_path / 'good.yaml'}" in result.stdout
    assert f"{tmp_path / 'bad.yaml'}:2:1: error: YAML syntax:" in result.stderr


def test_validate_empty_folder_is_an_error(tmp_path: Path) -> None:
    result = lifeboat("validate", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: no runbook files")


def test_plan_shows_steps_in_order_with_drill_and_live() -> None:
    result = lifeboat(
        "plan", "runbooks/webapp-failover.yaml", "-p", "primary_health=https://a.test/ready"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    order = [m.group(1) for line in lines if (m := re.match(r"\s*\d+\. (\S+)", line))]
    assert order == [
        "scope",
        "announce",
        "backups",
        "fresh",
        "standby-ssh",
        "go",
        "fence-primary",
        "restore",
        "start-standby",
        "standby-healthy",
        "switch",
        "validate",
        "resolved",
    ]
    assert "http.status url=https://a.test/ready timeout=5" in result.stdout
    assert "dns.switch zone=example.com record=www to=web-b ttl=60" in result.stdout
    assert "Fail www over from sbg to gra?" in result.stdout
    assert result.stdout.count("drill: skipped (live only)") == 7


def test_plan_refuses_bad_parameter() -> None:
    result = lifeboat("plan", "runbooks/webapp-failover.yaml", "-p", "settle=soon")
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: parameter 'settle': 'soon' is not of type integer"


def test_plan_revalidates_with_given_parameters() -> None:
    result = lifeboat("plan", "runbooks/webapp-failover.yaml", "-p", "settle=100000")
    assert result.returncode == 2
    assert (
        "step 10 'standby-healthy' with.timeout: Input should be less than or equal to 86400"
        in result.stderr
    )


def test_plan_of_invalid_runbook(tmp_path: Path) -> None:
    path = tmp_path / "five.yaml"
    path.write_text(FIVE_DEFECTS)
    result = lifeboat("plan", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "Error: runbook invalid, 5 errors"


def test_schema_is_json_and_matches_committed_file() -> None:
    result = lifeboat("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Lifeboat runbook"
    committed = (REPO / "runbook.schema.json").read_text()
    assert result.stdout == committed, "run 'make schema' and commit runbook.schema.json"


def test_version() -> None:
    result = lifeboat("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"lifeboat \d+\.\d+\.\d+\n", result.stdout)


def test_unknown_command_is_a_usage_error() -> None:
    result = lifeboat("frobnicate")
    assert result.returncode == 2
    assert_no_traceback(result)


def test_demo_without_the_shipped_runbooks_says_where_it_looked(tmp_path: Path) -> None:
    result = lifeboat("demo", "--runbooks", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"Error: no webapp-failover.yaml and backup-drill.yaml in {tmp_path}"
    )


def test_plan_marks_irreversible_steps_and_recorded_undos(tmp_path: Path) -> None:
    path = tmp_path / "marks.yaml"
    path.write_text(
        "id: marks\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "sites: {a: {provider: onprem, region: lab}}\n"
        "hosts: {h: {site: a, address: 192.0.2.1}}\n"
        "steps:\n"
        "  - {id: go, approval: {prompt: ok?}}\n"
        "  - {id: cmd, action: ssh.run, with: {host: h, argv: [reboot]}}\n"
        "  - {id: svc, action: service.start, with: {host: h, unit: web}}\n"
    )
    result = lifeboat("plan", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[lines.index(next(x for x in lines if "2. cmd" in x)) + 1].endswith(
        "IRREVERSIBLE: no rollback"
    )
    assert "rollback: the undo the action records when it runs" in lines[-1]


def test_run_refuses_a_reason_with_a_terminal_escape_before_starting_anything() -> None:
    result = lifeboat("run", "runbooks/backup-drill.yaml", "--reason", "fire\x1b[2J")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "Error: parameter '--reason': the value holds the control character U+001B at character 5"
    )
    assert "Prefect API" not in result.stdout  # refused before any server was asked for
    assert_no_traceback(result)
