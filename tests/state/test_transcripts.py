"""The live state driven by the lab transcripts' real bytes (``tests/fixtures/ami-transcripts``).

What the state must end with is read from each transcript itself: the last word the PBX said
about every device, hint and queue member (list items included), the channels it created and
hung up, and its later list replies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from monitor.ami.packet import Banner, Packet
from monitor.ami.parser import Parser
from monitor.ami.protocol import Reply
from monitor.sim.transcript import Transcript, transcripts_dir
from monitor.state import PbxState, device_state, hint_state, member_status

from .replay import replay, run, started_at

Steps = Iterator[tuple[Reply | Packet, PbxState]]


@dataclass
class Truth:
    devices: dict[str, str] = field(default_factory=dict)  # resource -> last device state
    hints: dict[str, str] = field(default_factory=dict)  # resource -> last hint state
    members: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)
    calls: set[str] = field(default_factory=set)
    created: int = 0


def truth(name: str) -> Truth:
    """The PBX's last word on everything, from every server packet of transcript ``name``."""
    parser = Parser()
    parser.feed(Transcript.load(transcripts_dir() / f"{name}.txt").server_bytes())
    t = Truth()
    for p in parser.packets():
        if isinstance(p, Banner):
            continue
        f, event = p.fields, p.fields.get("event", "")
        if event == "DeviceStateChange" and f["device"].startswith("PJSIP/"):
            t.devices[f["device"][6:]] = device_state(f["state"])
        elif event == "ExtensionStatus" and f["hint"].startswith("PJSIP/"):
            t.hints[f["hint"][6:]] = hint_state(f["status"])
        elif event.startswith("QueueMember") and event != "QueueMemberRemoved":
            key = (f["queue"], f.get("interface") or f["location"])
            t.members[key] = (member_status(f["status"]), f["paused"] == "1")
        elif event == "QueueMemberRemoved":
            t.members.pop((f["queue"], f["interface"]), None)
        elif event in ("Newchannel", "CoreShowChannel"):
            t.created += event == "Newchannel"
            t.calls.add(f["uniqueid"])
        elif event == "Hangup":
            t.calls.discard(f["uniqueid"])
    return t


def is_event(item: object, name: str, **fields: str) -> bool:
    return (
        isinstance(item, Packet)
        and item.fields.get("event") == name
        and all(item.fields.get(k.lower()) == v for k, v in fields.items())
    )


def until(steps: Steps, match) -> PbxState:  # noqa: ANN001 - a predicate on the item
    """Advance ``steps`` to the first item ``match`` accepts; the state right after it."""
    for item, state in steps:
        if match(item):
            return state
    raise AssertionError("the transcript never got there")


def call_of(state: PbxState, resource: str):  # noqa: ANN201
    calls = state.calls_of(resource)
    assert len(calls) == 1, f"{resource}: {calls}"
    return calls[0]


def ep(state: PbxState, resource: str):  # noqa: ANN201
    return state.endpoints.table.get(resource)


