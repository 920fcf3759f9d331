"""Durability of the record: a fcmdash (worker) restart and a PBX restart in the middle of
calls lose nothing recorded and double nothing, and the time fcmdash could not see the PBX is
stored as a gap with the right bounds, with no member's span reaching into it.

Every test runs the production worker on a real AMI session to the simulator; the calls'
truth is the simulator's own queue_log (:mod:`monitor.sim.queuelog`)."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from monitor.history_models import AgentSpan, QueueCallRecord, RecordGap
from monitor.models import Pbx
from monitor.sim.model import Channel
from monitor.sim.queuelog import tally
from monitor.sim.server import PbxSimulator
from tests.mirror.conftest import sim  # noqa: F401 - the lab PBX fixture, shared
from tests.mirror.harness import eventually, make_pbx, running_worker

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ("outcome", "wait_seconds", "talk_seconds", "agent", "completed_by")


def queue_call(lab: PbxSimulator, number: str) -> Channel:
    caller = lab.pbx.calls.trunk_call(number, "6501")
    assert caller is not None
    return caller


async def answer(lab: PbxSimulator, caller: Channel) -> None:
    """The member that rings for ``caller`` picks up (waiting for one to ring: between two
    rings the queue waits its retry time)."""
    for _ in range(1000):
        run = caller.call.run if caller.call is not None else None
        legs = [leg for leg in run.legs if not leg.gone] if run is not None else []
        if legs:
            assert lab.pbx.calls.answer(legs[0].name)
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no member rang for {caller.name}")


def records(pbx_id: int) -> dict[str, dict]:
    rows = QueueCallRecord.objects.filter(pbx_id=pbx_id)
    return {r.uniqueid: r for r in rows}


def outcomes(pbx_id: int, want: dict[str, str]) -> list[str]:
    got = {uid: r.outcome for uid, r in records(pbx_id).items()}
    return [] if got == want else [f"outcomes {got}, wanted {want}"]


def as_queue_log_says(lab: PbxSimulator, pbx_id: int, uids: list[str]) -> list[str]:
    """The rows of ``uids`` equal the simulator's queue_log lines for them."""
    expected = tally(list(lab.pbx.queue_log)).calls
    rows = records(pbx_id)
    out = []
    for uid in uids:
        got = {k: getattr(rows[uid], k) for k in FIELDS} if uid in rows else None
        if got != expected[("6501", uid)]:
            out.append(f"{uid}: recorded {got}, queue_log {expected[('6501', uid)]}")
    return out


def gaps(pbx_id: int) -> list[RecordGap]:
    return list(RecordGap.objects.filter(pbx_id=pbx_id).order_by("started_at"))


def spans_into(pbx_id: int, gap: RecordGap) -> list[str]:
    """Spans that cover part of ``gap``: none may (a span open across it closes at its start
    and is reopened by the resync at its end)."""
    out = []
    for s in AgentSpan.objects.filter(pbx_id=pbx_id):
        ends = s.ended_at
        if s.started_at < gap.ended_at and (ends is None or ends > gap.started_at):
            out.append(f"{s.queue} {s.interface} {s.state} {s.started_at}..{ends}")
    return out


async def synced(worker, resyncs: int = 1) -> None:
    await eventually(lambda: [] if worker.resyncs >= resyncs else ["resync"], timeout=10)


async def test_a_fcmdash_restart_mid_call_loses_and_doubles_nothing(sim):  # noqa: F811
    pid = await make_pbx(sim.port)
    async with running_worker(sim, pbx_id=pid) as worker:
        await synced(worker)
        talking = queue_call(sim, "+15550101")
        await answer(sim, talking)
        waiting = queue_call(sim, "+15550102")
        want = {talking.uniqueid: "answered", waiting.uniqueid: "waiting"}
        await eventually(lambda: outcomes(pid, want))
        stopping = time.time()
    stopped = time.time()
    # While fcmdash is down the waiting caller is answered, and that call ends too.
    await answer(sim, waiting)
    sim.pbx.calls.hangup(waiting.name)
    async with running_worker(sim, pbx_id=pid) as worker:
        await synced(worker)
        sim.pbx.calls.hangup(talking.name)  # the caller hangs up: COMPLETECALLER
        later = queue_call(sim, "+15550103")
        await answer(sim, later)
        sim.pbx.calls.hangup(later.name)
        done = [talking.uniqueid, later.uniqueid]
        await eventually(lambda: as_queue_log_says(sim, pid, done))
    rows = await sync_to_async(records)(pid)
    # The restart's gap, and one open since the second worker stopped at the end.
    gap, last = await sync_to_async(gaps)(pid)
    assert last.ended_at is None and last.reason == "fcmdash worker stopped"
    assert len(rows) == 3  # one row per call: nothing doubled
    assert not rows[talking.uniqueid].partial and not rows[later.uniqueid].partial
    # The call that began and ended unseen: offered, its end unknown, ended when sight was lost.
    lost = rows[waiting.uniqueid]
    assert (lost.outcome, lost.partial, lost.ended_at) == ("incomplete", True, gap.started_at)
    assert stopping <= gap.started_at.timestamp() <= stopped
    assert gap.ended_at is not None and gap.ended_at.timestamp() >= stopped
    assert await sync_to_async(spans_into)(pid, gap) == []


