"""``lifeboat comms lint|preview`` as users run them: a real process, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LIFEBOAT = Path(sys.executable).parent / "lifeboat"

LEAKY = """\
id: leaky
version: 1.0.0
title: t
owner: o
sites: {sbg: {provider: ovh, region: sbg}}
hosts: {web-a: {site: sbg, address: 10.0.0.5}}
stakeholders:
  customers: {audience: customers, channels: ["json://127.0.0.1:9/"]}
comms: {service: the shop on 10.0.0.5}
steps:
  - {id: tell, notify: incident.opened, to: [customers]}
"""


def lifeboat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LIFEBOAT), *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def test_lint_shipped_runbooks_is_clean() -> None:
    result = lifeboat("comms", "lint", "runbooks/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "messages ok: 5 runbooks"


def test_lint_names_each_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "leaky.yaml"
    path.write_text(LEAKY)
    result = lifeboat("comms", "lint", str(path))
    assert result.returncode == 1
    where = f"{path}: step tell (incident.opened, en, customers)"
    closing = f"{path}: when the run fails (incident.failed, en, customers)"  # same readers
    assert result.stdout.splitlines() == [
        f"{where}: missing a support contact",
        f"{where}: discloses host address '10.0.0.5' to customers",
        f"{closing}: missing a support contact",
        f"{closing}: discloses host address '10.0.0.5' to customers",
    ]
    assert result.stderr.strip() == "4 problems in stakeholder messages"
    assert "Traceback" not in result.stderr


def test_lint_invalid_runbook_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(LEAKY.replace("audience: customers", "audience: everyone"))
    result = lifeboat("comms", "lint", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "Error: runbook invalid, 1 errors"


def test_preview_prints_the_french_customer_message() -> None:
    result = lifeboat(
        "comms",
        "preview",
        "runbooks/webapp-failover.yaml",
        "--stage",
        "incident.opened",
        "--lang",
        "fr",
        "--incident",
        "INC-42",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Subject: Interruption de service : la boutique en ligne Example (INC-42)"
    assert lines[1] == "" and lines[2] == "Bonjour,"
    assert "Support : support@example.com" in result.stdout
    assert "Nous vous présentons nos excuses" in result.stdout
    assert "sbg" not in result.stdout.lower() and "web-a" not in result.stdout


def test_preview_shows_a_failed_run_s_closing_message_for_an_example_failure() -> None:
    result = lifeboat(
        "comms", "preview", "runbooks/webapp-failover.yaml", "--stage", "incident.failed",
        "--audience", "internal", "--mode", "drill",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "Subject: [DRILL] incident.failed: run failed at switch: "
        "Fail over the customer web app from Strasbourg to Gravelines"
    )
    assert "Error: (example) the error the step reports" in result.stdout
    assert "Rolled back, latest change first:\n  - start-standby: undone\n" in result.stdout
    assert "lifeboat run --resume RUN runbooks/webapp-failover.yaml\n" in result.stdout
    assert "This was a drill: customers were not told." in result.stdout
    customers = lifeboat(
        "comms", "preview", "runbooks/webapp-failover.yaml", "--stage", "incident.failed",
        "--lang", "fr",
    )  # fmt: skip
    assert customers.returncode == 0, customers.stderr
    assert customers.stdout.startswith("Subject: Point sur l'interruption de la boutique")
    assert "n'est pas terminée" in customers.stdout and "RUN" not in customers.stdout


def test_preview_internal_audience_in_dutch() -> None:
    result = lifeboat(
        "comms",
        "preview",
        "runbooks/webapp-failover.yaml",
        "--stage",
        "incident.resolved",
        "--lang",
        "nl",
        "--audience",
        "internal",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Subject: incident.resolved: Fail over the customer web app")
    assert "Geleerde lessen" in result.stdout


def test_preview_refuses_an_unknown_stage() -> None:
    result = lifeboat("comms", "preview", "runbooks/webapp-failover.yaml", "--stage", "oops")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: --stage must be one of maintenance.scheduled, incident.opened, "
        "incident.update, incident.resolved, incident.postmortem, provider.escalation, "
        "incident.failed, not 'oops'"
    )
