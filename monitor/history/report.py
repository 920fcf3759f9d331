"""A report of some PBXes over a :class:`~monitor.history.days.Window`: the rows read in a few
queries, the numbers computed by :mod:`monitor.history.numbers`, and what a PBX cannot tell.

Rows are read as tuples, only the columns the numbers need: a busy day has 20,000 calls and
many times that in agents' spans, and a model instance of each was most of the page's time.
"""

from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass, field

from django.db.models import Case, Count, F, Q, Value, When

from ..history_models import (
    AgentMiss,
    AgentSpan,
    Outcome,
    QueueCallRecord,
    RecordGap,
    ReportSettings,
)
from ..models import Pbx, Queue
from ..web_models import QueueThreshold
from . import numbers
from .aggregate import compute_in_sql
from .days import Window, today_window

IN_SQL = True  # how build() counts by default (the tests run both ways)


@dataclass
class Report:
    window: Window
    now: dt.datetime
    pbxes: dict[int, Pbx]
    numbers: numbers.DayNumbers
    # pbx id -> {number name: why this PBX cannot give it}
    missing: dict[int, dict[str, str]] = field(default_factory=dict)


def missing_numbers(pbx: Pbx) -> dict[str, str]:
    """What ``pbx`` sends too little for (``monitor.history.dialect``, the recorder's part:
    until it is installed nothing is missing)."""
    try:
        dialect = importlib.import_module("monitor.history.dialect")
    except ModuleNotFoundError:
        return {}
    return dict(dialect.missing_numbers(pbx))


def build(
    pbxes: list[Pbx],
    window: Window,
    now: dt.datetime,
    report: ReportSettings,
    *,
    in_sql: bool | None = None,
) -> Report:
    """The numbers of ``pbxes`` over ``window`` at ``now``: counted in the database
    (:mod:`monitor.history.aggregate`), or with ``in_sql=False`` from the rows read into Python
    (:func:`monitor.history.numbers.compute`, the reference); None: :data:`IN_SQL`."""
    ids = [p.pk for p in pbxes]
    start, end = window.start, window.end
    overlapping = Q(started_at__lt=end) & (Q(ended_at__isnull=True) | Q(ended_at__gt=start))
    gaps = list(
        RecordGap.objects.filter(overlapping, pbx_id__in=ids).values_list("started_at", "ended_at")
    )
    sl = {
        (pbx_id, name): (seconds, target)
        for pbx_id, name, seconds, target in QueueThreshold.objects.filter(
            pbx_id__in=ids
        ).values_list("pbx_id", "queue_name", "sl_seconds", "sl_target")
    }
    names = list(Queue.objects.filter(pbx_id__in=ids).values_list("pbx_id", "name"))
    common = {
        "start": start,
        "end": end,
        "now": now,
        "gaps": gaps,
        "sl": sl,
        "short_abandon": report.short_abandon_seconds,
        "queue_names": names,
    }
    if IN_SQL if in_sql is None else in_sql:
        result = compute_in_sql(pbx_ids=ids, **common)
    else:
        calls = QueueCallRecord.objects.filter(
            pbx_id__in=ids, entered_at__gte=start, entered_at__lt=end
        ).values_list(*numbers.CallRow._fields)
        spans = AgentSpan.objects.filter(overlapping, pbx_id__in=ids)
        misses = AgentMiss.objects.filter(pbx_id__in=ids, at__gte=start, at__lt=end)
        result = numbers.compute(
            calls=[numbers.CallRow(*row) for row in calls],
            spans=[numbers.SpanRow(*r) for r in spans.values_list(*numbers.SpanRow._fields)],
            misses=[numbers.MissRow(*r) for r in misses.values_list(*numbers.MissRow._fields)],
            **common,
        )
    missing = {p.pk: missing_numbers(p) for p in pbxes}
    return Report(window, now, {p.pk: p for p in pbxes}, result, missing)


@dataclass
class CardNumbers(numbers.Tally):
    """A queue card's numbers of the day (the wallboard's and kiosk's): answered, abandoned,
    short abandons and within the SL of its ``sl_seconds``, so its service level."""

    sl_seconds: int = numbers.DEFAULT_SL_SECONDS


def card_numbers(
    queues: list[tuple[int, str]], now: dt.datetime, report: ReportSettings | None = None
) -> dict[tuple[int, str], CardNumbers]:
    """Today's answered, abandoned and service level of ``queues`` ((pbx id, name)), counted in
    the database: the cards are rendered at every flush that touches a queue, and one grouped
    query over the day's index costs a few milliseconds where reading the calls cost tens."""
    report = report or ReportSettings.current()
    window = today_window(report, now)
    pbx_ids = {pbx_id for pbx_id, _ in queues}
    wanted = set(queues)
    limits = {
        (pbx_id, name): seconds
        for pbx_id, name, seconds in QueueThreshold.objects.filter(pbx_id__in=pbx_ids).values_list(
            "pbx_id", "queue_name", "sl_seconds"
        )
    }
    out = {
        key: CardNumbers(sl_seconds=limits.get(key, numbers.DEFAULT_SL_SECONDS)) for key in wanted
    }
    sl = Case(
        *(
            When(pbx_id=p, queue=q, then=Value(s))
            for (p, q), s in limits.items()
            if (p, q) in wanted
        ),
        default=Value(numbers.DEFAULT_SL_SECONDS),
    )
    answered = Q(outcome=Outcome.ANSWERED)
    abandoned = Q(outcome=Outcome.ABANDONED)
    rows = (
        QueueCallRecord.objects.filter(
            pbx_id__in=pbx_ids,
            queue__in={q for _, q in queues},
            entered_at__gte=window.start,
            entered_at__lt=window.end,
        )
        .annotate(sl=sl)
        .values("pbx_id", "queue")
        .annotate(
            answered=Count("pk", filter=answered),
            abandoned=Count("pk", filter=abandoned),
            short=Count("pk", filter=abandoned & Q(wait_seconds__lte=report.short_abandon_seconds)),
            within=Count("pk", filter=answered & Q(wait_seconds__lte=F("sl"))),
        )
    )
    for row in rows:
        found = out.get((row["pbx_id"], row["queue"]))
        if found is not None:
            found.answered, found.abandoned = row["answered"], row["abandoned"]
            found.short_abandoned, found.answered_within_sl = row["short"], row["within"]
    return out
