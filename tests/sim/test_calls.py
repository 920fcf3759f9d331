"""Calls driven through the simulator's API and AMI: what AMI clients see and what the model
holds (``sim.snapshot()``), for the flows the scenario engine and the worker rely on."""

from __future__ import annotations

import asyncio
from collections import Counter

from .amitest import RawClient


async def logged_in(sim, **kw) -> RawClient:
    c = await RawClient.connect(sim.port)
    reply = await c.login(**kw)
    assert reply.get("Message") == "Authentication accepted"
    return c


def ringing(sim, endpoint: str) -> str:
    names = [ch.name for ch in sim.pbx.endpoints[endpoint].channels.values() if ch.state == 5]
    assert names, f"{endpoint} is not ringing"
    return names[-1]


async def test_internal_call_rings_answers_and_both_legs_hang_up(sim):
    c = await logged_in(sim)
    a = sim.pbx.calls.phone_call("1003", "1002")
    assert a is not None
    await c.wait_event("DialState", DialStatus="RINGING")
    snap = sim.snapshot()
    assert snap["endpoints"]["1002"]["device_state"] == "RINGING"
    assert snap["endpoints"]["1003"]["device_state"] == "INUSE"
    assert sim.pbx.calls.answer(ringing(sim, "1002"))
    await c.wait_event("BridgeEnter", count=2)
    chans = sim.snapshot()["channels"]
    assert len(chans) == 2
    assert {ch["state"] for ch in chans.values()} == {6}
    assert len({ch["bridge"] for ch in chans.values()}) == 1
    assert len({ch["linkedid"] for ch in chans.values()}) == 1
    assert sim.pbx.calls.hangup(a.name)  # the caller's phone hangs up
    await c.wait_event("Hangup", count=2)
    assert sim.snapshot()["channels"] == {}
    assert sim.pbx.devices["PJSIP/1002"] == "NOT_INUSE"
    assert sim.pbx.devices["PJSIP/1003"] == "NOT_INUSE"
    names = [p.name for p in c.events()]
    assert names.index("HangupRequest") < names.index("BridgeLeave") < names.index("BridgeDestroy")
    await c.close()


async def test_dial_to_unanswered_phone_ends_with_noanswer(sim):
    c = await logged_in(sim)
    sim.pbx.calls.dial_timeout = 5  # x time_scale 0.01 = 50 ms
    sim.pbx.calls.phone_call("1003", "1004")
    ends = await c.wait_event("DialEnd", DialStatus="NOANSWER")
    assert ends
    await c.wait_event("Hangup", count=2)
    assert sim.snapshot()["channels"] == {}
    await c.close()


async def test_queue_call_answered_by_a_member_then_completed(sim):
    c = await logged_in(sim)
    pbx = sim.pbx
    caller = pbx.calls.phone_call("1005", "6500")
    assert caller is not None
    joins = await c.wait_event("QueueCallerJoin")
    assert joins[0].get("Queue") == "6500" and joins[0].get("Position") == "1"
    # ringall: every free member of 6500 rings; 1001 answers by itself (the lab's auto-answer).
    await c.wait_event("AgentConnect")
    snap = sim.snapshot()
    assert snap["queues"]["6500"]["callers"] == []
    agent = next(m for m in pbx.queues["6500"].members.values() if m.in_call)
    assert agent.interface == "PJSIP/1001"
    assert snap["queues"]["6500"]["members"]["PJSIP/1001"]["in_call"] is True
    names = Counter(p.name for p in c.events())
    assert names["AgentCalled"] == 4  # 1001..1004 all free
    assert names["Hangup"] == 3  # the three other members' legs, cause 26
    assert all(p.get("Cause") == "26" for p in c.events("Hangup"))
    pbx.calls.hangup(caller.name)
    complete = await c.wait_event("AgentComplete")
    assert complete[0].get("Reason") == "caller"
    await c.wait_event("Hangup", count=5)
    snap = sim.snapshot()
    assert snap["channels"] == {}
    member = snap["queues"]["6500"]["members"]["PJSIP/1001"]
    assert member["calls_taken"] == 1 and member["in_call"] is False and member["last_call"] > 0
    assert snap["queues"]["6500"]["completed"] == 1
    qms = [p for p in c.events("QueueMemberStatus") if p.get("Interface") == "PJSIP/1001"]
    assert qms[-1].get("CallsTaken") == "1"
    await c.close()


