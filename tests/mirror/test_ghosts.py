"""Rows the PBX no longer has must not survive a worker's restart, and rows it may still have
must not vanish before the worker knows.

- A new worker (a new process: a fresh state, the database as an earlier run left it) deletes,
  with its first full write after the resync, every row of its PBX that the PBX's lists do not
  show: calls that ended, endpoints, members and queues that were removed meanwhile, and rows an
  even older run left behind. Other PBXes' rows are not touched.
- Until that resync, the earlier rows stay, marked stale: a worker that starts while the PBX is
  unreachable must not wipe the wallboard.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asgiref.sync import sync_to_async

from monitor.models import Call, Endpoint, Pbx, Queue, QueueCaller, QueueMember

from .harness import channel_of, db_calls, db_states, eventually, mirrored, running_worker

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


@sync_to_async
def leave_ghosts(pbx_id: int) -> None:
    """What a run before the last one may have left: things this PBX does not have at all."""
    Endpoint.objects.create(pbx_id=pbx_id, resource="1099", state="inuse", channels=1)
    queue = Queue.objects.create(pbx_id=pbx_id, name="6599", calls_waiting=1)
    QueueMember.objects.create(pbx_id=pbx_id, queue=queue, interface="PJSIP/1099", in_call=True)
    QueueCaller.objects.create(
        pbx_id=pbx_id,
        queue=queue,
        uniqueid="1790000000.1",
        channel="PJSIP/trunk_1-0000ffff",
        joined_at=NOW,
    )
    lab = Queue.objects.get(pbx_id=pbx_id, name="6500")
    QueueMember.objects.create(pbx_id=pbx_id, queue=lab, interface="PJSIP/1099")
    Call.objects.create(
        pbx_id=pbx_id,
        uniqueid="1790000000.2",
        channel="PJSIP/1099-0000ffff",
        started_at=NOW,
        endpoint_resource="1099",
    )


@sync_to_async
def other_pbx() -> tuple[int, dict[str, int]]:
    """A second PBX with rows of the same names: its rows are none of this worker's business."""
    pbx = Pbx.objects.create(name="other", host="127.0.0.1", port=1, username="x")
    Endpoint.objects.create(pbx=pbx, resource="1009")
    queue = Queue.objects.create(pbx=pbx, name="6501")
    QueueMember.objects.create(pbx=pbx, queue=queue, interface="PJSIP/1003")
    Call.objects.create(
        pbx=pbx, uniqueid="1790000000.3", channel="PJSIP/1002-0000fffe", started_at=NOW
    )
    return pbx.pk, counts(pbx.pk)


def counts(pbx_id: int) -> dict[str, int]:
    return {
        model.__name__: model.objects.filter(pbx_id=pbx_id).count()
        for model in (Endpoint, Queue, QueueMember, QueueCaller, Call)
    }


async def test_a_new_worker_deletes_every_row_an_earlier_run_left_that_the_pbx_lacks(sim):
    async with running_worker(sim) as first:
        sim.pbx.calls.phone_call("1005", "1002")
        sim.pbx.calls.answer(channel_of(sim, "1002"))
        sim.pbx.calls.trunk_call("+15550100", "6501")
        await mirrored(sim, first)
        pid = first.pbx_id
        before = await sync_to_async(counts)(pid)
        assert before["Call"] >= 4 and before["QueueCaller"] == 1
    # That worker is gone; its rows stay (its last flush only marked the PBX down).
    assert await sync_to_async(counts)(pid) == before
    assert not (await sync_to_async(Pbx.objects.get)(pk=pid)).connected

    # Meanwhile, with nobody listening: the calls end, 1009 and a member are deleted.
    sim.pbx.restart()
    sim.pbx.endpoints.pop("1009")
    sim.pbx.drop_member(sim.pbx.queues["6501"].members["PJSIP/1003"])
    await leave_ghosts(pid)
    other, other_counts = await other_pbx()

    async with running_worker(sim, pbx_id=pid) as second:
        await mirrored(sim, second)
        assert second.resyncs == 1
        assert await sync_to_async(db_calls)(pid) == {}
        assert "1009" not in await sync_to_async(db_states)(pid)
        after = await sync_to_async(counts)(pid)
        assert after == {"Endpoint": 10, "Queue": 2, "QueueMember": 6, "QueueCaller": 0, "Call": 0}
        assert await sync_to_async(counts)(other) == other_counts


async def test_rows_stay_marked_stale_until_the_new_worker_has_the_pbxs_lists(sim):
    async with running_worker(sim) as first:
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, first)
        pid = first.pbx_id
        before = await sync_to_async(counts)(pid)
    sim.faults.refuse_for(1.0)  # the PBX is away when the next worker starts

    async with running_worker(sim, pbx_id=pid) as second:

        def stale_but_kept() -> list[str]:
            pbx = Pbx.objects.get(pk=pid)
            out = [] if pbx.stale_since is not None and not pbx.connected else ["not marked stale"]
            return out + ([] if counts(pid) == before else [f"rows {counts(pid)} != {before}"])

        for _ in range(10):  # a dozen flush intervals, all before the PBX answers
            assert not second.client.connected
            problems = await sync_to_async(stale_but_kept)()
            assert not problems, problems
            await asyncio.sleep(0.05)
        assert second.flushes >= 1  # the worker did write: the status, nothing else
        await mirrored(sim, second, timeout=10)
        await eventually(lambda: [] if Pbx.objects.get(pk=pid).stale_since is None else ["stale"])
