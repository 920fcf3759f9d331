"""Every lab transcript with live events, replayed by the simulator into a real worker over TCP:
at checkpoints on the way and at the end, the database must equal both the simulator's truth
and what the transcript itself says (``oracle.Picture``), plus facts read off each file.

Replayed: a3, a6, b2, b5, c1, c3, c4, d1, p1. Not replayed: a1 (idle: no call, device or queue
event), a2/a4/a5 (login failures, MD5, TLS: no state), b1/b3/b4 (list and action answers only;
their lists describe the idle lab, which every test here mirrors anyway), d2 (error replies).
d1 has no live event either, but its list items are wallboard1's own view of the lab, so it is
kept as the restricted user's baseline.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from monitor.models import Queue
from monitor.sim.replay import Replay, load

from .harness import (
    WALLBOARD,
    db_calls,
    db_endpoint,
    db_members,
    db_states,
    eventually,
    mirrored,
    running_worker,
)
from .oracle import Picture

pytestmark = pytest.mark.django_db(transaction=True)

SPEED = 200.0  # c4's 65 s in a third of a second; the other files in well under 0.1 s


class Played:
    """A transcript replayed step by step, with the oracle's picture of the point reached."""

    def __init__(self, sim, name: str) -> None:
        self.sim = sim
        self.replay = Replay(sim, load(name), speed=SPEED)

    async def to(self, t: float | None = None) -> Picture:
        await self.replay.run(until=t)
        done = self.replay.items[: self.replay.position]
        return Picture().feed(i.packet for i in done if not i.packet.is_response)


async def agrees(sim, worker, picture: Picture, *, registered: bool = True) -> None:
    """The database equals the simulator's truth and the transcript's own account."""
    await mirrored(sim, worker, registered=registered)
    await eventually(lambda: picture.differences(worker.pbx_id))


# (transcript, AMI user, checkpoints in transcript seconds, connect after this many seconds)
CASES = [
    ("a3-login-restricted-wallboard1", WALLBOARD, [2.0125, 4.0], 0.0),
    ("a6-timestampevents-yes", None, [1.0115, 3.0], 0.0),
    ("b2-state-lists-and-channels", None, [0.0201, 0.5], 0.0),
    ("b5-wallboard1-initial-sync-during-calls", WALLBOARD, [4.0075, 5.0, 7.5], 3.0),
    ("c1-call-1001-to-1002-ami-hangup", None, [0.0085, 2.0, 6.0, 9.017], 0.0),
    ("c3-queue-pause-add-remove", None, [0.5, 2.5], 0.0),
    ("c4-endpoint-unregister", None, [1.0, 10.0, 40.0], 0.0),
    ("d1-restricted-user-denials", WALLBOARD, [], 0.0),
    ("p1-originate-burst-rate", None, [0.5, 1.0, 2.5], 0.0),
]


@pytest.mark.parametrize(
    ("name", "user", "checkpoints", "connect_at"), [pytest.param(*c, id=c[0][:2]) for c in CASES]
)
async def test_transcript_replayed_into_the_worker_ends_as_the_pbx_did(
    sim, name, user, checkpoints, connect_at
):
    played = Played(sim, name)
    # b5: the calls were up before the wallboard logged in; the others start from the idle lab.
    start = await played.to(connect_at if connect_at else -1.0)
    registered = user is None
    async with running_worker(sim, *([user] if user else [])) as worker:
        await agrees(sim, worker, start, registered=registered)
        for t in checkpoints:
            await agrees(sim, worker, await played.to(t), registered=registered)
        final = await played.to()
        assert played.replay.done.is_set()
        await agrees(sim, worker, final, registered=registered)
        assert not final.channels and await sync_to_async(db_calls)(worker.pbx_id) == {}