# -- the end of every transcript ------------------------------------------------------------
SCENARIOS = [
    "a3-login-restricted-wallboard1",
    "a6-timestampevents-yes",
    "b2-state-lists-and-channels",
    "b5-wallboard1-initial-sync-during-calls",
    "c1-call-1001-to-1002-ami-hangup",
    "c3-queue-pause-add-remove",
    "c4-endpoint-unregister",
    "d1-restricted-user-denials",
    "p1-originate-burst-rate",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_final_state_matches_what_the_pbx_said_last(name):
    state, expected = run(name), truth(name)
    states = {r: e.state for r, e in state.endpoints.table.rows.items()}
    assert {r: states.get(r) for r in expected.devices} == expected.devices
    for resource, hint in expected.hints.items():  # a hint never contradicts its device here
        assert states[resource] == expected.devices.get(resource, hint)
    members = {k: (m.status, m.paused) for k, m in state.queues.members.rows.items()}
    assert members == expected.members
    assert set(state.calls.table) == expected.calls == set()
    assert all(e.active_channels == 0 for e in state.endpoints.table.rows.values())
    assert state.stats["malformed"] == 0


# -- b2: lists while idle, a call, the lists again, the hangup -------------------------------
def test_b2_lists_then_a_call_then_hangup():
    steps = replay("b2-state-lists-and-channels")
    state = until(steps, lambda i: isinstance(i, Reply) and i.action == "CoreShowChannels")
    assert len(state.calls.table) == 0
    assert sorted(state.endpoints.table) == [f"100{n}" for n in range(10)] + ["trunk_1"]
    assert ep(state, "1001").state == "not_inuse" and ep(state, "1006").state == "unavailable"

    state = until(steps, lambda i: isinstance(i, Reply) and i.action == "CoreShowChannels")
    call = call_of(state, "1001")
    assert (call.channel, call.state, call.exten) == ("PJSIP/1001-00000002", "Up", "2001")
    assert ep(state, "1001").state == "inuse" and ep(state, "1001").active_channels == 1
    assert ep(state, "1001").name == "Ext 1001"

    state = until(steps, lambda i: is_event(i, "Hangup"))
    assert len(state.calls.table) == 0 and ep(state, "1001").active_channels == 0
    for _ in steps:
        pass
    assert ep(state, "1001").state == "not_inuse"


# -- b5: wallboard1 syncs, pipelined, while a queue call rings three members ----------------
def test_b5_pipelined_sync_during_a_ringing_queue_call():
    t0 = started_at("b5-wallboard1-initial-sync-during-calls")
    steps = replay("b5-wallboard1-initial-sync-during-calls")
    state = until(steps, lambda i: isinstance(i, Reply) and i.action == "CoreShowChannels")
    assert len(state.calls.table) == 5
    caller = call_of(state, "1005")
    for member in ("1002", "1003", "1004"):
        assert ep(state, member).state == "ringing"
        ringing = call_of(state, member)
        assert (ringing.state, ringing.peer) == ("Ringing", caller.uniqueid)
    assert call_of(state, "1001").peer is None  # alone with Wait()
    waiting = state.snapshot()["queues"]["6500"]["callers"]
    assert [(c["uniqueid"], c["position"]) for c in waiting] == [(caller.uniqueid, 1)]
    assert waiting[0]["joined_at"] == pytest.approx(caller.started_at, abs=1.5)
    assert caller.started_at == pytest.approx(t0 + 1.0, abs=1.0)
    assert state.queues.queues.get("6500").calls == 1
    # wallboard1 may not list endpoints: the device list gave them, registration is unknown
    assert len(state.endpoints.table) == 11 and ep(state, "1005").registered is None

    state = until(steps, lambda i: is_event(i, "BridgeEnter", CallerIDNum="1005"))
    answered, caller = call_of(state, "1004"), call_of(state, "1005")
    assert answered.bridge_id == caller.bridge_id is not None
    assert (answered.peer, caller.peer) == (caller.uniqueid, answered.uniqueid)
    assert not state.calls_of("1002") and not state.calls_of("1003")
    assert state.snapshot()["queues"]["6500"]["callers"] == []
    assert state.queues.members.get(("6500", "PJSIP/1004")).in_call is True

    for _ in steps:
        pass
    assert len(state.calls.table) == 0
    member = state.queues.members.get(("6500", "PJSIP/1004"))
    assert (member.calls_taken, member.in_call, member.status) == (1, False, "not_inuse")
    assert state.queues.queues.get("6500").completed == 5  # 4 listed + this one


# -- c1: originate 1001 -> 1002, answer, AMI hangup ------------------------------------------
def test_c1_originate_ring_answer_and_ami_hangup():
    steps = replay("c1-call-1001-to-1002-ami-hangup")
    state = until(
        steps, lambda i: is_event(i, "DeviceStateChange", Device="PJSIP/1002", State="RINGING")
    )
    caller, callee = call_of(state, "1001"), call_of(state, "1002")
    assert ep(state, "1002").state == "ringing" and ep(state, "1001").state == "inuse"
    assert (callee.state, callee.peer, caller.peer) == ("Ringing", caller.uniqueid, callee.uniqueid)
    assert callee.connected_num == "1001" and caller.connected_num == "1002"
    assert caller.caller_id_name == "Lab Originate"  # what the Originate set...
    assert ep(state, "1001").name == "Ext 1001"  # ...is not the endpoint's name

    state = until(steps, lambda i: is_event(i, "BridgeEnter", CallerIDNum="1001"))
    caller, callee = call_of(state, "1001"), call_of(state, "1002")
    assert caller.bridge_id == callee.bridge_id == "36899c81-9011-47fb-a31e-1e07d1b1c6ad"
    assert (caller.peer, callee.peer) == (callee.uniqueid, caller.uniqueid)
    assert ep(state, "1001").state == ep(state, "1002").state == "inuse"
    assert state.far_end(caller.uniqueid) is callee

    state = until(steps, lambda i: is_event(i, "Hangup", CallerIDNum="1001"))
    callee = call_of(state, "1002")
    assert (callee.peer, callee.bridge_id) == (None, None)
    for _ in steps:
        pass
    assert len(state.calls.table) == 0
    assert ep(state, "1001").state == ep(state, "1002").state == "not_inuse"


# -- c3: pause, unpause, add, remove ---------------------------------------------------------
def test_c3_members_match_each_queue_status_reply_when_it_came():
    checked = 0
    for item, state in replay("c3-queue-pause-add-remove"):
        if not (isinstance(item, Reply) and item.action == "QueueStatus"):
            continue
        queue = item.items[0].fields["queue"]
        listed = {
            m.fields["location"]: (m.fields["paused"] == "1", m.fields["pausedreason"])
            for m in item.items
            if m.fields["event"] == "QueueMember"
        }
        members = state.queues.members.group(queue)
        assert {k[1]: (m.paused, m.paused_reason) for k, m in members.items()} == listed
        checked += 1
    assert checked == 2


def test_c3_ends_with_the_members_queue_summary_counts():
    state = run("c3-queue-pause-add-remove")
    summary = {"6500": 4, "6501": 3}  # QueueSummary LoggedIn/Available at the end
    for queue, count in summary.items():
        members = state.queues.members.group(queue).values()
        assert len(members) == count
        assert all(not m.paused and m.status == "not_inuse" for m in members)
    assert ("6501", "PJSIP/1004") not in state.queues.members
    assert ("6500", "Local/1006@ext-local/n") not in state.queues.members


def test_c3_added_local_member_keeps_its_state_interface_and_reason():
    steps = replay("c3-queue-pause-add-remove")
    state = until(steps, lambda i: is_event(i, "QueueMemberAdded", Queue="6500"))
    member = state.queues.members.get(("6500", "Local/1006@ext-local/n"))
    assert (member.state_interface, member.name) == ("PJSIP/1006", "Remote 1006")
    assert (member.paused, member.paused_reason, member.status) == (True, "Not yet", "unavailable")
    state = until(steps, lambda i: is_event(i, "QueueMemberRinginuse"))
    member = state.queues.members.get(("6501", "PJSIP/1004"))
    assert (member.penalty, member.ringinuse) == (5, True)


# -- c4: unregister, register, unreachable, reachable ----------------------------------------
def test_c4_registration_follows_contact_status():
    steps = replay("c4-endpoint-unregister")
    state = until(steps, lambda i: is_event(i, "DeviceStateChange", State="UNAVAILABLE"))
    e = ep(state, "1004")
    assert (e.state, e.registered, e.contacts) == ("unavailable", False, ())

    state = until(steps, lambda i: is_event(i, "ContactStatus", ContactStatus="Reachable"))
    e = ep(state, "1004")
    assert (e.state, e.registered) == ("not_inuse", True)
    assert [(c.uri, c.status) for c in e.contacts] == [
        ("sip:1004-0x55a1fed29580@127.0.0.1:5140", "Reachable")
    ]

    state = until(steps, lambda i: is_event(i, "DeviceStateChange", State="UNAVAILABLE"))
    e = ep(state, "1004")
    assert (e.state, e.contacts[0].status) == ("unavailable", "Unreachable")

    for _ in steps:
        pass
    e = ep(state, "1004")
    assert (e.state, e.registered, e.contacts[0].status) == ("not_inuse", True, "Reachable")
    assert e.name == "Agent 1004"  # no channel of its own was seen: the queue member name


# -- a3 / a6 / d1 / b1 / p1 ------------------------------------------------------------------
def test_a3_restricted_user_sees_the_call_come_and_go():
    steps = replay("a3-login-restricted-wallboard1")
    state = until(steps, lambda i: is_event(i, "DeviceStateChange", State="RINGING"))
    call = call_of(state, "1001")
    assert (call.state, ep(state, "1001").state) == ("Ringing", "ringing")
    state = until(steps, lambda i: is_event(i, "Hangup"))
    assert not state.calls_of("1001") and ep(state, "1001").active_channels == 0


def test_a6_event_times_come_from_the_timestamp_header():
    steps = replay("a6-timestampevents-yes")
    state = until(steps, lambda i: is_event(i, "Newchannel"))
    assert call_of(state, "1001").started_at == 1795746326.161372
    for _ in steps:
        pass
    assert ep(state, "1001").updated_at == 1795746330.163969


def test_d1_restricted_user_builds_endpoints_from_the_device_list():
    state = run("d1-restricted-user-denials")
    assert sorted(state.endpoints.table) == [f"100{n}" for n in range(10)] + ["trunk_1"]
    assert {e.registered for e in state.endpoints.table.rows.values()} == {None}
    assert ep(state, "1004").state == "not_inuse" and ep(state, "trunk_1").state == "unavailable"
    assert sorted(state.queues.members) == [("6500", f"PJSIP/100{n}") for n in (1, 2, 3, 4)]


def test_b1_endpoint_list_gives_registration_and_contacts():
    state = run("b1-pjsip-show")
    registered = sorted(r for r, e in state.endpoints.table.rows.items() if e.registered)
    assert registered == ["1001", "1002", "1003", "1004", "1005", "trunk_1"]
    assert ep(state, "1006").registered is False
    assert [c.uri for c in ep(state, "1003").contacts] == ["sip:1003-0x5622edf5a580@127.0.0.1:5130"]
    assert ep(state, "trunk_1").state == "unavailable"  # a static contact, never qualified


def test_p1_burst_of_local_channels_leaves_no_call():
    most = 0
    for _, state in replay("p1-originate-burst-rate"):
        most = max(most, len(state.calls.table))
    assert truth("p1-originate-burst-rate").created == 80
    assert most >= 40 and len(state.calls.table) == 0
    assert len(state.endpoints.table) == 0  # Local/... devices are no endpoints
