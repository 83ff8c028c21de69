"""The run as a picture for the HTML review: one bar per step on a time axis (UTC), the
outage shaded from detection to the end of the validation, approval waits shaded, and each
rollback drawn in its step's row. Inline SVG: no script, no external resource.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lifeboat.audit import svg
from lifeboat.audit.review import Review
from lifeboat.audit.review_parts import Step, human

WIDTH, LABELS, RIGHT, TOP, ROW, BAR, LEGEND = 1100, 190, 24, 34, 22, 14, 34
COLORS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "started": "#ef6c00",
    "rollback": "#6a1b9a",
}
OUTAGE, WAIT = "#fde4e1", "#fff1b8"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M:%S} UTC"


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.seconds = max((end - start).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        share = (moment - self.start).total_seconds() / self.seconds
        return LABELS + max(0.0, min(1.0, share)) * (WIDTH - LABELS - RIGHT)


def _span(review: Review) -> tuple[datetime, datetime]:
    moments = [review.started, *(t.ts for t in review.timeline)]
    moments += [m for s in review.steps for m in (s.started, s.ended) if m is not None]
    if review.detected_at is not None:
        moments.append(review.detected_at)
    if review.ended is not None:
        moments.append(review.ended)
    return min(moments), max(moments)


def _band(
    scale: _Scale,
    span: tuple[datetime, datetime],
    height: float,
    *,
    kind: str,
    title: str,
    color: str,
) -> str:
    left, right = scale.x(span[0]), scale.x(span[1])
    width = svg.num(max(right - left, 1))
    return (
        f'<rect class="{kind}" x="{svg.num(left)}" y="{TOP}" width="{width}"'
        f' height="{svg.num(height)}" fill="{color}"><title>{svg.text(title)}</title></rect>'
    )


def chart(review: Review) -> str:
    """The SVG of the run's timeline."""
    first, last = _span(review)
    scale = _Scale(first, last)
    rows = len(review.steps)
    body = rows * ROW + 6
    height = TOP + body + LEGEND
    parts = [svg.open_svg(WIDTH, height, f"Timeline of run {review.run_id}")]
    parts.append(f'<rect width="{WIDTH}" height="{svg.num(height)}" fill="#ffffff"/>')
    parts += _shading(review, scale, body, last)
    parts += _axis(scale, first, last, body)
    for index, step in enumerate(review.steps):
        parts += _row(review, scale, index, step, last)
    parts += _legend(TOP + body + 12)
    parts.append("</svg>")
    return "\n".join(parts)


def _shading(review: Review, scale: _Scale, body: float, last: datetime) -> list[str]:
    begin = review.detected_at or review.started
    since = "detection" if review.detected_at else "the run's start (no detection time given)"
    if review.validated_at is not None:
        end, until = review.validated_at, "the end of the validation"
    else:
        end, until = review.ended or last, "the run's end, never validated"
    lasted = human((end - begin).total_seconds())
    title = f"outage: from {since} {_utc(begin)} to {until} {_utc(end)} ({lasted})"
    parts = [_band(scale, (begin, end), body, kind="outage", title=title, color=OUTAGE)]
    for approval in review.approvals:
        if approval.asked is None:
            continue
        done = approval.answered or review.ended or last
        wait = (done - approval.asked).total_seconds()
        said = f"waiting for approval '{approval.step_id}': {human(wait)}, {approval.verdict}"
        waited = (approval.asked, done)
        parts.append(_band(scale, waited, body, kind="approval-wait", title=said, color=WAIT))
    return parts


def _axis(scale: _Scale, first: datetime, last: datetime, body: float) -> list[str]:
    parts = []
    span = last - first
    for tick in svg.time_ticks(first, last):
        x = svg.num(scale.x(tick))
        parts.append(
            f'<line class="tick" x1="{x}" y1="{TOP - 4}" x2="{x}" y2="{svg.num(TOP + body)}" '
            'stroke="#d5dae3" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x}" y="{TOP - 8}" text-anchor="middle" fill="#445">'
            f"{svg.text(svg.time_label(tick, span))}</text>"
        )
    parts.append(f'<text x="4" y="{TOP - 8}" fill="#445">UTC</text>')
    return parts


def _row(review: Review, scale: _Scale, index: int, step: Step, last: datetime) -> list[str]:
    y = TOP + 3 + index * ROW
    start = step.started or step.ended or last
    end = step.ended or review.ended or last
    left, right = scale.x(start), scale.x(end)
    color = COLORS.get(step.status, COLORS["started"])
    took = human(step.duration_s) if step.duration_s is not None else "did not end"
    title = f"{step.id} ({step.kind}): {step.status}, {took}, from {_utc(start)}"
    label = step.id if len(step.id) <= 26 else step.id[:25] + "…"
    parts = [
        f'<text x="{LABELS - 8}" y="{svg.num(y + BAR - 3)}" text-anchor="end" fill="#1d2330">'
        f"{svg.text(label)}</text>",
        f'<rect class="bar {svg.text(step.status)}" data-step={svg.attr(step.id)} '
        f'x="{svg.num(left)}" y="{svg.num(y)}" width="{svg.num(max(right - left, 2))}" '
        f'height="{BAR}" rx="2" fill="{color}"><title>{svg.text(title)}</title></rect>',
    ]
    action = next((a for a in review.actions if a.step_id == step.id), None)
    undo = action.rollback if action is not None else None
    if undo is not None and undo.started is not None:
        stop = undo.ended or review.ended or last
        left, right = scale.x(undo.started), scale.x(stop)
        said = f"rollback of {step.id} ({undo.action}): {undo.status}, from {_utc(undo.started)}"
        parts.append(
            f'<rect class="rollback {svg.text(undo.status)}" data-step={svg.attr(step.id)} '
            f'x="{svg.num(left)}" y="{svg.num(y + 3)}" width="{svg.num(max(right - left, 2))}" '
            f'height="{BAR - 6}" fill="{COLORS["rollback"]}"><title>{svg.text(said)}</title>'
            "</rect>"
        )
    return parts


def _legend(y: float) -> list[str]:
    items = [
        ("succeeded", COLORS["succeeded"]),
        ("failed", COLORS["failed"]),
        ("skipped", COLORS["skipped"]),
        ("did not end", COLORS["started"]),
        ("rollback", COLORS["rollback"]),
        ("outage (detection to validation)", OUTAGE),
        ("waiting for approval", WAIT),
    ]
    parts, x = [], float(LABELS)
    for name, color in items:
        parts.append(
            f'<rect x="{svg.num(x)}" y="{svg.num(y)}" width="12" height="12" fill="{color}" '
            'stroke="#99a"/>'
        )
        parts.append(f'<text x="{svg.num(x + 16)}" y="{svg.num(y + 10)}">{svg.text(name)}</text>')
        x += 28 + 6.2 * len(name)
    return parts
