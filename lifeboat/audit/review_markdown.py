"""The Markdown template of the post-incident review (also the Prefect artifact).

Rendered by ``render_review`` with ``r`` (the ``Review``) and filters: ``clock`` (a time
as ``02:04:39 UTC``), ``moment`` (with its date), ``cell`` (a table cell), ``human`` (a
duration) and ``fence`` (a code fence longer than any backtick run in the text).
"""

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
| Detected | {{ moment(r.detected_at) if r.detected_at else "- (not given)" }} |
| Started | {{ moment(r.started) }} |
| Ended | {{ moment(r.ended) if r.ended else "- (unfinished)" }} |
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
- `{{ a.step_id }}`: **{{ a.verdict }}** by {{ a.actor or "nobody" }}, via {{ a.via }}, \
at {{ clock(a.answered) }} (asked {{ clock(a.asked) }}){% if a.comment %}: \
"{{ a.comment }}"{% endif %}

{% else %}
No approval gate in this run.
{% endfor %}

## Actions: what each changed, and its rollback

{% for x in r.actions %}
### `{{ x.step_id }}` {{ x.name or "action" }}: {{ x.status }}, {{ x.rollback_words }}

- Inputs: {{ x.inputs or "-" }}
- Result: {{ x.summary or "-" }}
{% for note in x.notes %}
- {{ note }}
{% endfor %}
{% if x.changes %}

| Changed | Before | After | From | sha256 | Kept aside |
|---|---|---|---|---|---|
{% for c in x.changes %}
| {{ c.what | cell }} | {{ c.before | cell }} | {{ c.after | cell }} | \
{{ c.source | cell }} | {{ c.checksum | cell }} | {{ c.kept_aside | cell }} |
{% endfor %}

{% elif x.changes is none and x.evidence %}
- Evidence (this action records no list of changes): {{ x.evidence }}
{% elif x.status == "succeeded" %}
- Changed nothing.
{% endif %}
{% if x.undo %}
- Undo it left: {{ x.undo }}
{% endif %}
{% if x.rollback %}
- Rollback ({{ x.rollback_call }}): **{{ x.rollback.status }}** \
at {{ clock(x.rollback.ended or x.rollback.started) }}: {{ x.rollback.summary or "-" }}
{% if x.rollback.changes %}

| Rollback changed | Before | After | From | sha256 | Kept aside |
|---|---|---|---|---|---|
{% for c in x.rollback.changes %}
| {{ c.what | cell }} | {{ c.before | cell }} | {{ c.after | cell }} | \
{{ c.source | cell }} | {{ c.checksum | cell }} | {{ c.kept_aside | cell }} |
{% endfor %}
{% endif %}
{% endif %}

{% else %}
No action in this run.

{% endfor %}
## Checks and their evidence

| Check | Name | Result | Summary | Evidence |
|---|---|---|---|---|
{% for c in r.checks %}
| {{ c.step_id | cell }} | {{ c.name }} | {{ c.status }} | {{ c.summary | cell }} | \
{{ c.evidence | cell }} |
{% endfor %}

## Messages sent

| Time | Step | Stage | Stakeholder | Channel | Language | Subject | Status |
|---|---|---|---|---|---|---|---|
{% for m in r.messages %}
| {{ clock(m.ts) }} | {{ m.step_id | cell }}{% if m.automatic %} (automatic){% endif %} | \
{{ (m.stage or "-") | cell }} | {{ m.stakeholder | cell }} | {{ m.channel | cell }} | \
{{ m.language | cell }} | {{ m.subject | cell }} | {{ m.status }} |
{% endfor %}

{% for m in r.messages %}
### {{ clock(m.ts) }} `{{ m.step_id }}` {{ m.stage }} to {{ m.stakeholder }} by \
{{ m.channel }} ({{ m.language or "-" }}): {{ m.status }}

Receipt: {{ m.status }}{% if m.attempts %} after {{ m.attempts }} attempt\
{{ "s" if m.attempts != 1 else "" }}{% endif %}{% if m.target %} to {{ m.target }}{% endif %}\
{% if m.why %}; {{ m.why }}{% endif %}


Subject: {{ m.subject or "-" }}

{% if m.body is not none %}
{{ m.body | fence }}
{% else %}
_The body was not journaled by the Lifeboat version that ran._
{% endif %}

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
| Git commit | {{ git | cell }} |
| Plan hash | `{{ r.plan_hash }}` |
| Journal | {{ r.journal_path | cell }} |
| Hash chain | {{ "intact" if r.journal_intact else "BROKEN: " ~ r.journal_problem }} |
{% if r.record %}
| Signed digest | {{ r.record.signature | cell }} (checked {{ moment(r.record.checked_at) }}) |
| Off-site copy | {{ r.record.offsite | cell }} (checked {{ moment(r.record.checked_at) }}) |
{% endif %}
"""