# -- what each file says, checked by name ------------------------------------------------------
async def test_c1_1002_rings_for_1001_then_both_talk_then_nothing_is_left(sim):
    played = Played(sim, "c1-call-1001-to-1002-ami-hangup")
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        pid = worker.pbx_id

        await played.to(2.0)  # 1001 answered the Originate; 1002 rings

        def ringing() -> list[str]:
            calls = {c["channel"]: c for c in db_calls(pid).values()}
            states = db_states(pid)
            out = []
            if set(calls) != {"PJSIP/1001-00000003", "PJSIP/1002-00000004"}:
                return [f"calls {sorted(calls)}"]
            if calls["PJSIP/1002-00000004"]["peer_channel"] != "PJSIP/1001-00000003":
                out.append(f"1002's peer: {calls['PJSIP/1002-00000004']['peer_channel']!r}")
            if calls["PJSIP/1002-00000004"]["state"] != "Ringing":
                out.append(f"1002's call: {calls['PJSIP/1002-00000004']['state']}")
            if (states["1001"], states["1002"]) != ("inuse", "ringing"):
                out.append(f"states {states['1001']}, {states['1002']}")
            if {c["linkedid"] for c in calls.values()} != {"1795746362.7"}:
                out.append("linkedid")
            return out

        await eventually(ringing)

        await played.to(6.0)  # answered and bridged

        def talking() -> list[str]:
            calls = {c["channel"]: c for c in db_calls(pid).values()}
            a, b = calls["PJSIP/1001-00000003"], calls["PJSIP/1002-00000004"]
            states = db_states(pid)
            out = []
            if (a["peer_channel"], b["peer_channel"]) != (b["channel"], a["channel"]):
                out.append(f"peers {a['peer_channel']!r} {b['peer_channel']!r}")
            if (
                a["bridge_id"] != "36899c81-9011-47fb-a31e-1e07d1b1c6ad"
                or b["bridge_id"] != a["bridge_id"]
            ):
                out.append(f"bridges {a['bridge_id']!r} {b['bridge_id']!r}")
            if (states["1001"], states["1002"]) != ("inuse", "inuse"):
                out.append(f"states {states['1001']}, {states['1002']}")
            return out

        await eventually(talking)

        await played.to()

        def over() -> list[str]:
            states = db_states(pid)
            out = [f"call left: {c['channel']}" for c in db_calls(pid).values()]
            if (states["1001"], states["1002"]) != ("not_inuse", "not_inuse"):
                out.append(f"states {states['1001']}, {states['1002']}")
            return out

        await eventually(over)
        await mirrored(sim, worker)


C3_AFTER_PAUSES = {  # 0.5 s: the first three QueuePause events
    ("6500", "PJSIP/1002"): True,
    ("6500", "PJSIP/1003"): True,
    ("6501", "PJSIP/1003"): True,
    ("6500", "PJSIP/1001"): False,
    ("6501", "PJSIP/1002"): False,
}


async def test_c3_ends_with_the_members_and_pauses_of_its_last_queue_status(sim):
    played = Played(sim, "c3-queue-pause-add-remove")
    transcript = played.replay.items
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        pid = worker.pbx_id

        await played.to(0.5)

        def paused() -> list[str]:
            rows = db_members(pid)
            return [
                f"{k}: {rows[k]['paused']}"
                for k, v in C3_AFTER_PAUSES.items()
                if rows[k]["paused"] != v
            ]

        await eventually(paused)

        await played.to(2.5)  # QueueAdd x2, then QueuePenalty 5 and RingInUse on 1004

        def added() -> list[str]:
            rows = db_members(pid)
            local = rows.get(("6500", "Local/1006@ext-local/n"))
            new = rows.get(("6501", "PJSIP/1004"))
            if local is None or new is None:
                return [f"members {sorted(rows)}"]
            out = []
            if (local["paused"], local["reason"], local["status"]) != (
                True,
                "Not yet",
                "unavailable",
            ):
                out.append(f"Local/1006: {local}")
            if (new["paused"], new["penalty"], new["ringinuse"]) != (False, 5, True):
                out.append(f"6501 PJSIP/1004: {new}")
            return out

        await eventually(added)

        final = await played.to()

        # The last QueueStatus of each queue, and the member events after it, from the file.
        last: dict[str, set[str]] = {}
        for item in transcript:
            p = item.packet
            if p.name == "QueueParams":
                last[p.get("Queue")] = set()
            elif p.name == "QueueMember":
                last[p.get("Queue")].add(p.get("Location") or p.get("Interface"))
        assert last == {
            "6500": {"PJSIP/1001", "PJSIP/1002", "PJSIP/1003", "PJSIP/1004"},
            "6501": {"PJSIP/1002", "PJSIP/1003", "PJSIP/1004", "PJSIP/1005"},
        }
        removed = [
            (i.packet.get("Queue"), i.packet.get("Interface"))
            for i in transcript
            if i.packet.name == "QueueMemberRemoved"
        ]
        expected = {(q, m) for q, ms in last.items() for m in ms} - set(removed)
        assert expected == set(final.members)

        def members() -> list[str]:
            rows = db_members(pid)
            out = [f"members {sorted(rows)}"] if set(rows) != expected else []
            out += [f"{k} still paused" for k, v in rows.items() if v["paused"]]
            return out

        await eventually(members)
        await eventually(lambda: final.differences(pid))
        await mirrored(sim, worker)


