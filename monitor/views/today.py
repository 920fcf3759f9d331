"""The day's pages: ``/today/`` (queues, agents and charts of a day) and ``/agents/`` (the agent
board), and the day's tables as CSV.

Both pages put in one tile per PBX (``{% tile "today" %}``, ``{% tile "agents" %}``), the same
HTML the live update sends when the recorder wrote rows (:mod:`monitor.broadcast`); a past day
or the last 24 hours is not live (its page joins the status group only).

``?date=YYYY-MM-DD`` picks a kept day (``ReportSettings.keep_days``), ``?date=last24`` the last
24 hours; anything else is today. ``?pbx=<id>`` one PBX, as on the calls page.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ..history import days
from ..history.days import Window
from ..history.sections import agent_board, today_section
from ..history_models import ReportSettings
from .access import page_context, viewer_required
from .pages import selected_pbxes

LAST_24 = "last24"


def chosen_window(request: HttpRequest, report: ReportSettings, now: dt.datetime) -> Window:
    """The window ``?date=`` names: a kept day, the last 24 hours, else today."""
    text = request.GET.get("date", "")[:20]
    if text == LAST_24:
        return days.last_24_hours(report, now)
    day = days.parse_day(text)
    kept = days.kept_days(report, now)
    if day is not None and kept[-1] <= day <= kept[0]:
        return days.day_window(report, day)
    return days.today_window(report, now)


def date_value(window: Window) -> str:
    return LAST_24 if window.day is None else window.day.isoformat()


@viewer_required
def today(request: HttpRequest) -> HttpResponse:
    report = ReportSettings.current()
    now = timezone.now()
    window = chosen_window(request, report, now)
    pbxes = selected_pbxes(request)
    is_today = window == days.today_window(report, now)
    context = page_context(request, pbxes, controls=False, page="today" if is_today else "status")
    chosen = date_value(window)
    context.update(
        sections=[today_section(p, window, now, report) for p in pbxes],
        window=window,
        is_today=is_today,
        chosen=chosen,
        query=f"date={chosen}" + (f"&pbx={request.GET['pbx']}" if "pbx" in request.GET else ""),
        kept=[(d.isoformat(), f"{d:%a %d %b %Y}") for d in days.kept_days(report, now)],
        last_24=LAST_24,
        zone=report.time_zone,
    )
    return render(request, "monitor/today.html", context)


@viewer_required
def agents(request: HttpRequest) -> HttpResponse:
    report = ReportSettings.current()
    now = timezone.now()
    pbxes = selected_pbxes(request)
    context = page_context(request, pbxes, controls=False, page="agents")
    context["boards"] = [agent_board(p, now, report) for p in pbxes]
    return render(request, "monitor/agents.html", context)
