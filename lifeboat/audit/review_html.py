"""The HTML template of the post-incident review: one self-contained page (inline CSS and
SVG, no script, no external resource), rendered by ``render_review`` with autoescape on.

``chart`` is the run's timeline as SVG (``timeline_chart``), escaped where it was drawn.
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
h3{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #dfe3ea;padding:.35em .55em;text-align:left;vertical-align:top}
th{background:#f3f5f8}tr:nth-child(even) td{background:#fafbfc}
code,.mono{font-family:ui-monospace,monospace;font-size:.88em}
td.mono,td code{white-space:nowrap}.hash{white-space:normal!important;word-break:break-all}
.succeeded,.passed,.sent,.met,.intact,.ok{color:#146c2e;font-weight:600}
.failed,.MISSED,.BROKEN,.bad{color:#b3261e;font-weight:600}.dim,.skipped{color:#677}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em .8em}
.lead{font-size:1.08em}.ev{font-size:.85em;color:#445;word-break:break-word}
ol.timeline{list-style:none;padding-left:0}ol.timeline li{padding:.15em 0}
.chart{overflow-x:auto;border:1px solid #dfe3ea;padding:.4em 0;margin:.6em 0}
.action{border-left:4px solid #dfe3ea;padding:.1em .9em;margin:.8em 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.4em 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;word-break:break-word}
.message{border:1px solid #dfe3ea;border-radius:4px;padding:.4em .8em;margin:.8em 0}
pre.body{white-space:pre-wrap;background:#f6f7f9;padding:.6em .8em;margin:.4em 0;
 font:13px/1.45 ui-monospace,monospace}
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
<tr><th>Detected</th><td>{{ moment(r.detected_at) if r.detected_at else "- (not given)" }}</td>
<th>Duration</th><td>{{ r.duration_s | human }}</td></tr>
<tr><th>Started</th><td>{{ moment(r.started) }}</td>
<th>Ended</th><td>{{ moment(r.ended) if r.ended else "- (unfinished)" }}</td></tr>
</table>
<h2>Objectives and achieved</h2>
<table><tr><th>Objective</th><th>Target</th><th>Achieved</th><th>Verdict</th><th>Measured</th></tr>
{% for o in [r.rto, r.rpo] %}
<tr><td>{{ o.name }}</td><td>{{ o.target or "-" }}</td><td>{{ o.achieved or "-" }}</td>
<td class="{{ o.css }}">{{ o.verdict }}</td>
<td>{{ o.basis }}</td></tr>
{% endfor %}</table>
<h2>Timeline (UTC)</h2>
<figure class="chart">{{ chart }}</figure>
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
{% if r.approvals %}<table><tr><th>Gate</th><th>Verdict</th><th>By</th><th>Via</th>
<th>Asked</th><th>Answered</th><th>Comment</th></tr>
{% for a in r.approvals %}<tr><td><code>{{ a.step_id }}</code></td><td>{{ a.verdict }}</td>
<td>{{ a.actor or "nobody" }}</td><td>{{ a.via }}</td><td class="mono">{{ clock(a.asked) }}</td>
<td class="mono">{{ clock(a.answered) }}</td><td>{{ a.comment }}</td></tr>
{% endfor %}</table>{% else %}<p>No approval gate in this run.</p>{% endif %}
<h2>Actions: what each changed, and its rollback</h2>
{% for x in r.actions %}<section class="action">
<h3><code>{{ x.step_id }}</code> {{ x.name or "action" }}:
<span class="{{ x.status }}">{{ x.status }}</span>, {{ x.rollback_words }}</h3>
<dl class="facts"><dt>Inputs</dt><dd class="ev">{{ x.inputs or "-" }}</dd>
<dt>Result</dt><dd>{{ x.summary or "-" }}</dd>
{% for note in x.notes %}<dt>Note</dt><dd>{{ note }}</dd>{% endfor %}
{% if x.changes is none and x.evidence %}<dt>Evidence</dt><dd class="ev">{{ x.evidence }}</dd>
{% endif %}
{% if x.undo %}<dt>Undo it left</dt><dd class="ev">{{ x.undo }}</dd>{% endif %}
{% if x.rollback %}<dt>Rollback</dt><dd><span class="ev">{{ x.rollback_call }}</span>:
<span class="{{ x.rollback.status }}">{{ x.rollback.status }}</span>
at <span class="mono">{{ clock(x.rollback.ended or x.rollback.started) }}</span>:
{{ x.rollback.summary or "-" }}</dd>{% endif %}
</dl>
{% for title, rows in [("Changed", x.changes or []), ("Rollback changed",
   (x.rollback.changes or []) if x.rollback else [])] if rows %}
<table><tr><th>{{ title }}</th><th>Before</th><th>After</th><th>From</th><th>sha256</th>
<th>Kept aside</th></tr>
{% for c in rows %}<tr><td class="hash">{{ c.what }}</td><td>{{ c.before or "-" }}</td>
<td>{{ c.after or "-" }}</td><td class="hash">{{ c.source or "-" }}</td>
<td class="mono hash">{{ c.checksum or "-" }}</td><td class="hash">{{ c.kept_aside or "-" }}</td>
</tr>{% endfor %}</table>
{% endfor %}
</section>
{% else %}<p>No action in this run.</p>{% endfor %}
<h2>Checks and their evidence</h2>
<table><tr><th>Check</th><th>Name</th><th>Result</th><th>Summary</th><th>Evidence</th></tr>
{% for c in r.checks %}<tr><td><code>{{ c.step_id }}</code></td><td>{{ c.name }}</td>
<td class="{{ c.status }}">{{ c.status }}</td><td>{{ c.summary }}</td>
<td class="ev">{{ c.evidence }}</td></tr>
{% endfor %}</table>
<h2>Messages sent</h2>
{% for m in r.messages %}<section class="message">
<h3><span class="mono">{{ clock(m.ts) }}</span> <code>{{ m.step_id }}</code>
{{ m.stage }}{% if m.automatic %} (automatic){% endif %} to {{ m.stakeholder }}
by {{ m.channel }} ({{ m.language or "-" }}):
<span class="{{ m.status }}">{{ m.status }}</span></h3>
<dl class="facts"><dt>Receipt</dt><dd>{{ m.status }}{% if m.attempts %} after {{ m.attempts }}
attempt{{ "s" if m.attempts != 1 else "" }}{% endif %}{% if m.target %} to
<span class="mono hash">{{ m.target }}</span>{% endif %}{% if m.why %}; {{ m.why }}{% endif %}
</dd><dt>Subject</dt><dd>{{ m.subject or "-" }}</dd></dl>
{% if m.body is not none %}<pre class="body">{{ m.body }}</pre>
{% else %}<p class="dim">The body was not journaled by the Lifeboat version that ran.</p>
{% endif %}</section>
{% else %}<p>No message in this run.</p>{% endfor %}
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
<tr><th>Git commit</th><td class="mono hash">{{ git }}</td></tr>
<tr><th>Plan hash</th><td class="mono hash">{{ r.plan_hash }}</td></tr>
<tr><th>Journal</th><td class="mono hash">{{ r.journal_path }}</td></tr>
<tr><th>Hash chain</th><td class="{{ 'intact' if r.journal_intact else 'BROKEN' }}">\
{{ "intact" if r.journal_intact else "BROKEN: " ~ r.journal_problem }}</td></tr>
{% if r.record %}
<tr><th>Signed digest</th><td><span class="{{ r.record.signature_ok | state }}">\
{{ r.record.signature }}</span> (checked {{ moment(r.record.checked_at) }})</td></tr>
<tr><th>Off-site copy</th><td><span class="{{ r.record.offsite_ok | state }}">\
{{ r.record.offsite }}</span> (checked {{ moment(r.record.checked_at) }})</td></tr>
{% endif %}
</table>
</body></html>
"""
