"""The worker against the simulator over TCP, writing to the real (SQLite file) database:
the mirror must end equal to the simulator's truth, whatever happened on the way."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connection

from monitor.ami.protocol import Action
from monitor.models import Call, Endpoint, Pbx, QueueMember
from monitor.sim.server import PbxSimulator
from monitor.worker import PbxWorker
from tests.mirror import harness
from tests.mirror.harness import channel_of
from tests.support.truth import differences, mirror_picture, sim_picture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest_asyncio.fixture
async def sim():
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as s:
        yield s


@contextlib.asynccontextmanager
async def running_worker(sim: PbxSimulator, user: str = "admin123", secret: str = "admin123"):
    """The mirror harness's worker (keepalive 5 s, fast back-off), flushing every 0.05 s."""
    async with harness.running_worker(sim, (user, secret), flush_interval=0.05) as worker:
        yield worker


async def mirrored(sim: PbxSimulator, worker: PbxWorker, timeout: float = 5.0, **kw) -> None:
    """Wait until the database equals the simulator's truth; fail with the differences."""
    deadline = time.monotonic() + timeout
    while True:
        truth = sim_picture(sim.snapshot(), **kw)
        mirror = await sync_to_async(mirror_picture)(worker.pbx_id, **kw)
        diff = differences(truth, mirror)
        if not diff:
            return
        if time.monotonic() > deadline:
            raise AssertionError("mirror differs from the PBX:\n" + "\n".join(diff[:30]))
        await asyncio.sleep(0.05)


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await sync_to_async(predicate)():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# -- the basics ----------------------------------------------------------------------------
async def test_worker_mirrors_the_lab_pbx(sim):
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        pbx = await sync_to_async(Pbx.objects.get)(pk=worker.pbx_id)
        assert pbx.connected and pbx.stale_since is None and pbx.synced_at is not None
        assert pbx.ami_version == "11.0.0"
        assert pbx.actions["Originate"] is True and pbx.unavailable == []


async def test_a_call_rings_is_answered_and_ends(sim):
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, worker)
        state = await sync_to_async(lambda: Endpoint.objects.get(resource="1002").state)()
        assert state == "ringing"
        sim.pbx.calls.answer(channel_of(sim, "1002"))
        await mirrored(sim, worker)
        states = await sync_to_async(
            lambda: dict(
                Endpoint.objects.filter(resource__in=["1002", "1005"]).values_list(
                    "resource", "state"
                )
            )
        )()
        assert states == {"1002": "inuse", "1005": "inuse"}
        calls = await sync_to_async(
            lambda: {c.endpoint_resource: c.peer_channel for c in Call.objects.all()}
        )()
        assert calls["1002"].startswith("PJSIP/1005-") and calls["1005"].startswith("PJSIP/1002-")
        sim.pbx.calls.hangup(channel_of(sim, "1005"))
        await mirrored(sim, worker)
        assert await sync_to_async(Call.objects.count)() == 0


async def test_queue_pause_and_caller_are_mirrored(sim):
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        sim.pbx.queue_pause("PJSIP/1003", True, queue="6500", reason="Lunch")
        sim.pbx.calls.trunk_call("+15550100", "6500")
        await mirrored(sim, worker)
        member = await sync_to_async(QueueMember.objects.get)(
            queue__name="6500", interface="PJSIP/1003"
        )
        assert member.paused and member.paused_reason == "Lunch"


# -- reconnects, ghosts, staleness ---------------------------------------------------------
async def test_reconnect_after_removals_leaves_no_ghosts(sim):
    async with running_worker(sim) as worker:
        sim.pbx.calls.phone_call("1005", "1002")
        sim.pbx.calls.trunk_call("+15550100", "6501")
        await mirrored(sim, worker)
        assert await sync_to_async(Call.objects.count)() >= 2
        # While the PBX is away, its configuration changes and the calls end: no events reach us.
        sim.pbx.endpoints.pop("1009")
        member = sim.pbx.queues["6501"].members["PJSIP/1003"]
        sim.pbx.drop_member(member)
        await sim.faults.restart(down_for=0.3)
        await mirrored(sim, worker)
        assert not await sync_to_async(Endpoint.objects.filter(resource="1009").exists)()
        assert not await sync_to_async(
            QueueMember.objects.filter(queue__name="6501", interface="PJSIP/1003").exists
        )()
        assert await sync_to_async(Call.objects.count)() == 0