async def test_queue_caller_abandons_while_members_ring(sim):
    c = await logged_in(sim)
    pbx = sim.pbx
    pbx.endpoints["1001"].auto_answer = False
    caller = pbx.calls.phone_call("1005", "6500")
    await c.wait_event("AgentCalled", count=4)
    status = await c.action("QueueStatus", ("Queue", "6500"))
    entries = [p for p in status if p.name == "QueueEntry"]
    assert [(p.get("Channel"), p.get("Position")) for p in entries] == [(caller.name, "1")]
    pbx.calls.hangup(caller.name)
    abandon = await c.wait_event("QueueCallerAbandon")
    assert abandon[0].get("OriginalPosition") == "1"
    await c.wait_event("QueueCallerLeave")
    snap = sim.snapshot()
    assert snap["queues"]["6500"]["abandoned"] == 1
    assert snap["queues"]["6500"]["callers"] == []
    assert snap["channels"] == {}
    assert all(p.get("DialStatus") == "CANCEL" for p in c.events("DialEnd"))
    await c.close()


async def test_member_not_answering_gets_ringnoanswer_and_rrmemory_moves_on(sim):
    c = await logged_in(sim)
    pbx = sim.pbx
    q = pbx.queues["6501"]
    q.timeout, q.retry = 2, 1  # x 0.01
    caller = pbx.calls.phone_call("1004", "6501")
    first = (await c.wait_event("AgentCalled"))[0].get("Interface")
    nra = await c.wait_event("AgentRingNoAnswer")
    assert nra[0].get("Interface") == first
    second = (await c.wait_event("AgentCalled", count=2))[1].get("Interface")
    assert second != first  # round robin with memory: the next member
    pbx.calls.hangup(caller.name)
    await c.wait_event("QueueCallerAbandon")
    await asyncio.sleep(0.05)
    assert sim.snapshot()["channels"] == {}
    await c.close()


async def test_hold_and_unhold_change_device_and_hint_state(sim):
    c = await logged_in(sim)
    pbx = sim.pbx
    pbx.calls.phone_call("1003", "1002")
    pbx.calls.answer(ringing(sim, "1002"))
    b = next(iter(pbx.endpoints["1002"].channels.values()))
    assert pbx.calls.hold(b.name)
    holds = await c.wait_event("Hold")
    assert holds[0].get("MusicClass") == "default"
    await c.wait_event("DeviceStateChange", Device="PJSIP/1002", State="ONHOLD")
    await c.wait_event("ExtensionStatus", Exten="1002", Status="16")
    assert pbx.calls.hold(b.name, False)
    await c.wait_event("Unhold")
    await c.wait_event("DeviceStateChange", count=2, Device="PJSIP/1002", State="INUSE")
    await c.close()


async def test_sync_originate_holds_events_until_its_reply(sim):
    c = await logged_in(sim)
    pbx = sim.pbx
    start = len(c.packets)
    await c.send(
        "Action: Originate\r\nActionID: sync1\r\nChannel: PJSIP/1003\r\nContext: from-internal\r\n"
        "Exten: 2001\r\nPriority: 1\r\n\r\n"
    )
    await asyncio.sleep(0.05)
    # 1003 rings; the session is inside the synchronous Originate: no reply, no events yet.
    assert c.packets[start:] == []
    pbx.calls.answer(ringing(sim, "1003"))
    await c.wait_for(lambda: any(p.get("ActionID") == "sync1" for p in c.packets))
    mine = c.packets[start:]
    assert mine[0].get("Response") == "Success"
    assert mine[0].get("Message") == "Originate successfully queued"
    assert [p.name for p in mine[1:3]] == ["Newchannel", "Newexten"]
    await c.close()


