"""Replay of lab transcripts: events go out verbatim, the model follows them, and the
snapshot ends where the lab PBX ended (from the transcripts' own list replies and events)."""

from __future__ import annotations

import pytest

from monitor.sim.replay import Replay, load

from .amitest import RawClient


async def replay(sim, name: str, **kw) -> tuple[Replay, RawClient]:
    c = await RawClient.connect(sim.port)
    await c.login()
    r = Replay(sim, load(name), speed=kw.pop("speed", 10_000))
    return r, c


async def test_c1_events_go_out_byte_for_byte_and_the_call_is_gone(sim):
    r, c = await replay(sim, "c1-call-1001-to-1002-ami-hangup")
    await r.run()
    sent = b"".join(
        i.raw
        for i in r.items
        if i.packet.is_event
        and "actionid" not in i.packet.fields
        and i.packet.name != "FullyBooted"
    )
    await c.wait_for(lambda: bytes(c.raw).endswith(sent))
    assert bytes(c.raw).endswith(sent)
    assert r.sent == 102
    snap = sim.snapshot()
    assert snap["channels"] == {}
    assert snap["endpoints"]["1001"]["device_state"] == "NOT_INUSE"
    assert snap["endpoints"]["1002"]["device_state"] == "NOT_INUSE"
    # what the lab's events said about 1002 in 6500 (paused and unpaused earlier, in c3)
    assert snap["queues"]["6500"]["members"]["PJSIP/1002"]["last_pause"] == 1795746357
    await c.close()


async def test_c3_ends_with_the_labs_members_and_pause_devices(sim):
    r, c = await replay(sim, "c3-queue-pause-add-remove")
    await r.run()
    snap = sim.snapshot()
    q0, q1 = snap["queues"]["6500"]["members"], snap["queues"]["6501"]["members"]
    assert list(q0) == ["PJSIP/1004", "PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]
    assert list(q1) == ["PJSIP/1005", "PJSIP/1002", "PJSIP/1003"]
    assert not any(m["paused"] for m in [*q0.values(), *q1.values()])
    assert {i: m["last_pause"] for i, m in q0.items()} == {
        "PJSIP/1004": 0, "PJSIP/1001": 0, "PJSIP/1002": 1795746357, "PJSIP/1003": 1795746357,
    }  # fmt: skip
    assert q1["PJSIP/1003"]["last_pause"] == 1795746357
    # The device cache keeps the removed members' pause devices (b5's DeviceStateList has them).
    assert snap["devices"]["Queue:6501_pause_PJSIP/1004"] == "NOT_INUSE"
    assert snap["devices"]["Queue:6500_pause_Local/1006@ext-local/n"] == "NOT_INUSE"
    got = await c.action("QueueStatus", ("Queue", "6501"))
    assert [p.get("Location") for p in got if p.name == "QueueMember"] == [
        "PJSIP/1005",
        "PJSIP/1002",
        "PJSIP/1003",
    ]
    await c.close()


async def test_c4_ends_with_1004_registered_again_on_its_new_contact(sim):
    r, c = await replay(sim, "c4-endpoint-unregister")
    await r.run()
    ep = sim.snapshot()["endpoints"]["1004"]
    assert ep["contacts"] == [
        {"uri": "sip:1004-0x55a1fed29580@127.0.0.1:5140", "status": "Reachable"}
    ]
    assert (ep["registered"], ep["online"], ep["device_state"]) == (True, True, "NOT_INUSE")
    member = sim.snapshot()["queues"]["6500"]["members"]["PJSIP/1004"]
    assert (member["calls_taken"], member["last_call"], member["status"]) == (1, 1795746431, 1)
    got = await c.action("PJSIPShowContacts")
    uris = [p.get("Uri") for p in got if p.name == "ContactList"]
    assert "sip:1004-0x55a1fed29580@127.0.0.1:5140" in uris
    await c.close()


async def test_b5_lists_answer_with_the_state_of_that_moment(sim):
    r, c = await replay(sim, "b5-wallboard1-initial-sync-during-calls")
    await r.run(until=3.0)  # after the lab's own sync (2.5 s), before 1004 answers (4.0 s)
    got = await c.action("QueueStatus", ("Queue", "6500"))
    entries = [p for p in got if p.name == "QueueEntry"]
    assert [(p.get("Channel"), p.get("Uniqueid")) for p in entries] == [
        ("PJSIP/1005-00000016", "1795746426.48")
    ]
    assert {p.get("Location"): p.get("Status") for p in got if p.name == "QueueMember"} == {
        "PJSIP/1004": "6", "PJSIP/1001": "2", "PJSIP/1002": "6", "PJSIP/1003": "6",
    }  # fmt: skip
    chans = await c.action("CoreShowChannels")
    assert sorted(p.get("Channel") for p in chans if p.name == "CoreShowChannel") == [
        "PJSIP/1001-00000015", "PJSIP/1002-00000018", "PJSIP/1003-00000017",
        "PJSIP/1004-00000019", "PJSIP/1005-00000016",
    ]  # fmt: skip
    await r.run()
    snap = sim.snapshot()
    assert snap["channels"] == {}
    assert snap["queues"]["6500"]["callers"] == []
    members = snap["queues"]["6500"]["members"]
    assert {i: m["calls_taken"] for i, m in members.items()} == {
        "PJSIP/1004": 1, "PJSIP/1001": 1, "PJSIP/1002": 1, "PJSIP/1003": 2,
    }  # fmt: skip
    assert members["PJSIP/1004"]["last_call"] == 1795746431
    # Inferred: the lab's QueueParams said 4 completed before the call, AgentComplete makes 5.
    assert snap["queues"]["6500"]["completed"] == 5
    assert snap["queues"]["6501"]["abandoned"] == 1
    await c.close()


@pytest.mark.parametrize(
    "name", ["a3-login-restricted-wallboard1", "a6-timestampevents-yes", "p1-originate-burst-rate"]
)
async def test_call_transcripts_leave_no_channel_behind(sim, name):
    r, c = await replay(sim, name)
    await r.run()
    assert r.sent > 0
    assert sim.snapshot()["channels"] == {}
    await c.close()
