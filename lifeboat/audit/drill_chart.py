"""``audit drills``' chart: RTO and RPO of every drill of each runbook, against its objectives.

Each drill's RTO and RPO are measured from its journal by ``objectives``, the code the
post-incident review uses, so the chart and the reviews never disagree. The objectives are
the runbook's as it is now (its file, found by the newest run naming one). A drill that did
not succeed achieved neither: it is drawn as a cross on the axis, not as a point.

One SVG file, no script: a row per runbook, its RTO on the left and its RPO on the right,
time running left to right, the objective as a dashed line.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from lifeboat.audit import objectives, svg
from lifeboat.audit.review_parts import human, spec_names
from lifeboat.audit.run_records import Filters, RunRecord, runs
from lifeboat.journal import read

PANEL_W, PANEL_H, GAP, LEFT, BOTTOM, TOP, HEAD = 540, 170, 30, 58, 30, 44, 46
POINT, CROSS, TARGET = "#1565c0", "#c62828", "#c62828"
LEGEND = "● a drill (red: objective missed) · × a failed drill: not achieved · - - objective"


class DrillPoint(BaseModel):
    run_id: str
    started: datetime
    ok: bool
    rto_s: float | None  # None: not achieved (the drill failed) or not measured
    rpo_s: float | None


class DrillSeries(BaseModel):
    runbook_id: str
    rto_target_s: float | None
    rpo_target_s: float | None
    points: list[DrillPoint]  # oldest first


def all_series(runs_dir: Path, since: datetime | None) -> list[DrillSeries]:
    """Per runbook with drills started since ``since``, its drills' RTO and RPO."""
    by_runbook: dict[str, list[RunRecord]] = {}
    for record in runs(runs_dir, Filters(mode="drill", since=since)):
        by_runbook.setdefault(record.runbook_id, []).append(record)
    return [series_of(name, records) for name, records in sorted(by_runbook.items())]


def series_of(runbook_id: str, drilled: list[RunRecord]) -> DrillSeries:
    """The chart's data for one runbook's drills."""
    rto_target, rpo_target = targets(drilled)
    points = [_point(record) for record in sorted(drilled, key=lambda r: r.started)]
    return DrillSeries(
        runbook_id=runbook_id, rto_target_s=rto_target, rpo_target_s=rpo_target, points=points
    )


def targets(records: list[RunRecord]) -> tuple[float | None, float | None]:
    """(RTO, RPO) objectives in seconds from the runbook's current file (None: not set)."""
    from lifeboat.runbook.types import parse_duration

    for record in sorted(records, key=lambda r: r.started, reverse=True):
        path = Path(record.runbook_path or "")
        if not record.runbook_path or not path.is_file():
            continue
        try:
            data: Any = yaml.safe_load(path.read_bytes())
        except (OSError, yaml.YAMLError):
            continue
        wanted = data.get("objectives") if isinstance(data, dict) else None
        if not isinstance(wanted, dict):
            return None, None
        found: list[float | None] = []
        for name in ("rto", "rpo"):
            try:
                found.append(parse_duration(str(wanted[name])).total_seconds())
            except (KeyError, ValueError):
                found.append(None)
        return found[0], found[1]
    return None, None


def _point(record: RunRecord) -> DrillPoint:
    ok = record.status == "ok"
    try:
        entries = read(Path(record.journal))
    except (OSError, ValueError):  # unreadable since it was listed: drawn as not measured
        return DrillPoint(
            run_id=record.run_id, started=record.started, ok=ok, rto_s=None, rpo_s=None
        )
    outcome = "succeeded" if ok else "failed" if record.status == "failed" else "unfinished"
    end = next((e.ts for e in reversed(entries) if e.event == "run.ended"), None)
    detected = objectives.parse_moment(entries[0].inputs.get("detected_at")) if entries else None
    rto = objectives.rto(entries, detected, end, outcome, None) if entries else None
    rpo = objectives.rpo(entries, spec_names(entries), end, outcome, None) if entries else None
    return DrillPoint(
        run_id=record.run_id,
        started=record.started,
        ok=ok,
        rto_s=rto.achieved_s if rto else None,
        rpo_s=rpo.achieved_s if rpo else None,
    )


