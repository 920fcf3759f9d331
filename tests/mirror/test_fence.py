"""The fence (``Pbx.fence``, :mod:`monitor.locks`): once another worker has taken a PBX over,
the one it took over from writes nothing more, stops, and runs no action sent to the new one.

In one process, on the test database: the takeover is the claim a pool makes
(``mirror.claim``), done here by hand while the first worker runs. The two workers on two
processes and a real lost lock are in ``test_takeover.py``.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async

from monitor import actions, mirror
from monitor.ami.client import AmiClient, Backoff
from monitor.ami.config import AmiConfig
from monitor.models import Call, Pbx, WorkerStats
from monitor.sim.server import PbxSimulator
from monitor.worker import PbxWorker, Status
from tests.mirror.harness import ADMIN, make_pbx, mirrored

pytestmark = pytest.mark.django_db(transaction=True)

claim = sync_to_async(mirror.claim)


@contextlib.asynccontextmanager
async def first_worker(sim: PbxSimulator):
    """A worker for ``sim`` that took the PBX over (fence claimed), running, its mirror equal
    to the simulator: yields the worker and its task."""
    pbx_id = await make_pbx(sim.port)
    fence = await claim(pbx_id, {"worker": "first"})
    config = AmiConfig(
        host="127.0.0.1", port=sim.port, username=ADMIN[0], secret=ADMIN[1], list_quiet_gap=0.3
    )
    client = AmiClient(config, backoff=Backoff(base=0.05, cap=0.3))
    worker = PbxWorker(
        pbx_id, config, flush_interval=0.03, client=client, fence=fence, stats_interval=0.05
    )
    task = asyncio.create_task(worker.run())
    try:
        await mirrored(sim, worker)
        yield worker, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_worker_taken_over_from_writes_nothing_more_and_stops():
    async with (
        PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as sim,
        first_worker(sim) as (worker, task),
    ):
        pbx_id, first = worker.pbx_id, worker.fence
        second = await claim(pbx_id, {"worker": "second"})
        assert second == first + 1
        stats_then = await WorkerStats.objects.aget(pbx_id=pbx_id)
        sim.pbx.calls.phone_call("1005", "1002")  # a change the first worker would write
        with pytest.raises(mirror.Fenced):
            await asyncio.wait_for(asyncio.shield(task), 10)
        assert worker.fenced
        assert not await Call.objects.filter(pbx_id=pbx_id).aexists()
        pbx = await Pbx.objects.aget(pk=pbx_id)
        # Not even its goodbye: the row's status is the new worker's to write.
        assert (pbx.worker, pbx.connected, pbx.last_error, pbx.fence) == (
            "second",
            True,
            "",
            second,
        )
        stats = await WorkerStats.objects.aget(pbx_id=pbx_id)
        assert (stats.updated_at, stats.flushes) == (stats_then.updated_at, stats_then.flushes)
        assert not sim.authenticated_sessions  # and its AMI session is closed


async def test_status_written_alone_is_fenced_too():
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as sim:
        pbx_id = await make_pbx(sim.port)
        first = await claim(pbx_id, {"worker": "first"})
        await claim(pbx_id, {"worker": "second"})
        status = mirror.StatusRow.from_status(Status(connected=True))
        with pytest.raises(mirror.Fenced):
            await sync_to_async(mirror.status_only)(pbx_id=pbx_id, status=status, fence=first)
        await sync_to_async(mirror.status_only)(pbx_id=pbx_id, status=status, fence=first + 1)


async def test_an_action_for_the_new_worker_is_not_run_by_the_old_one():
    pause = {"interface": "PJSIP/1003", "queue": "6500", "reason": "coffee"}
    async with (
        PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as sim,
        first_worker(sim) as (worker, _),
    ):
        pbx_id, first = worker.pbx_id, worker.fence
        result = await actions.request(
            pbx_id, "pause", pause, user=None, timeout=1.5, fence=first + 1
        )
        assert result.message == actions.NOT_AVAILABLE
        assert not sim.pbx.queues["6500"].members["PJSIP/1003"].paused
        result = await actions.request(pbx_id, "pause", pause, user=None, fence=first)
        assert result.ok, result
        assert sim.pbx.queues["6500"].members["PJSIP/1003"].paused


async def test_a_pbx_saved_from_an_older_copy_keeps_the_fence():
    """The admin's form was opened before a takeover and saved after it."""
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as sim:
        pbx_id = await make_pbx(sim.port)
        opened = await Pbx.objects.aget(pk=pbx_id)
        fence = await claim(pbx_id, {"worker": "new"})
        opened.keepalive = 7
        await opened.asave()
        saved = await Pbx.objects.aget(pk=pbx_id)
        assert (saved.fence, saved.keepalive) == (fence, 7)
