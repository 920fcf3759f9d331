"""Events that arrive while the worker collects its lists: a call starts, is answered or ends,
a caller joins a queue, an agent pauses, between one list reply and the next (or just before a
reply that already shows the result). The worker applies those events only after all lists are
in, so it must tell by stream position which of them the lists already cover.

The simulator runs the change from inside its handler of the list action named, before or
after writing that action's reply; the worker's actions are pipelined, so the events fall
between two of its lists.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from monitor.models import Queue
from monitor.sim import actions
from monitor.sim.server import PbxSimulator

from .harness import (
    channel_of,
    db_calls,
    db_members,
    db_states,
    eventually,
    mirrored,
    running_worker,
)

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = [
    "PJSIPShowEndpoints",
    "DeviceStateList",
    "ExtensionStateList",
    "QueueStatus",
    "CoreShowChannels",
]


def during(monkeypatch, action: str, when: str, change) -> list[int]:
    """Run ``change()`` once, inside the simulator's handler of ``action``, ``before`` or
    ``after`` its reply is written. Returns a list that gets one item when it ran."""
    original = actions.HANDLERS[action.lower()]
    ran: list[int] = []

    def handler(s, m):
        if ran:
            return original(s, m)
        ran.append(1)
        if when == "before":
            change()
            return original(s, m)
        s.after(change)
        return original(s, m)

    monkeypatch.setitem(actions.HANDLERS, action.lower(), handler)
    return ran


def talking(pid: int, a: str, b: str) -> list[str]:
    calls = {c["endpoint_resource"]: c for c in db_calls(pid).values()}
    states = db_states(pid)
    out = [f"{r}: {states.get(r)}" for r in (a, b) if states.get(r) != "inuse"]
    if set(calls) != {a, b}:
        return out + [f"calls of {sorted(calls)}"]
    if not calls[a]["peer_channel"].startswith(f"PJSIP/{b}-") or not calls[b][
        "peer_channel"
    ].startswith(f"PJSIP/{a}-"):
        out.append(f"peers {calls[a]['peer_channel']!r} {calls[b]['peer_channel']!r}")
    return out


def idle(pid: int, *resources: str) -> list[str]:
    """These endpoints are free and have no call left."""
    states = db_states(pid)
    out = [f"{r}: {states.get(r)}" for r in resources if states.get(r) != "not_inuse"]
    calls = db_calls(pid).values()
    return out + [
        f"call left: {c['channel']}" for c in calls if c["endpoint_resource"] in resources
    ]


async def until_no_channels(sim: PbxSimulator, timeout: float = 10.0) -> None:
    """The caller's side hangs up on its own timer after the agent: wait for it."""
    deadline = time.monotonic() + timeout
    while sim.snapshot()["channels"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("action", LISTS)
async def test_a_call_that_starts_and_is_answered_during_the_resync(sim, monkeypatch, action, when):
    def call() -> None:
        sim.pbx.calls.phone_call("1005", "1002")
        sim.pbx.calls.answer(channel_of(sim, "1002"))

    ran = during(monkeypatch, action, when, call)
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        assert ran and worker.resyncs == 1
        await eventually(lambda: talking(worker.pbx_id, "1005", "1002"))


@pytest.mark.parametrize("action", LISTS)
async def test_a_call_that_ends_during_the_resync_leaves_nothing(sim, monkeypatch, action):
    sim.pbx.calls.phone_call("1004", "1003")
    sim.pbx.calls.answer(channel_of(sim, "1003"))
    ran = during(
        monkeypatch, action, "after", lambda: sim.pbx.calls.hangup(channel_of(sim, "1004"))
    )
    async with running_worker(sim) as worker:
        await until_no_channels(sim)
        await mirrored(sim, worker)
        assert ran and sim.snapshot()["channels"] == {}
        await eventually(lambda: idle(worker.pbx_id, "1003", "1004"))
        assert await sync_to_async(db_calls)(worker.pbx_id) == {}


@pytest.mark.parametrize("action", LISTS)
async def test_a_queue_caller_and_a_pause_during_the_resync(sim, monkeypatch, action):
    def change() -> None:
        sim.pbx.queue_pause("PJSIP/1002", True, queue="6501", reason="Coffee")
        sim.pbx.calls.trunk_call("+15550199", "6501")  # 1002 paused, 1005 and 1003 ring

    ran = during(monkeypatch, action, "after", change)
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        assert ran

        def waiting() -> list[str]:
            rows = db_members(worker.pbx_id)
            member = rows[("6501", "PJSIP/1002")]
            out = (
                []
                if (member["paused"], member["reason"]) == (True, "Coffee")
                else [f"1002: {member}"]
            )
            callers = [
                c["channel"]
                for c in db_calls(worker.pbx_id).values()
                if c["endpoint_resource"] == "trunk_1"
            ]
            return out + ([] if len(callers) == 1 else [f"trunk calls {callers}"])

        await eventually(waiting)


async def test_a_reconnect_whose_resync_races_a_hangup_and_a_new_call(sim, monkeypatch):
    sim.pbx.calls.phone_call("1004", "1003")
    sim.pbx.calls.answer(channel_of(sim, "1003"))
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        await eventually(lambda: talking(worker.pbx_id, "1004", "1003"))

        def change() -> None:
            sim.pbx.calls.hangup(channel_of(sim, "1004"))
            sim.pbx.calls.phone_call("1005", "1002")
            sim.pbx.calls.answer(channel_of(sim, "1002"))

        ran = during(monkeypatch, "DeviceStateList", "after", change)
        sim.faults.drop_all(rst=True)
        await eventually(lambda: [] if ran and worker.resyncs == 2 else ["no second resync yet"])
        await mirrored(sim, worker)
        await eventually(
            lambda: talking(worker.pbx_id, "1005", "1002") + idle(worker.pbx_id, "1004", "1003")
        )


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("action", LISTS)
async def test_a_queue_call_that_completes_during_the_resync_is_counted_once(
    sim, monkeypatch, action, when
):
    sim.pbx.calls.trunk_call("+15550142", "6501")  # 1002, 1003 and 1005 are free: one rings
    agent = next(c["name"] for c in sim.snapshot()["channels"].values() if "trunk" not in c["name"])

    def complete() -> None:
        sim.pbx.calls.answer(agent)
        sim.pbx.calls.hangup(agent)

    ran = during(monkeypatch, action, when, complete)
    async with running_worker(sim) as worker:
        await until_no_channels(sim)
        await mirrored(sim, worker)
        assert ran and sim.snapshot()["channels"] == {}
        truth = sim.snapshot()["queues"]["6501"]
        member = agent.split("-")[0]

        def counted() -> list[str]:
            queue = Queue.objects.get(pbx_id=worker.pbx_id, name="6501")
            taken = db_members(worker.pbx_id)[("6501", member)]["calls_taken"]
            got = (queue.completed, taken)
            want = (truth["completed"], truth["members"][member]["calls_taken"])
            return [] if got == want else [f"completed, calls taken: {got} != {want}"]

        await eventually(counted)