async def test_async_originate_failure_reasons_and_unknown_channel(sim):
    c = await logged_in(sim)
    got = await c.action(
        "Originate",
        ("Channel", "PJSIP/1009"),
        ("Exten", "2000"),
        ("Context", "x"),
        ("Async", "true"),
        action_id="o1",
    )
    assert got[0].get("Message") == "Originate successfully queued"
    resp = await c.wait_event("OriginateResponse")
    assert (resp[0].get("ActionID"), resp[0].get("Response"), resp[0].get("Reason")) == (
        "o1",
        "Failure",
        "0",
    )
    sync = await c.action(
        "Originate", ("Channel", "PJSIP/9999"), ("Exten", "2000"), ("Context", "x")
    )
    assert sync[0].get("Message") == "Originate failed"
    await c.close()


async def test_local_originate_burst_has_the_labs_event_mix(sim):
    """p1: 40 async Originates of Local/2003 (UserEvent + Wait 2): 27 events per call."""
    c = await logged_in(sim)
    n = 10
    text = "".join(
        f"Action: Originate\r\nActionID: b{i}\r\nChannel: Local/2003@from-internal\r\n"
        f'Application: Wait\r\nData: 2\r\nCallerID: "Burst {i}" <7700{i}>\r\nAsync: true\r\n\r\n'
        for i in range(n)
    )
    start = len(c.packets)
    await c.send(text)
    await c.wait_event("Cdr", count=2 * n, timeout=5)
    names = Counter(p.name for p in c.packets[start:] if p.is_event and p.name != "SuccessfulAuth")
    per_call = {
        "Newexten": 4, "DeviceStateChange": 4, "Newchannel": 2, "NewCallerid": 2,
        "NewConnectedLine": 2, "Newstate": 2, "Hangup": 2, "Cdr": 2, "OriginateResponse": 1,
        "LocalBridge": 1, "DialBegin": 1, "DialEnd": 1, "UserEvent": 1, "HangupRequest": 1,
        "SoftHangupRequest": 1,
    }  # fmt: skip
    assert dict(names) == {k: v * n for k, v in per_call.items()}
    assert sim.snapshot()["channels"] == {}
    await c.close()


async def test_hangup_by_regex_lists_and_hangs_up_every_match(sim):
    c = await logged_in(sim)
    pbx = sim.pbx
    pbx.calls.phone_call("1003", "2001")
    pbx.calls.phone_call("1004", "2001")
    got = await c.action("Hangup", ("Channel", "/^PJSIP/100[34]-/"))
    assert got[0].get("Message") == "Channels hung up will follow"
    assert sorted(p.get("Channel")[:10] for p in got if p.name == "ChannelHungup") == [
        "PJSIP/1003",
        "PJSIP/1004",
    ]
    assert got[-1].get("ListItems") == "2"
    await c.wait_event("Hangup", count=2)
    assert sim.snapshot()["channels"] == {}
    await c.close()


async def test_command_channel_originate_and_core_show_channels(sim):
    c = await logged_in(sim)
    got = await c.action(
        "Command", ("Command", "channel originate PJSIP/1001 extension 2001@from-internal")
    )
    assert got[0].get("Response") == "Success"
    out = await c.action("Command", ("Command", "core show channels"))
    lines = out[0].get_all("Output")
    assert lines[-3:] == ["1 active channel", "1 active call", "1 call processed"]
    assert (
        lines[1].startswith("PJSIP/1001-")
        and "2001@from-internal:2" in lines[1]
        and "Wait(600)" in lines[1]
    )
    await c.close()