def write(path: Path, all_series: list[DrillSeries], window: str) -> Path:
    """Write the chart to ``path`` (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(chart(all_series, window))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def chart(all_series: list[DrillSeries], window: str) -> str:
    width = LEFT + 2 * (PANEL_W + GAP)
    row = HEAD + PANEL_H + BOTTOM
    height = TOP + max(len(all_series), 1) * row
    title = (
        f"RTO and RPO of each drill against the runbook's objectives (drills of the last {window})"
    )
    parts = [
        svg.open_svg(width, height, title),
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    parts.append(f'<text x="8" y="20" font-size="14" font-weight="600">{svg.text(title)}</text>')
    parts.append(f'<text x="8" y="38" fill="#445">{svg.text(LEGEND)}</text>')
    for index, series in enumerate(all_series):
        top = TOP + index * row
        drills = len(series.points)
        passed = sum(p.ok for p in series.points)
        heading = f"{series.runbook_id}: {drills} drill{'s' * (drills != 1)}, {passed} passed"
        parts.append(
            f'<text class="runbook" x="8" y="{top + 22}" font-size="13" font-weight="600">'
            f"{svg.text(heading)}</text>"
        )
        for column, (name, target) in enumerate(
            (("RTO", series.rto_target_s), ("RPO", series.rpo_target_s))
        ):
            left = LEFT + column * (PANEL_W + GAP)
            parts += _panel(series, name, target, left, top + HEAD)
    parts.append("</svg>")
    return "\n".join(parts)


def _panel(
    series: DrillSeries, name: str, target: float | None, left: float, top: float
) -> list[str]:
    return _Panel(series, name, target, left, top).draw()


class _Panel:
    """One objective's chart for one runbook: its axes, objective line and drills."""

    def __init__(
        self, series: DrillSeries, name: str, target: float | None, left: float, top: float
    ) -> None:
        self.series, self.name, self.target, self.left, self.top = series, name, target, left, top
        self.values = [p.rto_s if name == "RTO" else p.rpo_s for p in series.points]
        highest = [v for v in self.values if v is not None] + ([target] if target else [])
        self.ticks = svg.duration_ticks(max([*highest, 1.0]) * 1.1, 4)
        self.y_max = self.ticks[-1] or 1.0
        moments = [p.started for p in series.points] or [datetime.now(UTC)]
        self.first, self.last = moments[0], moments[-1]
        self.goal = f"objective {svg.duration_label(target)}" if target else "no objective set"

    def x(self, moment: datetime) -> float:
        inner = PANEL_W - 36
        if self.last == self.first:
            return self.left + 18 + inner / 2
        share = (moment - self.first).total_seconds() / (self.last - self.first).total_seconds()
        return self.left + 18 + share * inner

    def y(self, value: float) -> float:
        return self.top + PANEL_H - value / self.y_max * PANEL_H

    def draw(self) -> list[str]:
        left, top, right = self.left, self.top, self.left + PANEL_W
        runbook = svg.attr(self.series.runbook_id)
        parts = [
            f'<g class="panel {self.name.lower()}" data-runbook={runbook}>',
            f'<text x="{left}" y="{top - 8}" font-weight="600">'
            f"{self.name} per drill ({svg.text(self.goal)})</text>",
            f'<rect x="{left}" y="{top}" width="{PANEL_W}" height="{PANEL_H}" fill="none" '
            'stroke="#c9ced8"/>',
        ]
        for tick in self.ticks:
            ty = svg.num(self.y(tick))
            parts.append(f'<line x1="{left}" y1="{ty}" x2="{right}" y2="{ty}" stroke="#eef0f4"/>')
            parts.append(
                f'<text x="{left - 6}" y="{ty}" dy="4" text-anchor="end" fill="#445">'
                f"{svg.text(svg.duration_label(tick))}</text>"
            )
        if self.target:
            ty = svg.num(self.y(self.target))
            parts.append(
                f'<line class="objective" x1="{left}" y1="{ty}" x2="{right}" y2="{ty}" '
                f'stroke="{TARGET}" stroke-dasharray="6 4" stroke-width="1.5">'
                f"<title>{svg.text(self.goal)}</title></line>"
            )
        parts += self._points()
        dates = [(self.first, "start"), (self.last, "end")]
        if self.first == self.last:
            dates = [(self.first, "middle")]
        for moment, anchor in dates:  # the first date to the left, the last to the right
            parts.append(
                f'<text x="{svg.num(self.x(moment))}" y="{top + PANEL_H + 16}" '
                f'text-anchor="{anchor}" fill="#445">{moment:%Y-%m-%d}</text>'
            )
        parts.append("</g>")
        return parts

    def _points(self) -> list[str]:
        pairs = list(zip(self.series.points, self.values, strict=True))
        line = [
            f"{svg.num(self.x(p.started))},{svg.num(self.y(v))}" for p, v in pairs if v is not None
        ]
        parts = []
        if len(line) > 1:
            parts.append(
                f'<polyline points="{" ".join(line)}" fill="none" stroke="{POINT}" '
                'stroke-width="1.5"/>'
            )
        for point, value in pairs:
            parts.append(self._missing(point) if value is None else self._point(point, value))
        return parts

    def _missing(self, point: DrillPoint) -> str:
        """A cross on the axis: the drill achieved nothing to draw."""
        why = "not achieved: the drill failed" if not point.ok else "not measured"
        cx, cy = self.x(point.started), self.top + PANEL_H - 6
        said = f"{point.run_id}, {point.started:%Y-%m-%d %H:%M} UTC: {self.name} {why}"
        return (
            f'<g class="point {self.name.lower()} missing" data-run={svg.attr(point.run_id)}>'
            f'<path d="M{svg.num(cx - 5)},{svg.num(cy - 5)} l10,10 m0,-10 l-10,10" '
            f'stroke="{CROSS}" stroke-width="2"/><title>{svg.text(said)}</title></g>'
        )

    def _point(self, point: DrillPoint, value: float) -> str:
        target = self.target
        verdict = "" if not target else " (met)" if value <= target else " (MISSED)"
        said = (
            f"{point.run_id}, {point.started:%Y-%m-%d %H:%M} UTC: {self.name} "
            f"{human(value)}{verdict}"
        )
        fill = POINT if not target or value <= target else CROSS
        return (
            f'<circle class="point {self.name.lower()}" data-run={svg.attr(point.run_id)} '
            f'cx="{svg.num(self.x(point.started))}" cy="{svg.num(self.y(value))}" r="4" '
            f'fill="{fill}"><title>{svg.text(said)}</title></circle>'
        )
