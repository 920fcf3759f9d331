"""Which moments a report covers: a day as :class:`~monitor.history_models.ReportSettings`
counts it (starting at ``day_starts`` in ``time_zone``, never at a PBX restart), or the last
24 hours.

A day's bounds are wall-clock times of its zone turned into instants with zoneinfo, so that the
day of a DST change is 23 or 25 hours long, as a supervisor's clock says.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from ..history_models import ReportSettings

UTC = dt.UTC


@dataclass(frozen=True)
class Window:
    """``[start, end)``, aware instants; ``day`` is None for the last 24 hours."""

    start: dt.datetime
    end: dt.datetime
    day: dt.date | None
    zone: zoneinfo.ZoneInfo

    @property
    def label(self) -> str:
        if self.day is None:
            return "last 24 hours"
        return self.day.isoformat()

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.zone)


def zone_of(report: ReportSettings) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(report.time_zone)


def day_window(report: ReportSettings, day: dt.date) -> Window:
    """The day ``day`` (the date its start falls on) from ``day_starts`` to the next one."""
    zone = zone_of(report)
    start = dt.datetime.combine(day, report.day_starts, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), report.day_starts, tzinfo=zone)
    return Window(start.astimezone(UTC), end.astimezone(UTC), day, zone)


def day_of(report: ReportSettings, moment: dt.datetime) -> dt.date:
    """The day ``moment`` belongs to: before ``day_starts`` it is still the day before."""
    local = moment.astimezone(zone_of(report))
    if local.time() < report.day_starts:
        return local.date() - dt.timedelta(days=1)
    return local.date()


def today_window(report: ReportSettings, now: dt.datetime) -> Window:
    return day_window(report, day_of(report, now))


def last_24_hours(report: ReportSettings, now: dt.datetime) -> Window:
    return Window(now - dt.timedelta(hours=24), now, None, zone_of(report))


def kept_days(report: ReportSettings, now: dt.datetime) -> list[dt.date]:
    """The days a report may be asked for, newest first: today and ``keep_days`` before it."""
    today = day_of(report, now)
    return [today - dt.timedelta(days=n) for n in range(report.keep_days + 1)]


def parse_day(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` or None (anything else)."""
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None
