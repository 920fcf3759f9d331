"""Deleting what is older than the days kept (``ReportSettings.keep_days``): ``manage.py
prune_history``, and the worker pool once a day (``monitor/runner.py``).

A day is kept whole: the cut is the start of the oldest kept day in the report's time zone.
Open spans and gaps (still going on) are never deleted; a call is its day's, whatever it
became. Rows go in batches of
:data:`BATCH`, each its own statement, so that a first prune of a long history neither holds one
huge transaction nor locks the tables the recorder writes to for long.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Model, Q

from ..history_models import AgentMiss, AgentSpan, QueueCallRecord, RecordGap, ReportSettings
from .days import day_window, kept_days

BATCH = 5000


def cutoff(report: ReportSettings, now: dt.datetime) -> dt.datetime:
    """The start of the oldest day kept: rows before it are pruned."""
    return day_window(report, kept_days(report, now)[-1]).start


def _delete(model: type[Model], old: Q) -> int:
    deleted = 0
    while True:
        pks = list(model.objects.filter(old).values_list("pk", flat=True)[:BATCH])
        if not pks:
            return deleted
        deleted += model.objects.filter(pk__in=pks).delete()[0]


def history_prune(*, now: dt.datetime, report: ReportSettings | None = None) -> dict[str, Any]:
    """Delete the rows older than the days kept; returns the cut and how many of each kind."""
    report = report or ReportSettings.current()
    cut = cutoff(report, now)
    ended_before = Q(ended_at__isnull=False, ended_at__lt=cut)
    return {
        "before": cut,
        "calls": _delete(QueueCallRecord, Q(entered_at__lt=cut)),
        "spans": _delete(AgentSpan, ended_before),
        "misses": _delete(AgentMiss, Q(at__lt=cut)),
        "gaps": _delete(RecordGap, ended_before),
    }


def describe(result: dict[str, Any]) -> str:
    return (
        f"pruned history before {result['before']:%Y-%m-%d %H:%M %Z}: {result['calls']} calls, "
        f"{result['spans']} agent spans, {result['misses']} missed rings, {result['gaps']} gaps"
    )
