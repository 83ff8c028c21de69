"""The post-incident review of the sandbox failover (tests/flows/test_failover.py's world):
measured RTO and RPO against the runbook's objectives, the HTML page in headless Chromium
(screenshot kept in test-output/), and the review as Prefect artifacts on the flow run; and
the review of a failover rolled back, with the evidence auditors ask for."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from lifeboat.journal import read
from lifeboat.sandbox import Sandbox
from lifeboat.sandbox.ports import free_port
from tests.conftest import REPO, chromium, run_lifeboat
from tests.flows.test_failover import RUNBOOK, params, world

__all__ = ["world"]  # the fixture, imported to be used here
OUTPUT = REPO / "test-output"


def screenshot(page: Path, png: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={png}",
            "--window-size=1280,2000", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def artifacts(run_id: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> list[Any]:
        async with get_client() as client:
            found = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]))
            return list(await client.read_artifacts(artifact_filter=found))

    return asyncio.run(read())


def test_the_failover_review_measures_rto_and_rpo_and_renders_everywhere(
    world: dict[str, str], sandbox: Sandbox, clean_sites: Any, repo: Path, tmp_path: Path
) -> None:
    entry = world["LIFEBOAT_SANDBOX_ENTRY_URL"]
    result = run_lifeboat(
        world, "run", RUNBOOK, "--mode", "live", "--yes", *params(world, entry), cwd=repo
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (journal,) = Path(world["LIFEBOAT_HOME"], "runs").glob("*/journal.jsonl")
    run_id = journal.parent.name

    md = run_lifeboat(world, "report", run_id, "--format", "md", cwd=repo)
    assert md.returncode == 0, md.stderr
    text = md.stdout
    assert text.startswith("# Post-incident review: Fail over the customer web app")
    rto = next(line for line in text.splitlines() if line.startswith("| RTO |"))
    rpo = next(line for line in text.splitlines() if line.startswith("| RPO |"))
    assert "| 30m |" in rto and "| met |" in rto and "validation step 'validate'" in rto, rto
    assert "| 26h |" in rpo and "| met |" in rpo and "the restored backup db-" in rpo, rpo
    assert "start of 'fence-primary'" in rpo, rpo
    assert "approved in advance with --yes" in text
    assert "Interruption de service : la boutique en ligne Example" in text  # a subject sent
    assert "Check 'fresh' passed: web-db: newest object" in text
    assert (journal.parent / "review.md").read_text() == text  # kept beside the journal

    page = tmp_path / "review.html"
    made = run_lifeboat(world, "report", journal.as_posix(), "--format", "html", "-o", str(page))
    assert made.returncode == 0, made.stderr
    assert "<h2>Objectives and achieved</h2>" in page.read_text()
    OUTPUT.mkdir(exist_ok=True)
    png = OUTPUT / "failover-review.png"
    png.unlink(missing_ok=True)
    shot = screenshot(page, png, tmp_path)
    assert shot.returncode == 0 and png.is_file(), shot.stdout + shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, len(data)
    shutil.copy(page, OUTPUT / "failover-review.html")

    found = {a.key: a for a in artifacts(run_id)}
    assert {"webapp-failover-review", "webapp-failover-steps"} <= set(found), sorted(found)
    review = found["webapp-failover-review"]
    assert review.type == "markdown" and "| RTO | 30m |" in str(review.data)
    steps = found["webapp-failover-steps"]
    assert steps.type == "table" and "restore" in str(steps.data)


def test_report_of_an_unknown_run_is_one_error_line(sandbox_env: dict[str, str]) -> None:
    result = run_lifeboat(sandbox_env, "report", "no-such-run")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: unknown run 'no-such-run'")
    assert len(result.stderr.strip().splitlines()) == 1


SVG = "{http://www.w3.org/2000/svg}"


def svg_of(page: str) -> ET.Element:
    """The review's inline timeline chart, parsed as XML (it must be well-formed)."""
    start = page.index("<svg")
    return ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])


@pytest.fixture
def page_emptied(sandbox: Sandbox) -> Iterator[None]:
    """The status page as the seeder leaves it (an empty bucket) once the test is done: this
    failed run leaves its incident open there, which later runs' pages would show."""
    yield
    api = sandbox.s3.client("s3")
    for item in api.list_objects_v2(Bucket="status-example").get("Contents", []):
        api.delete_object(Bucket="status-example", Key=item["Key"])


def test_the_review_of_a_rolled_back_failover_is_the_evidence_auditors_ask_for(
    world: dict[str, str],
    sandbox: Sandbox,
    clean_sites: Any,
    repo: Path,
    tmp_path: Path,
    page_emptied: None,
) -> None:
    dead_entry = f"http://127.0.0.1:{free_port()}"  # www never answers: validate fails
    result = run_lifeboat(
        world, "run", RUNBOOK, "--mode", "live", "--yes", *params(world, dead_entry), cwd=repo
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (journal,) = Path(world["LIFEBOAT_HOME"], "runs").glob("*/journal.jsonl")
    restored = next(
        e for e in read(journal) if e.event == "step.succeeded" and e.step_id == "restore"
    )
    md = run_lifeboat(world, "report", journal.parent.name, cwd=tmp_path)  # not the checkout
    assert md.returncode == 0, md.stderr
    text = md.stdout
    rpo = next(line for line in text.splitlines() if line.startswith("| RPO |"))
    assert "| not achieved |" in rpo and "| met |" not in rpo, rpo
    assert f"sha256 {restored.evidence['sha256'][:12]}" in rpo and "was rolled back at " in rpo
    rto = next(line for line in text.splitlines() if line.startswith("| RTO |"))
    assert "| not achieved |" in rto, rto
    # The restored object and its checksum, the rollback and how it ended.
    assert "### `restore` backup.restore: succeeded, rolled back" in text
    assert restored.evidence["sha256"] in text
    assert f"gra-web-backups/nightly/{restored.evidence['key']} (modified " in text
    assert "- Rollback (the undo it left): **succeeded** at " in text
    assert "| www.example.com. CNAME | CNAME web-a.sbg.example.net TTL 60 | " in text
    # Every message with its whole text, the failure notice too; the approval's channel.
    assert "Bonjour," in text and "Nous vous présentons nos excuses" in text
    assert "incident.failed to oncall by json (en): sent" in text
    assert "- `go`: **approved** by " in text and ", via --yes, at " in text
    # The runbook is in this git checkout: its commit, not "-".
    head = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--", RUNBOOK], cwd=repo, capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert head and f"| Git commit | {head}" in text
    assert "| Signed digest | verifies: " in text
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "rolled-back-review.md").write_text(text)

    page = tmp_path / "review.html"
    made = run_lifeboat(world, "report", journal.parent.name, "-f", "html", "-o", str(page))
    assert made.returncode == 0, made.stderr
    shutil.copy(page, OUTPUT / "rolled-back-review.html")
    root = svg_of(page.read_text())
    bars = [r for r in root.iter(f"{SVG}rect") if "bar" in (r.get("class") or "").split()]
    steps = {  # as the review lists them: in the order they first appear in the journal
        e.step_id: None
        for e in read(journal)
        if e.step_id and e.kind != "rollback" and e.event != "update.sent"
    }
    assert [b.get("data-step") for b in bars] == list(steps)
    undone = [
        r.get("data-step") for r in root.iter(f"{SVG}rect") if "rollback" in (r.get("class") or "")
    ]
    assert undone == ["fence-primary", "restore", "start-standby", "switch"]
    waits = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "approval-wait"]
    assert len(waits) == 1 and "'go'" in (waits[0].findtext(f"{SVG}title") or "")
