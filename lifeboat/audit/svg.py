"""Small helpers to draw charts as SVG text: escaping, time and value axes.

Charts are written by hand, not by a plotting library: a few rectangles, lines and labels
that any browser shows with no script, that a test can parse as XML, and whose every
text is escaped (step ids, run ids and runbook ids come from files people wrote).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

NS = "http://www.w3.org/2000/svg"
FONT = "font-family:system-ui,sans-serif;font-size:11px"

# Tick steps for a time axis, seconds: the first that gives at most ``max_ticks`` ticks.
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400, 172800, 604800, 2592000)  # fmt: skip


def text(value: object) -> str:
    """Text content, escaped."""
    return escape(str(value))


def attr(value: object) -> str:
    """An attribute value, quoted and escaped."""
    return quoteattr(str(value))


def num(value: float) -> str:
    """A coordinate: two decimals at most, no exponent."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def open_svg(width: float, height: float, label: str) -> str:
    return (
        f'<svg xmlns="{NS}" width="{num(width)}" height="{num(height)}" '
        f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-label={attr(label)} '
        f'style="{FONT}">'
    )


def time_ticks(start: datetime, end: datetime, max_ticks: int = 8) -> list[datetime]:
    """Round moments between ``start`` and ``end``, at most about ``max_ticks``."""
    span = max((end - start).total_seconds(), 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= max_ticks), _TIME_STEPS[-1])
    first = datetime.fromtimestamp((start.timestamp() // step + 1) * step, UTC)
    ticks = [start.astimezone(UTC)] if (first - start).total_seconds() > step / 3 else []
    moment = first
    while moment <= end:
        ticks.append(moment)
        moment += timedelta(seconds=step)
    return ticks


def time_label(moment: datetime, span: timedelta) -> str:
    """``02:04:39`` within a day, ``12-07 02:04`` over several days."""
    moment = moment.astimezone(UTC)
    return f"{moment:%m-%d %H:%M}" if span > timedelta(days=1) else f"{moment:%H:%M:%S}"


def duration_ticks(top: float, max_ticks: int = 5) -> list[float]:
    """Round durations (seconds) from 0 to at least ``top``."""
    step = next((s for s in _TIME_STEPS if top / s <= max_ticks), _TIME_STEPS[-1])
    count = int(top // step) + 2 if top > 0 else 2
    return [float(i * step) for i in range(count)]


def duration_label(seconds: float) -> str:
    """``45s``, ``5m``, ``1h30m``, ``2d``: short, for an axis."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m" + (f"{secs}s" if secs else "")
    if whole < 172800:
        hours, rest = divmod(whole, 3600)
        return f"{hours}h" + (f"{rest // 60}m" if rest // 60 else "")
    return f"{whole / 86400:g}d"
