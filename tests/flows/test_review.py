"""The post-incident review of the sandbox failover (tests/flows/test_failover.py's world):
measured RTO and RPO against the runbook's objectives, the HTML page in headless Chromium
(screenshot kept in test-output/), and the review as Prefect artifacts on the flow run."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any
from uuid import UUID

from lifeboat.sandbox import Sandbox
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
