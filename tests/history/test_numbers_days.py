"""Day boundaries: a configurable start (06:00 for a 24-hour centre), two time zones, and the
days DST makes 23 and 25 hours long."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.history import report as reports
from monitor.history.days import day_of, day_window, kept_days, last_24_hours, parse_day
from monitor.history_models import Outcome, ReportSettings
from tests.support.history import Day, pbx_named

UTC = dt.UTC


def settings(zone: str, starts: dt.time = dt.time(0, 0)) -> ReportSettings:
    return ReportSettings(time_zone=zone, day_starts=starts)


def test_a_day_starting_at_0600_in_two_time_zones():
    berlin = settings("Europe/Berlin", dt.time(6, 0))
    new_york = settings("America/New_York", dt.time(6, 0))
    w = day_window(berlin, dt.date(2026, 5, 4))
    assert (w.start, w.end) == (
        dt.datetime(2026, 5, 4, 4, 0, tzinfo=UTC),
        dt.datetime(2026, 5, 5, 4, 0, tzinfo=UTC),
    )
    w = day_window(new_york, dt.date(2026, 5, 4))
    assert w.start == dt.datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    # 05:59 local still belongs to the day before; 06:00 starts the new one.
    assert day_of(berlin, dt.datetime(2026, 5, 4, 3, 59, tzinfo=UTC)) == dt.date(2026, 5, 3)
    assert day_of(berlin, dt.datetime(2026, 5, 4, 4, 0, tzinfo=UTC)) == dt.date(2026, 5, 4)
    # The same instant is another day in New York (00:00 there).
    assert day_of(new_york, dt.datetime(2026, 5, 4, 4, 0, tzinfo=UTC)) == dt.date(2026, 5, 3)


@pytest.mark.parametrize(
    ("date", "hours", "quarters"),
    [
        (dt.date(2026, 3, 29), 23, 92),
        (dt.date(2026, 10, 25), 25, 100),
        (dt.date(2026, 5, 4), 24, 96),
    ],
)
def test_dst_days_are_as_long_as_the_clock_says(date, hours, quarters):
    w = day_window(settings("Europe/Berlin"), date)
    assert w.end - w.start == dt.timedelta(hours=hours)
    numbers = reports.numbers.compute(
        start=w.start, end=w.end, now=w.end, calls=[], spans=[], misses=[], gaps=[]
    )
    assert len(numbers.intervals) == quarters


@pytest.mark.django_db
def test_calls_are_counted_on_the_day_of_each_time_zone():
    day = Day(pbx_named())
    # 23:30 UTC on 4 May: 01:30 on 5 May in Berlin, 19:30 on 4 May in New York.
    day.call("q", dt.datetime(2026, 5, 4, 23, 30, tzinfo=UTC), Outcome.ABANDONED, wait=9)
    now = dt.datetime(2026, 5, 6, tzinfo=UTC)
    for zone, counted_on in (
        ("Europe/Berlin", dt.date(2026, 5, 5)),
        ("America/New_York", dt.date(2026, 5, 4)),
    ):
        report = settings(zone)
        for date in (dt.date(2026, 5, 4), dt.date(2026, 5, 5)):
            found = reports.build([day.pbx], day_window(report, date), now, report).numbers
            assert found.total.offered == (1 if date == counted_on else 0), (zone, date)


@pytest.mark.django_db
def test_the_last_24_hours_and_the_days_kept():
    report = settings("Europe/Berlin")
    report.keep_days = 3
    now = dt.datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    day = Day(pbx_named())
    day.call("q", now - dt.timedelta(hours=23), Outcome.ABANDONED, wait=9)
    day.call("q", now - dt.timedelta(hours=25), Outcome.ABANDONED, wait=9)
    w = last_24_hours(report, now)
    assert reports.build([day.pbx], w, now, report).numbers.total.offered == 1
    assert w.label == "last 24 hours"
    assert kept_days(report, now) == [dt.date(2026, 5, d) for d in (4, 3, 2, 1)]
    assert parse_day("2026-05-04") == dt.date(2026, 5, 4)
    assert parse_day("2026-5-4") is None and parse_day("2026-02-30") is None