async def test_unreachable_pbx_is_marked_stale_then_fresh_again(sim):
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        before = time.time()
        sim.faults.refuse_for(1.0)
        sim.faults.drop_all(rst=True)

        def stale() -> bool:
            p = Pbx.objects.get(pk=worker.pbx_id)
            return not p.connected and p.stale_since is not None

        await until(stale)
        pbx = await sync_to_async(Pbx.objects.get)(pk=worker.pbx_id)
        assert pbx.stale_since.timestamp() >= before - 0.01
        assert pbx.last_error

        def fresh() -> bool:
            p = Pbx.objects.get(pk=worker.pbx_id)
            return p.connected and p.stale_since is None and p.synced_at.timestamp() > before

        await until(fresh, timeout=10)
        await mirrored(sim, worker)


async def test_restricted_user_still_gets_endpoint_and_queue_states(sim):
    async with running_worker(sim, "wallboard1", "wb1pass9") as worker:
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, worker, registered=False)
        pbx = await sync_to_async(Pbx.objects.get)(pk=worker.pbx_id)
        assert pbx.actions["PJSIPShowEndpoints"] is False
        assert pbx.actions["DeviceStateList"] is True
        missing = {u["action"]: u["needs"] for u in pbx.unavailable}
        assert "Special Command" in missing["PJSIPShowEndpoints"]


# -- the reader never waits for the database -------------------------------------------------
async def test_stalled_database_neither_stalls_the_reader_nor_loses_state(sim):
    path = connection.settings_dict["NAME"]
    stop = threading.Event()

    def hold_write_lock() -> None:
        # Another writer holds SQLite's write lock 2 s at a time: every flush waits that long.
        db = sqlite3.connect(path, timeout=30)
        while not stop.is_set():
            db.execute("BEGIN IMMEDIATE")
            time.sleep(2.0)
            db.execute("COMMIT")
            time.sleep(0.01)
        db.close()

    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        blocker = threading.Thread(target=hold_write_lock, daemon=True)
        blocker.start()
        try:
            await asyncio.sleep(0.1)
            applied, flushes = worker.events_applied, worker.flushes
            for a, b in (("1005", "1002"), ("1004", "1003")):
                sim.pbx.calls.phone_call(a, b)
            rtts = []
            for _ in range(5):
                started = time.monotonic()
                await worker.client.send(Action("Ping"))
                rtts.append(time.monotonic() - started)
                await asyncio.sleep(0.2)
            # The AMI session answers at its own pace while every flush waits for the lock.
            assert max(rtts) < 0.5, rtts
            assert worker.events_applied > applied  # the live state moved on...
            assert worker.flushes - flushes <= 1  # ...while the database waited
        finally:
            stop.set()
            await asyncio.to_thread(blocker.join)
        await mirrored(sim, worker, timeout=10)


async def test_event_queue_overflow_ends_in_a_resync_and_the_right_state(sim):
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        worker.client.events._maxsize = 50  # a consumer far slower than the PBX
        resyncs = worker.resyncs
        for i in range(30):
            sim.pbx.calls.phone_call("1005", "1002")
            sim.pbx.calls.hangup(channel_of(sim, "1005"))
            sim.pbx.queue_pause("PJSIP/1001", i % 2 == 0, queue="6500", reason=f"r{i}")
        sim.pbx.calls.phone_call("1004", "1003")
        await mirrored(sim, worker, timeout=10)
        assert worker.client.events.overflows >= 1
        assert worker.resyncs > resyncs
