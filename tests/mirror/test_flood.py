"""Load: a call centre far busier than the worker's event queue can hold, a database that
stalls, and events that arrive while the worker collects the lists. The database must end equal
to the PBX's truth every time, and the AMI session must never be the part that gives way."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from monitor.ami.protocol import Action
from monitor.sim.replay import Replay, load
from monitor.sim.scenario import Scenario, ScenarioConfig
from monitor.sim.server import PbxSimulator

from .harness import db_calls, eventually, mirrored, running_worker
from .oracle import Picture

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_flood_that_overflows_a_tiny_event_queue_ends_in_a_resync_and_the_truth():
    # 150 phones, 6 queues of 10, timers 100x faster: about a hundred new calls a second.
    pbx = PbxSimulator(
        extensions=150,
        queues=6,
        members_per_queue=10,
        seed=11,
        time_scale=0.01,
        auth_fail_delay=0.05,
    )
    async with pbx as sim, running_worker(sim, queue_size=16, flush_interval=0.05) as worker:
        await mirrored(sim, worker)
        # One burst written in one go (a few hundred events, read in one or two socket
        # reads): more than 16 reach the queue before the consumer runs, whatever the timing.
        phones = [e for e, ep in sim.pbx.endpoints.items() if ep.kind == "phone" and ep.online]
        for a, b in zip(phones[0:60:2], phones[1:60:2], strict=True):
            sim.pbx.calls.phone_call(a, b)
        config = ScenarioConfig(call_rate=3.0, pause_rate=1.0, registration_rate=0.2)
        scenario = Scenario(sim.pbx, seed=11, config=config)
        scenario.start()
        try:
            # Until a hundred calls have started, however slow the machine is today.
            deadline = time.monotonic() + 30
            while scenario.calls_started <= 100 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await scenario.stop()  # no new calls, and nobody answers or hangs up any more
            sim.pbx.calls.reset()  # nor do ring, queue and dial timers: the PBX stands still
        emitted = sim.pbx.events_emitted
        assert scenario.calls_started > 100 and scenario.check() == []
        await mirrored(sim, worker, timeout=15)
        assert sim.pbx.events_emitted == emitted  # nothing moved while we compared
        events = worker.client.events
        assert events.overflows >= 1 and events.dropped > 16, (events.overflows, events.dropped)
        assert worker.resyncs >= 2
        assert worker.client.reconnects == 0  # the session itself never broke
        print(
            f"\n{scenario.calls_started} calls, {emitted} events: {events.overflows} overflows,"
            f" {events.dropped} events dropped, {worker.resyncs} resyncs"
        )
        live = len(sim.snapshot()["channels"])
        assert live > 10 and len(await sync_to_async(db_calls)(worker.pbx_id)) == live


async def test_a_database_that_stalls_two_seconds_per_flush_stalls_neither_reader_nor_truth(sim):
    """c1 replayed at its own pace and a burst of calls, while every flush waits 2 s for
    SQLite's write lock: the session answers Pings at once, the simulator (which drops a
    client that does not read within 100 ms, as the FCM630A does) never drops the worker, the
    live state keeps up, and once the database is back it ends equal to the PBX."""
    path = connection.settings_dict["NAME"]
    stop = threading.Event()
    holding = threading.Event()

    def hold_write_lock() -> None:
        db = sqlite3.connect(path, timeout=30)
        while not stop.is_set():
            db.execute("BEGIN IMMEDIATE")
            holding.set()
            time.sleep(2.0)
            db.execute("COMMIT")
            time.sleep(0.01)
        db.close()

    played = Replay(
        sim, load("c1-call-1001-to-1002-ami-hangup"), speed=4.0
    )  # 13 s in 3.3: two stalls
    async with running_worker(sim, flush_interval=0.05) as worker:
        await mirrored(sim, worker)
        blocker = threading.Thread(target=hold_write_lock, daemon=True)
        blocker.start()
        try:
            await asyncio.to_thread(holding.wait, 5)
            flushes, applied = worker.flushes, worker.events_applied
            replay = asyncio.create_task(played.run())
            for a, b in (("1005", "1002"), ("1004", "1003")):
                sim.pbx.calls.phone_call(a, b)
            rtts = []
            while not replay.done():
                started = time.monotonic()
                await worker.client.send(Action("Ping"))
                rtts.append(time.monotonic() - started)
                # The reader is never behind the PBX: everything sent so far is in the state.
                assert worker.client.events.qsize() < 50
                await asyncio.sleep(0.1)
            await replay
            truth = Picture().feed(i.packet for i in played.items if not i.packet.is_response)
            assert not truth.channels and len(rtts) > 20
            assert max(rtts) < 0.5, max(rtts)
            assert worker.client.reconnects == 0
            assert worker.events_applied - applied > 60  # c1's events and the two calls...
            assert worker.flushes - flushes <= 3  # ...while the database let through 2 s each
        finally:
            stop.set()
            await asyncio.to_thread(blocker.join)
        await mirrored(sim, worker, timeout=10)
        await eventually(lambda: truth.differences(worker.pbx_id))
