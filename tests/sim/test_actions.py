"""Replies of actions the transcripts do not cover in full."""

from __future__ import annotations

from .amitest import RawClient


async def admin(sim) -> RawClient:
    c = await RawClient.connect(sim.port)
    await c.login()
    return c


async def test_queue_remove_of_a_static_member_is_refused(sim):
    c = await admin(sim)
    got = await c.action("QueueRemove", ("Queue", "6500"), ("Interface", "PJSIP/1001"))
    assert (got[0].get("Response"), got[0].get("Message")) == ("Error", "Member not dynamic")
    assert "PJSIP/1001" in sim.snapshot()["queues"]["6500"]["members"]
    await c.close()


async def test_queue_add_with_all_options_then_remove(sim):
    c = await admin(sim)
    got = await c.action(
        "QueueAdd",
        ("Queue", "6501"),
        ("Interface", "Local/1009@ext-local/n"),
        ("MemberName", "Night shift"),
        ("StateInterface", "PJSIP/1009"),
        ("Penalty", "3"),
        ("Paused", "true"),
        ("Reason", "Not yet"),
    )
    assert got[0].get("Message") == "Added interface to queue"
    added = (await c.wait_event("QueueMemberAdded"))[0]
    assert [
        added.get(k)
        for k in (
            "MemberName",
            "StateInterface",
            "Membership",
            "Penalty",
            "Status",
            "Paused",
            "PausedReason",
        )
    ] == ["Night shift", "PJSIP/1009", "dynamic", "3", "5", "1", "Not yet"]
    member = sim.snapshot()["queues"]["6501"]["members"]["Local/1009@ext-local/n"]
    assert (member["paused"], member["paused_reason"], member["status"]) == (True, "Not yet", 5)
    got = await c.action("QueueRemove", ("Queue", "6501"), ("Interface", "Local/1009@ext-local/n"))
    assert got[0].get("Message") == "Removed interface from queue"
    await c.wait_event(
        "DeviceStateChange", Device="Queue:6501_pause_Local/1009@ext-local/n", State="NOT_INUSE"
    )
    assert "Local/1009@ext-local/n" not in sim.snapshot()["queues"]["6501"]["members"]
    await c.close()


async def test_queue_pause_needs_interface_and_paused(sim):
    c = await admin(sim)
    got = await c.action("QueuePause", ("Interface", "PJSIP/1001"))
    assert got[0].get("Message") == "Need 'Interface' and 'Paused' parameters."
    await c.close()


async def test_reload_emits_the_reload_event(sim):
    c = await admin(sim)
    got = await c.action("Reload", ("Module", "app_queue"))
    assert got[0].get("Response") == "Success"
    ev = (await c.wait_event("Reload"))[0]
    assert (ev.get("Module"), ev.get("Status")) == ("app_queue", "0")
    await c.close()


async def test_userevent_setvar_getvar_and_device_state_function(sim):
    c = await admin(sim)
    got = await c.action("UserEvent", ("UserEvent", "Mine"), ("Foo", "bar"), action_id="u1")
    assert got[0].get("Message") == "Event Sent"
    ev = (await c.wait_event("UserEvent"))[0]
    assert [(k, ev.get(k)) for k in ev.keys] == [
        ("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "Mine"),
        ("ActionID", "u1"), ("Foo", "bar"),
    ]  # fmt: skip
    await c.action("Setvar", ("Variable", "LABVAR"), ("Value", "hello world"))
    assert (await c.action("Getvar", ("Variable", "LABVAR")))[0].get("Value") == "hello world"
    state = await c.action("Getvar", ("Variable", "DEVICE_STATE(PJSIP/1006)"))
    assert state[0].get("Value") == "UNAVAILABLE"
    await c.close()


async def test_pjsip_show_endpoint_without_endpoint_and_hangup_unknown_channel(sim):
    c = await admin(sim)
    assert (await c.action("PJSIPShowEndpoint"))[0].get("Message") == "Endpoint parameter missing."
    got = await c.action("Hangup", ("Channel", "PJSIP/1001-deadbeef"))
    assert got[0].get("Message") == "No such channel"
    assert (await c.action("Hangup"))[0].get("Message") == "No channel specified"
    await c.close()


async def test_status_with_variables(sim):
    c = await admin(sim)
    ch = sim.pbx.calls.phone_call("1003", "2001")
    got = await c.action("Status", ("Channel", ch.name), ("Variables", "CHANNEL(name),CDR(src)"))
    item = next(p for p in got if p.name == "Status")
    assert item.get_all("Variable") == [f"CHANNEL(name)={ch.name}", "CDR(src)=1003"]
    assert got[-1].get("Items") == "1"
    await c.close()
