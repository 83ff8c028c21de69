"""The post-incident review as Markdown (also the Prefect artifact) and as a self-contained
HTML page (inline CSS and SVG, no script, no external resource; Jinja2 autoescape on).

The templates are in ``review_markdown`` and ``review_html``; the HTML's timeline chart is
drawn by ``timeline_chart``. Times read as times: ``02:04:39 UTC``, with the date when
the run spans several days, and always in the page's header fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from lifeboat.audit.review import Review
from lifeboat.audit.review_html import HTML
from lifeboat.audit.review_markdown import MARKDOWN
from lifeboat.audit.review_parts import human
from lifeboat.audit.timeline_chart import chart


def moment(value: datetime | None) -> str:
    """``2026-12-07 02:04:39 UTC``."""
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _clock(review: Review) -> Any:
    """Times as ``02:04:39 UTC`` when the run stayed within one UTC day, else with the date."""
    moments = [t.ts for t in review.timeline] or [review.started]
    one_day = len({m.astimezone(UTC).date() for m in moments}) == 1

    def clock(value: datetime | None) -> str:
        if value is None:
            return "-"
        return f"{value.astimezone(UTC):%H:%M:%S} UTC" if one_day else moment(value)

    return clock


def git_words(review: Review) -> str:
    """The runbook's commit as the record shows it, and whether the file was committed."""
    commit, dirty = review.runbook.git_commit, review.runbook.git_dirty
    if commit is None:
        if dirty:
            return "- (the file is in a git checkout but was never committed)"
        return "- (not in a git checkout when it ran)"
    if dirty:
        return f"{commit} (the file had uncommitted changes when it ran: see its sha256)"
    return commit


def fence(text: str) -> str:
    """``text`` in a Markdown code block whose fence no backtick run inside can close."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def _state(ok: bool | None) -> str:
    """The HTML class of a check's answer: passed, failed, or not checked."""
    if ok is None:
        return "dim"
    return "ok" if ok else "bad"


def _cell(value: object) -> str:
    """A Markdown table cell: no pipe or line break may end the cell early."""
    return " ".join(str(value if value is not None else "-").split()).replace("|", "\\|")


def _env(html: bool) -> Environment:
    env = Environment(  # Markdown is not HTML: escaping it would show &amp; to readers
        autoescape=select_autoescape(default_for_string=html),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = _cell
    env.filters["human"] = human
    env.filters["fence"] = fence
    env.filters["state"] = _state
    return env


def _context(review: Review) -> dict[str, Any]:
    return {"r": review, "clock": _clock(review), "moment": moment, "git": git_words(review)}


def markdown(review: Review) -> str:
    return _env(False).from_string(MARKDOWN).render(**_context(review))


def html(review: Review) -> str:
    drawn = Markup(chart(review))  # noqa: S704 - every text in it is escaped where drawn
    return _env(True).from_string(HTML).render(**_context(review), chart=drawn)


def render(review: Review, format: str) -> str:
    if format not in ("md", "html"):
        raise ValueError(f"format must be md or html, not {format!r}")
    return markdown(review) if format == "md" else html(review)


def step_table(review: Review) -> list[dict[str, str]]:
    """The steps as rows for a Prefect table artifact."""
    clock = _clock(review)
    return [
        {
            "step": s.id,
            "kind": s.kind,
            "status": s.status,
            "start": clock(s.started),
            "duration": human(s.duration_s),
            "summary": s.summary,
        }
        for s in review.steps
    ]
