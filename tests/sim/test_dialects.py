"""The FCM630A dialect (its AMI guide) next to stock Asterisk."""

from __future__ import annotations

import pytest_asyncio

from monitor.sim.server import PbxSimulator

from .amitest import RawClient


@pytest_asyncio.fixture
async def fcm():
    async with PbxSimulator(dialect="fcm630a", auth_fail_delay=0.05, time_scale=0.01) as s:
        yield s


async def test_fcm630a_banner_is_5_0_0(fcm):
    c = await RawClient.connect(fcm.port)
    await c.login()
    assert c.banner is not None and c.banner.text == "Asterisk Call Manager/5.0.0"
    await c.close()


async def test_fcm630a_queues_lists_queues_and_members_without_an_end_marker(fcm):
    c = await RawClient.connect(fcm.port)
    await c.login()
    await c.send("Action: Queues\r\nActionID: q1\r\n\r\nAction: Ping\r\nActionID: after\r\n\r\n")
    await c.wait_for(lambda: any(p.get("ActionID") == "after" for p in c.packets))
    mine = [p for p in c.packets if p.get("ActionID") == "q1"]
    assert [(mine[0].get("Response"), mine[0].get("EventList"), mine[0].get("Message"))] == [
        ("Success", "start", "Queues list will follow")
    ]
    names = [p.name for p in mine[1:]]
    assert (
        names
        == ["QueueStatus"] + ["QueueMemberStatus"] * 4 + ["QueueStatus"] + ["QueueMemberStatus"] * 3
    )
    assert not any(p.get("EventList") == "Complete" for p in mine)
    q = mine[1]
    assert [k for k in q.keys if k != "ActionID"] == [
        "Event", "Queue", "CallsTotal", "CallCount", "CallsComplete", "CallsAbandoned", "Strategy",
        "Chairman", "EnableAgentLogin", "QueueName", "ServiceLevel", "AbandonedRate", "AvgWaitTime",
        "AvgTalkTime", "AvailableCount", "AgentCount",
    ]  # fmt: skip
    assert (q.get("ServiceLevel"), q.get("AbandonedRate"), q.get("QueueName")) == (
        "SL:0.0% within 0s",
        "0.00%",
        "Test_Sales_Q",
    )
    member = mine[2]
    assert [k for k in member.keys if k != "ActionID"] == [
        "Event", "Queue", "Location", "MemberName", "Membership", "Penalty", "CallsTaken",
        "LastCall", "Status", "EnableAgentLogin", "LoginTime", "CallsAbandon", "TalkTime",
        "CallerChannel", "PausedTime", "Paused",
    ]  # fmt: skip
    await c.close()


async def test_stock_asterisk_does_not_know_queues(sim):
    c = await RawClient.connect(sim.port)
    await c.login()
    got = await c.action("Queues")
    assert got[0].get("Message") == (
        "Invalid/unknown command: Queues. Use Action: ListCommands to show available commands."
    )
    await c.close()


async def test_fcm630a_member_events_say_location(fcm):
    c = await RawClient.connect(fcm.port)
    await c.login()
    await c.action("QueuePause", ("Interface", "PJSIP/1002"), ("Paused", "true"), ("Queue", "6500"))
    ev = (await c.wait_event("QueueMemberPause"))[0]
    assert ev.get("Location") == "PJSIP/1002" and ev.get("Interface") is None
    await c.close()


async def test_fcm630a_listcommands_style_and_vendor_actions(fcm):
    c = await RawClient.connect(fcm.port)
    await c.login()
    reply = (await c.action("ListCommands"))[0]
    assert reply.get("AnalogChanlists") == "(Priv: <none>)"
    assert reply.get("QueueClean") == "Clean up the seat status of the queue (Priv: <none>)"
    assert reply.get("Originate") == "Originate a call. (Priv: originate,all)"
    await c.close()


async def test_fcm630a_special_command_opens_the_endpoint_listing(fcm):
    # wallboard1 writes "command" (the FCM630A's Special Command), not "system".
    c = await RawClient.connect(fcm.port)
    await c.login("wallboard1", "wb1pass9")
    got = await c.action("PJSIPShowEndpoints")
    items = [p for p in got if p.name == "EndpointList"]
    assert len(items) == 11
    assert items[1].get("Contacts").startswith("1001/sip:") and items[1].get("Contacts").endswith(
        ","
    )
    assert items[0].get("Contacts") == "" and items[0].get("DeviceState") == "Unavailable"
    await c.close()