async def test_c4_1004_goes_away_comes_back_freezes_and_ends_registered_and_reachable(sim):
    played = Played(sim, "c4-endpoint-unregister")
    contact = "sip:1004-0x55a1fed29580@127.0.0.1:5140"
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        pid = worker.pbx_id

        def e1004(state: str, registered: bool, contacts: list) -> list[str]:
            ep = db_endpoint(pid, "1004")
            got = (ep.state, ep.registered, ep.contacts)
            member = db_members(pid)[("6500", "PJSIP/1004")]["status"]
            out = [f"1004: {got}"] if got != (state, registered, contacts) else []
            return out + ([f"member status {member}"] if member != state else [])

        await played.to(1.0)  # unregistered: contact Removed, UNAVAILABLE
        await eventually(lambda: e1004("unavailable", False, []))
        await played.to(10.0)  # restarted and registered
        await eventually(
            lambda: e1004("not_inuse", True, [{"uri": contact, "status": "Reachable"}])
        )
        await played.to(40.0)  # SIGSTOP: qualify gives up
        await eventually(
            lambda: e1004("unavailable", True, [{"uri": contact, "status": "Unreachable"}])
        )
        await played.to()
        await eventually(
            lambda: e1004("not_inuse", True, [{"uri": contact, "status": "Reachable"}])
        )
        await mirrored(sim, worker)


async def test_b5_wallboard_syncs_during_a_queue_call_and_follows_it_to_the_end(sim):
    played = Played(sim, "b5-wallboard1-initial-sync-during-calls")
    await played.to(3.0)  # the lab's own sync is done: a caller waits in 6500, three phones ring
    async with running_worker(sim, WALLBOARD) as worker:
        pid = worker.pbx_id

        def waiting() -> list[str]:
            queue = Queue.objects.filter(pbx_id=pid, name="6500").first()
            if queue is None:
                return ["no queue 6500 yet"]
            callers = list(queue.callers.values_list("position", "channel", "uniqueid"))
            status = {k[1]: v["status"] for k, v in db_members(pid).items() if k[0] == "6500"}
            calls = db_calls(pid)
            out = []
            if callers != [(1, "PJSIP/1005-00000016", "1795746426.48")] or queue.calls_waiting != 1:
                out.append(f"callers {callers}, waiting {queue.calls_waiting}")
            if status != {
                "PJSIP/1001": "inuse",
                "PJSIP/1002": "ringing",
                "PJSIP/1003": "ringing",
                "PJSIP/1004": "ringing",
            }:
                out.append(f"members {status}")
            if len(calls) != 5:
                out.append(f"{len(calls)} calls")
            return out

        await eventually(waiting)
        await mirrored(sim, worker, registered=False)

        await played.to(5.0)  # 1004 answered: the caller left the queue for 1004

        def connected() -> list[str]:
            queue = Queue.objects.get(pbx_id=pid, name="6500")
            rows = {k[1]: v for k, v in db_members(pid).items() if k[0] == "6500"}
            calls = {c["channel"]: c for c in db_calls(pid).values()}
            out = []
            if queue.callers.exists() or queue.calls_waiting:
                out.append("the caller still waits")
            if not rows["PJSIP/1004"]["in_call"] or rows["PJSIP/1004"]["status"] != "inuse":
                out.append(f"1004: {rows['PJSIP/1004']}")
            if set(calls) != {"PJSIP/1001-00000015", "PJSIP/1004-00000019", "PJSIP/1005-00000016"}:
                out.append(f"calls {sorted(calls)}")
            elif calls["PJSIP/1004-00000019"]["peer_channel"] != "PJSIP/1005-00000016":
                out.append(f"1004's peer {calls['PJSIP/1004-00000019']['peer_channel']!r}")
            return out

        await eventually(connected)

        await played.to()

        def done() -> list[str]:
            queue = Queue.objects.get(pbx_id=pid, name="6500")
            taken = {k[1]: v["calls_taken"] for k, v in db_members(pid).items() if k[0] == "6500"}
            out = [f"call left: {c['channel']}" for c in db_calls(pid).values()]
            if taken != {"PJSIP/1001": 1, "PJSIP/1002": 1, "PJSIP/1003": 2, "PJSIP/1004": 1}:
                out.append(f"calls taken {taken}")
            if queue.completed != 5 or queue.calls_waiting != 0:
                out.append(f"completed {queue.completed}, waiting {queue.calls_waiting}")
            if any(v["in_call"] for v in db_members(pid).values()):
                out.append("a member is still in a call")
            return out

        await eventually(done)
        await mirrored(sim, worker, registered=False)