async def test_a_pbx_restart_mid_call_loses_and_doubles_nothing(sim):  # noqa: F811
    async with running_worker(sim) as worker:
        pid = worker.pbx_id
        await synced(worker)
        talking = queue_call(sim, "+15550201")
        await answer(sim, talking)
        waiting = queue_call(sim, "+15550202")
        want = {talking.uniqueid: "answered", waiting.uniqueid: "waiting"}
        await eventually(lambda: outcomes(pid, want))
        before = time.time()
        await sim.faults.restart(down_for=0.3)  # Shutdown, sessions closed, calls gone
        await synced(worker, 2)
        after = time.time()
        later = queue_call(sim, "+15550203")
        await answer(sim, later)
        sim.pbx.calls.hangup(later.name)
        await eventually(lambda: as_queue_log_says(sim, pid, [later.uniqueid]))
        (gap,) = await sync_to_async(gaps)(pid)
        rows = await sync_to_async(records)(pid)
    assert len(rows) == 3
    for uid in (talking.uniqueid, waiting.uniqueid):
        assert (rows[uid].outcome, rows[uid].partial) == ("incomplete", True)
        assert rows[uid].ended_at == gap.started_at
    # The talking call's wait, seen before the restart, is kept.
    assert rows[talking.uniqueid].wait_seconds is not None
    assert gap.reason == "the PBX shut down"
    assert before <= gap.started_at.timestamp() and gap.ended_at.timestamp() <= after
    assert gap.ended_at.timestamp() - gap.started_at.timestamp() >= 0.3
    assert await sync_to_async(spans_into)(pid, gap) == []
    # Each member has a span again from the end of the gap.
    reopened = await sync_to_async(
        lambda: set(
            AgentSpan.objects.filter(pbx_id=pid, started_at=gap.ended_at).values_list(
                "queue", "interface"
            )
        )
    )()
    assert {("6501", "PJSIP/1002"), ("6501", "PJSIP/1003"), ("6501", "PJSIP/1005")} <= reopened


async def test_a_session_drop_is_stored_as_a_gap_from_the_drop_to_the_resync(sim):  # noqa: F811
    async with running_worker(sim) as worker:
        pid = worker.pbx_id
        await synced(worker)
        await eventually(lambda: [] if worker.flushes else ["flush"])
        before = time.time()
        reopened = sim.faults.refuse_for(0.4)
        sim.faults.drop_all(rst=True)
        dropped = time.time()
        # Unseen: a call that comes and goes while the session is down.
        unseen = queue_call(sim, "+15550301")
        sim.pbx.calls.hangup(unseen.name)
        await reopened
        await synced(worker, 2)
        synced_at = time.time()

        def closed() -> list[str]:
            found = gaps(pid)
            return [] if len(found) == 1 and found[0].ended_at else [f"gaps {found}"]

        await eventually(closed)
        (gap,) = await sync_to_async(gaps)(pid)
        status = await sync_to_async(Pbx.objects.get)(pk=pid)
    assert before <= gap.started_at.timestamp() <= dropped + 1.0
    assert dropped + 0.4 <= gap.ended_at.timestamp() <= synced_at
    assert await sync_to_async(spans_into)(pid, gap) == []
    assert await sync_to_async(records)(pid) == {}  # nothing was seen of the unseen call
    assert status.recorded_until is not None and status.recorded_until >= gap.ended_at
