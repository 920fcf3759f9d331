"""A ``wallboard1``-style user (read call,agent,reporting,system; write call,agent,reporting,
originate,command) still yields the right endpoint and queue states, idle, during a call between
two phones and during a queue call, on the lab's Asterisk and on the FCM630A dialect.

On stock Asterisk it may not list PJSIP endpoints (that needs ``system`` write): the endpoint set
and states come from DeviceStateList, and registration is unknown. On the FCM630A its
``command`` write class is the "Special Command" privilege that opens the PJSIP listings.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from monitor.models import Pbx, Queue

from .harness import (
    WALLBOARD,
    answer_when_ringing,
    channel_of,
    db_calls,
    db_members,
    db_states,
    eventually,
    mirrored,
    running_worker,
)

pytestmark = pytest.mark.django_db(transaction=True)


def expect(
    pid: int,
    states: dict[str, str],
    members: dict[tuple[str, str], tuple[str, bool]],
    waiting: dict[str, int],
):
    """A check: these endpoint states, these (member status, in call), these queue counts."""

    def check() -> list[str]:
        got = db_states(pid)
        out = [f"{r}: {got.get(r)} != {s}" for r, s in states.items() if got.get(r) != s]
        rows = db_members(pid)
        for key, want in members.items():
            row = rows.get(key)
            if row is None or (row["status"], row["in_call"]) != want:
                out.append(f"member {key}: {row and (row['status'], row['in_call'])} != {want}")
        calls = dict(Queue.objects.filter(pbx_id=pid).values_list("name", "calls_waiting"))
        out += [
            f"queue {q}: {calls.get(q)} waiting != {n}"
            for q, n in waiting.items()
            if calls.get(q) != n
        ]
        return out

    return check


@pytest.mark.parametrize("dialect", ["asterisk", "fcm630a"])
async def test_wallboard_user_sees_endpoints_and_queues_idle_in_calls_and_in_queue_calls(
    sim, fcm_sim, dialect
):
    sim = fcm_sim if dialect == "fcm630a" else sim
    listed = dialect == "fcm630a"  # only there may wallboard1 list PJSIP endpoints
    async with running_worker(sim, WALLBOARD) as worker:
        pid = worker.pbx_id
        await mirrored(sim, worker, registered=listed)
        pbx = await sync_to_async(Pbx.objects.get)(pk=pid)
        assert pbx.actions["PJSIPShowEndpoints"] is listed
        assert pbx.actions["DeviceStateList"] and pbx.actions["QueueStatus"]
        assert [u["action"] for u in pbx.unavailable] == ([] if listed else ["PJSIPShowEndpoints"])
        idle = await sync_to_async(db_states)(pid)
        assert idle == {
            **{f"100{i}": "not_inuse" for i in range(1, 6)},
            **dict.fromkeys(("1000", "1006", "1007", "1008", "1009", "trunk_1"), "unavailable"),
        }

        # 1005 calls 1002: ringing, then talking
        sim.pbx.calls.phone_call("1005", "1002")
        await eventually(
            expect(
                pid,
                {"1005": "inuse", "1002": "ringing"},
                {("6501", "PJSIP/1002"): ("ringing", False)},
                {},
            )
        )
        await mirrored(sim, worker, registered=listed)
        sim.pbx.calls.answer(channel_of(sim, "1002"))
        await eventually(
            expect(
                pid,
                {"1005": "inuse", "1002": "inuse"},
                {("6500", "PJSIP/1002"): ("inuse", False)},
                {},
            )
        )
        await mirrored(sim, worker, registered=listed)

        # an outside caller reaches 6501 (1002, 1003, 1005): the only free member rings
        sim.pbx.calls.trunk_call("+15550100", "6501")
        ringing = {
            ("6501", "PJSIP/1003"): ("ringing", False),
            ("6501", "PJSIP/1005"): ("inuse", False),
        }
        await eventually(expect(pid, {"1003": "ringing"}, ringing, {"6501": 1}))
        await mirrored(sim, worker, registered=listed)
        callers = await sync_to_async(
            lambda: list(
                Queue.objects.get(pbx_id=pid, name="6501").callers.values_list(
                    "position", "caller_id_num"
                )
            )
        )()
        assert callers == [(1, "+15550100")]

        await answer_when_ringing(sim, "1003")
        answered = {
            ("6501", "PJSIP/1003"): ("inuse", True),
            ("6500", "PJSIP/1003"): ("inuse", False),
        }
        await eventually(expect(pid, {"1003": "inuse"}, answered, {"6501": 0}))
        await mirrored(sim, worker, registered=listed)
        calls = await sync_to_async(db_calls)(pid)
        agent = next(c for c in calls.values() if c["endpoint_resource"] == "1003")
        assert agent["peer_channel"].startswith("PJSIP/trunk_1-")

        # everybody hangs up
        for name in [c["name"] for c in sim.snapshot()["channels"].values()]:
            sim.pbx.calls.hangup(name)
        await eventually(
            expect(pid, idle, {("6501", "PJSIP/1003"): ("not_inuse", False)}, {"6501": 0})
        )
        await mirrored(sim, worker, registered=listed)
        assert await sync_to_async(db_calls)(pid) == {}
        taken = await sync_to_async(db_members)(pid)
        truth = sim.snapshot()["queues"]["6501"]["members"]["PJSIP/1003"]["calls_taken"]
        assert taken[("6501", "PJSIP/1003")]["calls_taken"] == truth == 1
