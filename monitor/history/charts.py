"""The Today page's charts as SVG, drawn on the server from a day's 15-minute intervals.

Why SVG from the server rather than a charting library in the browser: the chart is then part
of its tile's HTML, so the live update that brings the new numbers brings the new chart in the
same message and idiomorph morphs it like any other element; nothing runs in the page under the
strict Content-Security-Policy (no inline script or style: the colours are classes of
``static/css/fcmdash.css``); a kiosk TV without much of a CPU shows it at once; and there is no
library to vendor and keep up to date. The charts are ``viewBox`` drawings that scale to their
box (the CSS gives them a minimum width and lets a phone scroll them sideways).

Every function returns markup built from numbers and our own words only (the labels are times
and counts), escaped all the same.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

from .numbers import Interval

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def _scale_max(value: float) -> int:
    """A round top for the y axis, at least 4."""
    for step in (4, 8, 12, 20, 40, 60, 100, 200, 400, 600, 1000, 2000, 4000):
        if value <= step:
            return step
    return int(-(-value // 1000) * 1000)


def _frame(
    title: str,
    top: float,
    intervals: Sequence[Interval],
    zone: zoneinfo.ZoneInfo,
    gaps: Sequence[tuple[float, float]],
    unit: str = "",
) -> list[str]:
    """The SVG's start: title, grid lines with their values, the hours, the gaps hatched."""
    parts = [
        f'<svg class="chart__svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for n in range(5):
        value = top * n / 4
        y = TOP + PLOT_H - PLOT_H * n / 4
        parts.append(
            f'<line class="chart__grid" x1="{LEFT}" x2="{WIDTH - RIGHT}"'
            f' y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="chart__tick" x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end">'
            f"{value:g}{unit}</text>"
        )
    step = PLOT_W / max(1, len(intervals))
    every = 2 if len(intervals) > 48 else 1  # an hour label each 2 hours on a day's chart
    for n, interval in enumerate(intervals):
        local = interval.start.astimezone(zone) if interval.start else None
        if local is not None and local.minute == 0 and local.hour % every == 0:
            x = LEFT + n * step
            parts.append(
                f'<text class="chart__tick" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{local:%H:%M}</text>"
            )
    for a, b in gaps:  # fractions of the window
        x = LEFT + a * PLOT_W
        parts.append(
            f'<rect class="chart__gap" x="{x:.1f}" y="{TOP}" width="{max(2, (b - a) * PLOT_W):.1f}"'
            f' height="{PLOT_H}"><title>no data</title></rect>'
        )
    return parts


def gap_fractions(
    gaps: Sequence[tuple[dt.datetime, dt.datetime]], start: dt.datetime, end: dt.datetime
) -> list[tuple[float, float]]:
    """Each gap's start and end as fractions of the window."""
    length = (end - start).total_seconds() or 1

    def at(moment: dt.datetime) -> float:
        return (moment - start).total_seconds() / length

    return [(at(a), at(b)) for a, b in gaps]


def calls_chart(
    intervals: Sequence[Interval], zone: zoneinfo.ZoneInfo, gaps: Sequence[tuple[float, float]]
) -> SafeString:
    """Answered and abandoned calls per 15 minutes, stacked bars."""
    top = _scale_max(max((i.answered + i.abandoned for i in intervals), default=0))
    parts = _frame("Calls per 15 minutes: answered and abandoned", top, intervals, zone, gaps)
    step = PLOT_W / max(1, len(intervals))
    base = TOP + PLOT_H
    for n, i in enumerate(intervals):
        if not (i.answered or i.abandoned):
            continue
        x = LEFT + n * step + step * 0.1
        h_ans = PLOT_H * i.answered / top
        h_ab = PLOT_H * i.abandoned / top
        label = f"{i.start.astimezone(zone):%H:%M}: {i.answered} answered, {i.abandoned} abandoned"
        parts.append(
            f'<g class="chart__bar"><title>{escape(label)}</title>'
            f'<rect class="chart__answered" x="{x:.1f}" y="{base - h_ans:.1f}"'
            f' width="{step * 0.8:.1f}" height="{h_ans:.1f}"/>'
            f'<rect class="chart__abandoned" x="{x:.1f}" y="{base - h_ans - h_ab:.1f}"'
            f' width="{step * 0.8:.1f}" height="{h_ab:.1f}"/></g>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def service_level_chart(
    intervals: Sequence[Interval],
    zone: zoneinfo.ZoneInfo,
    gaps: Sequence[tuple[float, float]],
    target: int,
) -> SafeString:
    """The service level of the day so far (bold) and of each 15 minutes (thin) against the
    target (dashed)."""
    parts = _frame("Service level over the day against its target", 100, intervals, zone, gaps, "%")
    step = PLOT_W / max(1, len(intervals))
    y_target = TOP + PLOT_H - PLOT_H * target / 100
    parts.append(
        f'<line class="chart__target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_target:.1f}"'
        f' y2="{y_target:.1f}"><title>target {target}%</title></line>'
    )
    within = counted = 0
    so_far: list[str] = []
    each: list[str] = []
    for n, i in enumerate(intervals):
        x = LEFT + n * step + step / 2
        within += i.answered_within_sl
        counted += i.answered + i.abandoned - i.short_abandoned
        if i.service_level_pct is not None:
            each.append(f"{x:.1f},{TOP + PLOT_H - PLOT_H * i.service_level_pct / 100:.1f}")
        if counted > 0:
            so_far.append(f"{x:.1f},{TOP + PLOT_H - PLOT_H * within / counted:.1f}")
    if each:
        parts.append(f'<polyline class="chart__sl-each" points="{" ".join(each)}"/>')
    if so_far:
        parts.append(f'<polyline class="chart__sl" points="{" ".join(so_far)}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def waiting_chart(
    intervals: Sequence[Interval], zone: zoneinfo.ZoneInfo, gaps: Sequence[tuple[float, float]]
) -> SafeString:
    """The most callers waiting at once in each 15 minutes."""
    top = _scale_max(max((i.peak_waiting for i in intervals), default=0))
    parts = _frame("Most callers waiting at once, per 15 minutes", top, intervals, zone, gaps)
    step = PLOT_W / max(1, len(intervals))
    base = TOP + PLOT_H
    for n, i in enumerate(intervals):
        if not i.peak_waiting:
            continue
        h = PLOT_H * i.peak_waiting / top
        label = f"{i.start.astimezone(zone):%H:%M}: up to {i.peak_waiting} waiting"
        parts.append(
            f'<rect class="chart__waiting" x="{LEFT + n * step:.1f}" y="{base - h:.1f}"'
            f' width="{step:.1f}" height="{h:.1f}"><title>{escape(label)}</title></rect>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
