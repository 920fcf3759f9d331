"""Worker statistics: added, never replaced, so the totals only grow (``monitor/stats.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from monitor.ami.client import EventQueue
from monitor.models import Pbx, WorkerStats
from monitor.sim.server import PbxSimulator
from monitor.stats import StatsReporter, worker_stats_add
from monitor.worker import PbxWorker

pytestmark = pytest.mark.django_db(transaction=True)


def make_pbx(port: int = 7777) -> int:
    pbx = Pbx(name=f"stats-{port}", host="127.0.0.1", port=port, username="admin123")
    pbx.set_secret("admin123")
    pbx.save()
    return pbx.pk


def fake_worker(pbx_id: int) -> SimpleNamespace:
    client = SimpleNamespace(reconnects=0, events=EventQueue(10))
    return SimpleNamespace(
        pbx_id=pbx_id,
        events_applied=0,
        flushes=0,
        resyncs=0,
        client=client,
        pending_since=None,
        flush_lag_max=0.0,
        flush_error="",
        fence=None,
    )


def totals(pbx_id: int) -> dict[str, int]:
    row = WorkerStats.objects.get(pbx_id=pbx_id)
    return {"events": row.events_applied, "flushes": row.flushes, "reconnects": row.reconnects}


def test_reports_add_up_and_create_the_row():
    pbx_id = make_pbx()
    worker_stats_add(pbx_id=pbx_id, deltas={"events_applied": 5, "flushes": 1}, gauges={})
    worker_stats_add(pbx_id=pbx_id, deltas={"events_applied": 7}, gauges={"flush_lag": 0.3})
    row = WorkerStats.objects.get(pbx_id=pbx_id)
    assert (row.events_applied, row.flushes, row.flush_lag) == (12, 1, 0.3)


async def test_a_new_worker_adds_to_the_totals_of_the_old_one():
    pbx_id = await sync_to_async(make_pbx)()
    old = fake_worker(pbx_id)
    reporter = StatsReporter(old)
    old.events_applied, old.flushes, old.client.reconnects = 100, 10, 1
    await reporter.report()
    old.events_applied = 150
    await reporter.report()
    assert await sync_to_async(totals)(pbx_id) == {"events": 150, "flushes": 10, "reconnects": 1}
    # A restart, or a stand-by taking over: the new worker counts from zero.
    new = fake_worker(pbx_id)
    reporter = StatsReporter(new)
    new.events_applied, new.flushes = 20, 2
    await reporter.report()
    assert await sync_to_async(totals)(pbx_id) == {"events": 170, "flushes": 12, "reconnects": 1}


async def test_a_failed_report_is_counted_in_the_next(monkeypatch):
    pbx_id = await sync_to_async(make_pbx)()
    worker = fake_worker(pbx_id)
    reporter = StatsReporter(worker)
    worker.events_applied = 10
    await reporter.report()

    def broken(**kwargs):
        raise RuntimeError("database is away")

    monkeypatch.setattr("monitor.stats.worker_stats_add", broken)
    worker.events_applied = 25
    assert await reporter.report() is False
    monkeypatch.undo()
    worker.events_applied = 40
    assert await reporter.report() is True
    assert (await sync_to_async(totals)(pbx_id))["events"] == 40


async def test_rate_lag_and_interval():
    now = [100.0]
    pbx_id = await sync_to_async(make_pbx)()
    worker = fake_worker(pbx_id)
    reporter = StatsReporter(worker, interval=1.0, clock=lambda: now[0])
    await reporter.maybe_report()
    worker.events_applied, worker.flush_lag_max = 500, 0.25
    now[0] = 100.5
    await reporter.maybe_report()  # too early: nothing written
    assert (await sync_to_async(totals)(pbx_id))["events"] == 0
    now[0] = 102.0
    await reporter.maybe_report()
    row = await WorkerStats.objects.aget(pbx_id=pbx_id)
    assert (row.events_applied, row.events_per_second, row.flush_lag) == (500, 250.0, 0.25)
    assert worker.flush_lag_max == 0.0  # a new window starts


async def test_running_worker_reports_its_counters_and_heartbeat():
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as sim:
        pbx_id = await sync_to_async(make_pbx)(sim.port)
        pbx = await Pbx.objects.aget(pk=pbx_id)
        config = await sync_to_async(pbx.ami_config)()
        worker = PbxWorker(pbx_id, config, flush_interval=0.05, stats_interval=0.1)
        task = asyncio.create_task(worker.run())
        try:
            deadline = time.monotonic() + 10
            while True:
                row = await WorkerStats.objects.filter(pbx_id=pbx_id).afirst()
                if row is not None and row.resyncs >= 1 and row.events_applied > 0:
                    break
                assert time.monotonic() < deadline, "no worker statistics"
                await asyncio.sleep(0.05)
            first_beat = row.updated_at
            sim.faults.drop_all()
            while (await WorkerStats.objects.aget(pbx_id=pbx_id)).reconnects < 1:
                assert time.monotonic() < deadline, "reconnect not counted"
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    row = await WorkerStats.objects.aget(pbx_id=pbx_id)
    assert row.updated_at > first_beat and row.flushes >= 1 and row.worker
