"""The post-incident review as Markdown (also the Prefect artifact) and as a self-contained
HTML page (inline CSS, no script, no external resource; Jinja2 autoescape on)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, select_autoescape

from lifeboat.audit.review import Review
from lifeboat.audit.review_parts import human


def _clock(review: Review) -> Any:
    """Times as HH:MM:SS when the run stayed within one UTC day, else with the date."""
    moments = [t.ts for t in review.timeline] or [review.started]
    one_day = len({m.date() for m in moments}) == 1

    def clock(moment: datetime | None) -> str:
        if moment is None:
            return "-"
        return moment.strftime("%H:%M:%S" if one_day else "%Y-%m-%d %H:%M:%S")

    return clock


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
    return env


MARKDOWN = """\
# Post-incident review: {{ r.title }}

{{ r.what_happened }}

| | |
|---|---|
| Runbook | {{ r.runbook.id | cell }} {{ r.runbook.version | cell }} |
| Mode | {{ r.mode | cell }} |
| Reason | {{ r.reason | cell }} |
| Incident | {{ (r.incident or "-") | cell }} |
| Impact | {{ (r.impact or "-") | cell }} |
| Outcome | {{ r.outcome_text | cell }} |
| Detected | {{ r.detected_at.isoformat() if r.detected_at else "- (not given)" }} |
| Started | {{ r.started.isoformat() }} |
| Ended | {{ r.ended.isoformat() if r.ended else "- (unfinished)" }} |
| Duration | {{ r.duration_s | human }} |

{% if r.runbook_note %}
> **Note:** {{ r.runbook_note }}

{% endif %}
## Objectives and achieved

| Objective | Target | Achieved | Verdict | Measured |
|---|---|---|---|---|
{% for o in [r.rto, r.rpo] %}
| {{ o.name }} | {{ (o.target or "-") | cell }} | {{ (o.achieved or "-") | cell }} | \
{{ o.verdict }} | {{ o.basis | cell }} |
{% endfor %}

## Timeline (UTC)

{% for t in r.timeline %}
- **{{ clock(t.ts) }}** {{ t.text }}
{% endfor %}

## Steps

| Step | Kind | Status | Start | Duration | Attempts | Summary |
|---|---|---|---|---|---|---|
{% for s in r.steps %}
| {{ s.id | cell }} | {{ s.kind }} | {{ s.status }} | {{ clock(s.started) }} | \
{{ s.duration_s | human }} | {{ s.attempts }} | {{ s.summary | cell }} |
{% endfor %}

## Approvals

{% for a in r.approvals %}
- `{{ a.step_id }}`: **{{ a.verdict }}** by {{ a.actor or "nobody" }} at {{ clock(a.answered) }} \
(asked {{ clock(a.asked) }}){% if a.comment %}: "{{ a.comment }}"{% endif %}

{% else %}
No approval gate in this run.
{% endfor %}

## Checks and their evidence

| Check | Name | Result | Summary | Evidence |
|---|---|---|---|---|
{% for c in r.checks %}
| {{ c.step_id | cell }} | {{ c.name }} | {{ c.status }} | {{ c.summary | cell }} | \
{{ c.evidence | cell }} |
{% endfor %}

## Messages sent

Bodies are not journaled: each row names the channel and the subject sent.

| Time | Step | Stakeholder | Channel | Language | Subject | Status |
|---|---|---|---|---|---|---|
{% for m in r.messages %}
| {{ clock(m.ts) }} | {{ m.step_id | cell }}{% if m.automatic %} (automatic \
{{ m.stage }}){% endif %} | {{ m.stakeholder | cell }} | {{ m.channel | cell }} | \
{{ m.language | cell }} | {{ m.subject | cell }} | {{ m.status }} |
{% endfor %}

## Rollbacks

{% for b in r.rollbacks %}
- **{{ clock(b.ts) }}** `{{ b.step_id }}` {{ b.status }}: {{ b.summary }}
{% else %}
No rollback ran.
{% endfor %}

