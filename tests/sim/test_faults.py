"""Fault hooks: what a client sees when the PBX or the network misbehaves."""

from __future__ import annotations

import asyncio

from .amitest import RawClient


async def connected(sim, **kw) -> RawClient:
    c = await RawClient.connect(sim.port)
    await c.login(**kw)
    return c


async def test_drop_all_clean_close_gives_eof(sim):
    c = await connected(sim)
    assert sim.faults.drop_all() == 1
    assert await c.closed()
    assert c.error is None


async def test_drop_all_with_rst_resets_the_connection(sim):
    c = await connected(sim)
    await sim.wait_sessions(1)
    sim.faults.drop_all(rst=True)
    assert await c.closed()
    assert isinstance(c.error, ConnectionResetError)


async def test_restart_sends_shutdown_refuses_then_comes_back_without_calls(sim):
    c = await connected(sim)
    sim.pbx.calls.phone_call("1003", "2001")
    assert sim.snapshot()["channels"]
    task = asyncio.ensure_future(sim.faults.restart(down_for=0.3))
    shutdown = await c.wait_event("Shutdown")
    assert (shutdown[0].get("Shutdown"), shutdown[0].get("Restart")) == ("Cleanly", "True")
    assert await c.closed()
    await asyncio.sleep(0.1)
    try:
        await RawClient.connect(sim.port)
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
    await task
    again = await connected(sim)
    booted = await again.wait_event("FullyBooted")
    assert int(booted[0].get("Uptime")) < 5
    assert sim.snapshot()["channels"] == {}
    chans = await again.action("CoreShowChannels")
    assert chans[-1].get("ListItems") == "0"
    await again.close()


async def test_stall_leaves_pings_unanswered_until_it_ends(sim):
    c = await connected(sim)
    await sim.wait_sessions(1)
    sim.faults.stall()
    got = await c.action("Ping", action_id="p1", timeout=0.3)
    assert got == [] and not c.eof
    sim.faults.stall(False)
    await c.wait_for(lambda: any(p.get("ActionID") == "p1" for p in c.packets))
    assert any(p.get("Ping") == "Pong" for p in c.packets if p.get("ActionID") == "p1")
    await c.close()


async def test_refuse_for_a_while(sim):
    task = sim.faults.refuse_for(0.2)
    try:
        await RawClient.connect(sim.port)
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
    await task
    c = await connected(sim)
    assert c.banner is not None
    await c.close()


async def test_failing_logins(sim):
    sim.faults.fail_logins()
    c = await RawClient.connect(sim.port)
    assert (await c.login()).get("Message") == "Authentication failed"
    sim.faults.fail_logins(False)
    c2 = await RawClient.connect(sim.port)
    assert (await c2.login()).get("Message") == "Authentication accepted"
    await c2.close()


async def test_garbage_oversized_unknown_and_broken_events_reach_the_client(sim):
    c = await connected(sim)
    await sim.wait_sessions(1)
    assert sim.faults.garbage() == 1
    sim.faults.oversized(size=2_000_000)
    sim.faults.send_event(
        [("Event", "TotallyNewEvent"), ("Privilege", "call,all"), ("Foo", "bar")], category="call"
    )
    sim.faults.send_event(
        [("Event", "QueueMemberStatus"), ("Privilege", "agent,all")], category="agent"
    )
    await c.wait_event("QueueMemberStatus")
    assert c.events("TotallyNewEvent")[0].get("Foo") == "bar"
    assert b"garbage" in c.raw and len(c.raw) > 2_000_000
    assert c.events("QueueMemberStatus")[0].get("Interface") is None
    await c.close()


async def test_list_without_its_complete_event(sim):
    c = await connected(sim)
    sim.faults.truncate_next_list("QueueStatus")
    await c.send("Action: QueueStatus\r\nActionID: q1\r\n\r\nAction: Ping\r\nActionID: p2\r\n\r\n")
    await c.wait_for(lambda: any(p.get("ActionID") == "p2" for p in c.packets))
    q1 = [p for p in c.packets if p.get("ActionID") == "q1"]
    assert q1[0].get("EventList") == "start" and len(q1) == 10
    assert not any(p.get("EventList") == "Complete" for p in q1)
    # the next one is whole again
    again = await c.action("QueueStatus")
    assert again[-1].get("EventList") == "Complete"
    await c.close()


async def test_stalled_pbx_accepts_new_connections_but_never_answers(sim):
    sim.faults.stall(new_sessions=True)
    c = await RawClient.connect(sim.port)
    assert not await c.wait_for(lambda: c.banner is not None, timeout=0.3)
    sim.faults.stall(False)
    await c.close()
