"""The review's pictures and times: the HTML draws the run as an SVG timeline (one bar per
step, the outage and the approval waits shaded), and times read as times."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lifeboat.audit.render_review import html, markdown
from lifeboat.audit.review import build
from lifeboat.engine import InlineExecutor, execute
from lifeboat.redact import Redactor
from tests.conftest import run_context
from tests.lifeboat.audit.test_review import RUNBOOK, aws, run

__all__ = ["aws"]  # the fixture, imported to be used here
NS = "{http://www.w3.org/2000/svg}"


def timeline_svg(page: str) -> ET.Element:
    """The page's inline SVG, parsed as XML: it must be well-formed to parse."""
    start = page.index("<svg")
    return ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])


def rects(root: ET.Element, kind: str) -> list[ET.Element]:
    return [r for r in root.iter(f"{NS}rect") if kind in (r.get("class") or "").split()]


def test_the_html_review_draws_the_run_as_a_timeline(tmp_path: Path, aws: tuple[str, str]) -> None:
    review = build(run(tmp_path, aws), Redactor())
    root = timeline_svg(html(review))
    bars = rects(root, "bar")
    assert [b.get("data-step") for b in bars] == [s.id for s in review.steps]
    assert all("succeeded" in (b.get("class") or "") for b in bars)
    assert all(float(b.get("width") or 0) >= 2 for b in bars)
    starts = {b.get("data-step"): float(b.get("x") or 0) for b in bars}
    assert starts["validate"] > starts["fresh"]  # later steps further right: a time axis
    (outage,) = rects(root, "outage")
    title = outage.findtext(f"{NS}title") or ""
    assert title.startswith("outage: from the run's start") and "end of the validation" in title
    assert rects(root, "approval-wait") == []  # approved inline in advance: never asked
    assert any(t.text == "UTC" for t in root.iter(f"{NS}text"))


def test_the_outage_is_shaded_from_detection(tmp_path: Path, aws: tuple[str, str]) -> None:
    detected = datetime.now(UTC) - timedelta(minutes=10)
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(bucket=aws[0], zone=aws[1], rpo="1h"), encoding="utf-8")
    ctx = run_context(path)
    ctx.auto_approver, ctx.detected_at = "alice", detected.isoformat()
    review = build(Path(execute(ctx, InlineExecutor(ctx)).journal), Redactor())
    root = timeline_svg(html(review))
    (outage,) = rects(root, "outage")
    bars = rects(root, "bar")
    # Detection is the earliest moment: the shading starts left of every bar.
    assert float(outage.get("x") or 0) < min(float(b.get("x") or 0) for b in bars)
    assert f"from detection {detected:%H:%M:%S} UTC" in (outage.findtext(f"{NS}title") or "")


def rows(text: str, *names: str) -> dict[str, str]:
    found: dict[str, Any] = {}
    for line in text.splitlines():
        for name in names:
            if line.startswith(f"| {name} |"):
                found[name] = line
    return found


def test_times_read_as_times(tmp_path: Path, aws: tuple[str, str]) -> None:
    review = build(run(tmp_path, aws), Redactor())
    text = markdown(review)
    head = rows(text, "Started", "Ended")
    moment = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert re.fullmatch(rf"\| Started \| {moment} \|", head["Started"]), head
    assert re.fullmatch(rf"\| Ended \| {moment} \|", head["Ended"]), head
    timeline = [line for line in text.splitlines() if line.startswith("- **")]
    assert timeline and all(re.match(r"- \*\*\d\d:\d\d:\d\d UTC\*\* ", x) for x in timeline)
    page = html(review)
    assert "+00:00" not in page.split("<h2>Checks")[0]  # evidence keeps its ISO values
    assert re.search(r'<span class="mono">\d\d:\d\d:\d\d UTC</span>', page)