## Open questions

{% for q in r.open_questions %}
### {{ q }}

_To be answered._

{% endfor %}
## Record

| | |
|---|---|
| Run | `{{ r.run_id }}` |
| Runbook | {{ r.runbook.id }} {{ r.runbook.version }} ({{ r.runbook_path | cell }}) |
| Runbook sha256 | `{{ r.runbook.sha256 }}` |
| Git commit | `{{ r.runbook.git_commit or "-" }}` |
| Plan hash | `{{ r.plan_hash }}` |
| Journal | {{ r.journal_path | cell }} |
| Hash chain | {{ "intact" if r.journal_intact else "BROKEN: " ~ r.journal_problem }} |
"""

HTML = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Review: {{ r.title }}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;color:#1d2330;max-width:1180px;margin:2em auto;
 padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:2px solid #dfe3ea;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #dfe3ea;padding:.35em .55em;text-align:left;vertical-align:top}
th{background:#f3f5f8}tr:nth-child(even) td{background:#fafbfc}
code,.mono{font-family:ui-monospace,monospace;font-size:.88em}
td.mono,td code{white-space:nowrap}.hash{white-space:normal!important;word-break:break-all}
.succeeded,.passed,.sent,.met,.intact{color:#146c2e;font-weight:600}
.failed,.MISSED,.BROKEN{color:#b3261e;font-weight:600}.dim,.skipped{color:#677}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em .8em}
.lead{font-size:1.08em}.ev{font-size:.85em;color:#445;word-break:break-word}
ol.timeline{list-style:none;padding-left:0}ol.timeline li{padding:.15em 0}
.answer{min-height:3em;border:1px dashed #bbb;margin-bottom:1em}
</style></head><body>
<h1>Post-incident review: {{ r.title }}</h1>
<p class="lead">{{ r.what_happened }}</p>
{% if r.runbook_note %}<p class="note">{{ r.runbook_note }}</p>{% endif %}
<table>
<tr><th>Mode</th><td>{{ r.mode }}</td><th>Outcome</th>
<td class="{{ r.outcome }}">{{ r.outcome_text }}</td></tr>
<tr><th>Reason</th><td>{{ r.reason or "-" }}</td>
<th>Incident</th><td>{{ r.incident or "-" }}</td></tr>
<tr><th>Impact</th><td colspan="3">{{ r.impact or "-" }}</td></tr>
<tr><th>Detected</th><td>{{ r.detected_at.isoformat() if r.detected_at else "- (not given)" }}</td>
<th>Duration</th><td>{{ r.duration_s | human }}</td></tr>
<tr><th>Started</th><td>{{ r.started.isoformat() }}</td>
<th>Ended</th><td>{{ r.ended.isoformat() if r.ended else "- (unfinished)" }}</td></tr>
</table>
<h2>Objectives and achieved</h2>
<table><tr><th>Objective</th><th>Target</th><th>Achieved</th><th>Verdict</th><th>Measured</th></tr>
{% for o in [r.rto, r.rpo] %}
<tr><td>{{ o.name }}</td><td>{{ o.target or "-" }}</td><td>{{ o.achieved or "-" }}</td>
<td class="{{ o.verdict if o.met is not none else 'dim' }}">{{ o.verdict }}</td>
<td>{{ o.basis }}</td></tr>
{% endfor %}</table>
<h2>Timeline (UTC)</h2>
<ol class="timeline">
{% for t in r.timeline %}<li><span class="mono">{{ clock(t.ts) }}</span> {{ t.text }}</li>
{% endfor %}</ol>
<h2>Steps</h2>
<table><tr><th>Step</th><th>Kind</th><th>Status</th><th>Start</th><th>Duration</th>
<th>Attempts</th><th>Summary</th></tr>
{% for s in r.steps %}
<tr><td><code>{{ s.id }}</code></td><td>{{ s.kind }}</td>
<td class="{{ s.status }}">{{ s.status }}</td><td class="mono">{{ clock(s.started) }}</td>
<td>{{ s.duration_s | human }}</td><td>{{ s.attempts }}</td><td>{{ s.summary }}</td></tr>
{% endfor %}</table>
<h2>Approvals</h2>
{% if r.approvals %}<table><tr><th>Gate</th><th>Verdict</th><th>By</th><th>Asked</th>
<th>Answered</th><th>Comment</th></tr>
{% for a in r.approvals %}<tr><td><code>{{ a.step_id }}</code></td><td>{{ a.verdict }}</td>
<td>{{ a.actor or "nobody" }}</td><td class="mono">{{ clock(a.asked) }}</td>
<td class="mono">{{ clock(a.answered) }}</td><td>{{ a.comment }}</td></tr>
{% endfor %}</table>{% else %}<p>No approval gate in this run.</p>{% endif %}
<h2>Checks and their evidence</h2>
<table><tr><th>Check</th><th>Name</th><th>Result</th><th>Summary</th><th>Evidence</th></tr>
{% for c in r.checks %}<tr><td><code>{{ c.step_id }}</code></td><td>{{ c.name }}</td>
<td class="{{ c.status }}">{{ c.status }}</td><td>{{ c.summary }}</td>
<td class="ev">{{ c.evidence }}</td></tr>
{% endfor %}</table>
<h2>Messages sent</h2>
<p class="dim">Bodies are not journaled: each row names the channel and the subject sent.</p>
<table><tr><th>Time</th><th>Step</th><th>Stakeholder</th><th>Channel</th><th>Language</th>
<th>Subject</th><th>Status</th></tr>
{% for m in r.messages %}<tr><td class="mono">{{ clock(m.ts) }}</td>
<td><code>{{ m.step_id }}</code>{% if m.automatic %} (automatic {{ m.stage }}){% endif %}</td>
<td>{{ m.stakeholder }}</td><td>{{ m.channel }}</td><td>{{ m.language }}</td>
<td>{{ m.subject }}</td><td class="{{ m.status }}">{{ m.status }}</td></tr>
{% endfor %}</table>
<h2>Rollbacks</h2>
{% if r.rollbacks %}<ul>{% for b in r.rollbacks %}
<li><span class="mono">{{ clock(b.ts) }}</span> <code>{{ b.step_id }}</code>
<span class="{{ b.status }}">{{ b.status }}</span>: {{ b.summary }}</li>
{% endfor %}</ul>{% else %}<p>No rollback ran.</p>{% endif %}
<h2>Open questions</h2>
{% for q in r.open_questions %}<h3>{{ q }}</h3><div class="answer"></div>
{% endfor %}
<h2>Record</h2>
<table>
<tr><th>Run</th><td class="mono hash">{{ r.run_id }}</td></tr>
<tr><th>Runbook</th><td>{{ r.runbook.id }} {{ r.runbook.version }} ({{ r.runbook_path }})</td></tr>
<tr><th>Runbook sha256</th><td class="mono hash">{{ r.runbook.sha256 }}</td></tr>
<tr><th>Git commit</th><td class="mono hash">{{ r.runbook.git_commit or "-" }}</td></tr>
<tr><th>Plan hash</th><td class="mono hash">{{ r.plan_hash }}</td></tr>
<tr><th>Journal</th><td class="mono hash">{{ r.journal_path }}</td></tr>
<tr><th>Hash chain</th><td class="{{ 'intact' if r.journal_intact else 'BROKEN' }}">\
{{ "intact" if r.journal_intact else "BROKEN: " ~ r.journal_problem }}</td></tr>
</table>
</body></html>
"""


def markdown(review: Review) -> str:
    return _env(False).from_string(MARKDOWN).render(r=review, clock=_clock(review))


def html(review: Review) -> str:
    return _env(True).from_string(HTML).render(r=review, clock=_clock(review))


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
