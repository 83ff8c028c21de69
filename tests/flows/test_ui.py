"""The Prefect UI as the SREs' console, in a real browser: Debian's Chromium, headless,
driven by Playwright. A served runbook is started from its deployment's form, pauses at
its approval gate, is approved through the gate's form (which shows the plan), and
completes. Screenshots of each stage go to ``test-output/ui/``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from lifeboat.journal import Entry, read, verify
from tests.conftest import LIFEBOAT_CLI, TEST_OUTPUT, chromium
from tests.waiting import NeverHappened, wait_until

GATE = """\
id: ui-gate
version: 1.0.0
title: Fail over from the UI
owner: sre@example.com
steps:
  - {id: look, check: wait, with: {duration: 10ms}}
  - {id: go, approval: {prompt: "Proceed with the failover?"}, needs: [look]}
  - {id: after, check: wait, with: {duration: 10ms}, needs: [go]}
"""
# As the machine's notes say: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which this closed network refuses.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
WAIT_MS = 90_000


@pytest.fixture
def served(full_prefect_server: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``lifeboat serve`` of one runbook with an approval gate; (UI URL, LIFEBOAT_HOME)."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ui-gate.yaml").write_text(GATE, encoding="utf-8")
    home = tmp_path / "home"
    env = {**os.environ, "PREFECT_API_URL": full_prefect_server, "LIFEBOAT_HOME": str(home)}
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [LIFEBOAT_CLI, "serve", str(folder)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield full_prefect_server.removesuffix("/api"), home
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def ended(journal: Path, timeout: float = 60.0) -> list[Entry]:
    """The journal's entries once the run has ended."""

    def entries() -> list[Entry] | None:
        found = read(journal) if journal.exists() else []
        return found if found and found[-1].event == "run.ended" else None

    try:
        return wait_until(entries, f"the run journaled run.ended in {journal}", timeout=timeout)
    except NeverHappened as never:  # say where the run stands: a refused answer, no answer...
        found = read(journal) if journal.exists() else []
        last = [(e.event, e.step_id, e.actor, e.error) for e in found[-3:]]
        raise NeverHappened(f"{never}; its last entries: {last}") from None


def shot(page: Page, name: str) -> None:
    folder = TEST_OUTPUT / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_start_from_the_form_approve_through_the_gate_see_it_complete(
    served: tuple[str, Path],
) -> None:
    ui, home = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        # The deployment appears once serve has registered it.
        page.goto(f"{ui}/deployments", wait_until="networkidle")
        page.get_by_text("ui-gate").first.wait_for()
        shot(page, "1-deployments")
        page.get_by_text("ui-gate").first.click()
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("Custom run").first.click()
        page.get_by_text("Mode (Optional)").wait_for()  # the runbook's own form
        page.locator("textarea").first.fill("failover rehearsal from the UI")  # Reason
        shot(page, "2-form")
        page.get_by_role("button", name="Submit").click()
        page.wait_for_url("**tab=Runs**")
        page.locator("a[href*='/runs/flow-run/']").first.click()
        page.wait_for_url("**/runs/flow-run/**")
        run_id = page.url.rsplit("/", 1)[-1]
        page.get_by_text("Paused").first.wait_for()
        shot(page, "3-paused")
        page.get_by_role("button", name="Resume").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Proceed with the failover?").wait_for()
        plan = dialog.inner_text()
        assert "Plan hash" in plan and re.search(r"after\W+check: wait", plan), plan
        dialog.get_by_role("switch").first.click()  # Approved
        boxes = dialog.locator("textarea")
        boxes.nth(0).fill("alice")  # Approver
        boxes.nth(1).fill("plan checked in the UI")  # Comment
        shot(page, "4-approval-form")
        dialog.get_by_role("button", name="Submit").click()
        dialog.wait_for(state="hidden")  # the UI took the answer (it stays open on an error)
        journal = home / "runs" / run_id / "journal.jsonl"
        entries = ended(journal)
        page.reload(wait_until="networkidle")  # the run's own state badge, not a task's
        page.locator(".state-badge, [class*=state]", has_text="Completed").first.wait_for()
        shot(page, "5-completed")
        browser.close()
    assert verify(journal).ok
    (answer,) = [e for e in entries if e.event == "approval.answered"]
    assert answer.actor == "alice" and "plan checked in the UI" in (answer.summary or "")
    assert answer.evidence == {"via": "ui or api", "approver": "alice"}  # the UI can't say
    assert [e.step_id for e in entries if e.event == "step.succeeded"] == ["look", "go", "after"]
    assert entries[-1].event == "run.ended" and "succeeded" in (entries[-1].summary or "")
