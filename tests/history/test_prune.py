"""``manage.py prune_history`` and the worker pool's daily prune: the days kept stay whole,
older rows go, open spans and gaps stay."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from monitor.history.prune import cutoff
from monitor.history_models import (
    AgentMiss,
    AgentSpan,
    AgentState,
    Outcome,
    QueueCallRecord,
    RecordGap,
    ReportSettings,
)
from monitor.runner import WorkerPool
from tests.support.history import Day, pbx_named

pytestmark = pytest.mark.django_db(transaction=True)


def old_and_new(keep_days: int = 2) -> tuple[Day, dt.datetime]:
    report = ReportSettings.objects.create(time_zone="Europe/Berlin", keep_days=keep_days)
    cut = cutoff(report, timezone.now())
    day = Day(pbx_named())
    second = dt.timedelta(seconds=1)
    day.call("q", cut - second, Outcome.ABANDONED, wait=3)
    day.call("q", cut, Outcome.ABANDONED, wait=3)
    day.span("q", "PJSIP/1", AgentState.AVAILABLE, cut - 10 * second, cut - second)
    day.span("q", "PJSIP/1", AgentState.PAUSED, cut - second, None)  # still open: kept
    day.miss("q", "PJSIP/1", cut - second)
    day.miss("q", "PJSIP/1", cut + second)
    day.gap(cut - 10 * second, cut - second)
    day.gap(cut - 10 * second, cut + second)  # ends in a kept day: kept
    return day, cut


def test_prune_history_deletes_before_the_oldest_kept_day_and_says_so(capsys):
    _, cut = old_and_new()
    # The oldest kept day starts at midnight in Berlin, keep_days (2) before today.
    berlin = cut.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (berlin.hour, berlin.minute) == (0, 0)
    assert berlin.date() == timezone.now().astimezone(berlin.tzinfo).date() - dt.timedelta(days=2)
    call_command("prune_history")
    out = capsys.readouterr().out
    assert out.startswith(f"pruned history before {cut:%Y-%m-%d %H:%M} UTC")
    assert "1 calls, 1 agent spans, 1 missed rings, 1 gaps" in out
    assert list(QueueCallRecord.objects.values_list("entered_at", flat=True)) == [cut]
    assert AgentSpan.objects.get().ended_at is None
    assert AgentMiss.objects.count() == 1 and RecordGap.objects.count() == 1


async def test_the_worker_pool_prunes_once_a_day(caplog):
    from channels.db import database_sync_to_async

    await database_sync_to_async(old_and_new)()
    pool = WorkerPool(publish=lambda *a: None)
    with caplog.at_level(logging.INFO, logger="monitor.runner"):
        await pool.prune_daily()
        await pool.prune_daily()
    said = [r.getMessage() for r in caplog.records if "pruned history" in r.getMessage()]
    assert len(said) == 1 and "1 calls" in said[0]
    assert await database_sync_to_async(QueueCallRecord.objects.count)() == 1
