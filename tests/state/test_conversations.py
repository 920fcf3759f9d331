"""Conversations (``monitor/state/conversations.py``) from real traffic: the lab's c1 call
(Originate 1001 -> 1002), b5's queue call (1005 into 6500, answered by 1004) and cacofonisk's
queue capture (a trunk call to a ring group through Local channel pairs).

What each must be is read off the transcript where it says so (HoldTime, the answer's time)."""

from __future__ import annotations

from monitor.ami.packet import Packet
from monitor.ami.protocol import Reply
from monitor.state import PbxState
from monitor.state.conversations import INBOUND, INTERNAL, OUTBOUND, Conversation, group

from .replay import cacofonisk, replay


def conversations(state: PbxState) -> list[Conversation]:
    return group(state.calls.table.rows.values())


def after(name: str, event: str, **fields: str) -> PbxState:
    """The state of transcript ``name`` right after its first ``event`` matching ``fields``."""
    for item, state in replay(name):
        f = getattr(item, "fields", {})
        if f.get("event") == event and all(f.get(k.lower()) == v for k, v in fields.items()):
            return state
    raise AssertionError(f"{name}: no {event} {fields}")


def after_list(name: str, action: str) -> PbxState:
    """The state of transcript ``name`` right after its first list reply to ``action``."""
    for item, state in replay(name):
        if isinstance(item, Reply) and item.is_list and item.action.lower() == action.lower():
            return state
    raise AssertionError(f"{name}: no {action} list")


def test_c1_originate_is_one_internal_call_from_1001_to_1002():
    state = after("c1-call-1001-to-1002-ami-hangup", "BridgeEnter")
    (conv,) = conversations(state)
    assert len(conv.legs) == 2
    assert (conv.caller.resource, conv.caller.name) == ("1001", "Lab Originate")
    assert (conv.callee.resource, conv.callee.number) == ("1002", "1002")
    assert conv.direction == INTERNAL and conv.queue == "" and conv.state == "talking"
    # 1002 rang for about 4 s after 1001's channel was created (the transcript's own account)
    caller = conv.caller.leg
    assert conv.waited == round(conv.answered_at - caller.started_at) == 4


def test_c1_ringing_before_the_answer():
    states = [
        [c.state for c in conversations(st)]
        for item, st in replay("c1-call-1001-to-1002-ami-hangup")
        if getattr(item, "fields", {}).get("event") == "Newstate"
    ]
    assert ["ringing"] in states and ["talking"] in states
    assert states.index(["ringing"]) < states.index(["talking"])


def test_c1_ends_with_no_conversation():
    *_, (_, state) = replay("c1-call-1001-to-1002-ami-hangup")
    assert conversations(state) == []


def test_b5_queue_call_came_through_6500_and_waited_the_queues_hold_time():
    state = after("b5-wallboard1-initial-sync-during-calls", "AgentConnect")
    by_key = {c.key: c for c in conversations(state)}
    conv = by_key["1795746426.48"]  # 1005's call; 1001's Wait(600) call is another one
    assert (conv.caller.resource, conv.caller.name) == ("1005", "Ext 1005")
    assert (conv.callee.resource, conv.callee.name) == ("1004", "Ext 1004")
    assert conv.queue == "6500" and conv.direction == INTERNAL
    assert conv.waited == 2  # AgentConnect's HoldTime: 2
    assert conv.others == []  # the agents that rang with 1004 were hung up by the queue
    assert by_key["1795746424.47"].callee is None and by_key["1795746424.47"].queue == ""


def test_b5_queue_is_known_from_the_channel_list_before_any_queue_event():
    # The wallboard logged in while 1005 was already queued: only CoreShowChannels says so.
    state = after_list("b5-wallboard1-initial-sync-during-calls", "CoreShowChannels")
    conv = next(c for c in conversations(state) if c.key == "1795746426.48")
    assert conv.queue == "6500" and conv.state == "ringing" and conv.waited is None
    assert {p.resource for p in [conv.callee, *conv.others]} == {"1002", "1003", "1004"}


def cacofonisk_steps(path: str):
    """The capture applied one event a second (it carries no times of its own)."""
    state = PbxState()
    for packet in cacofonisk(path):
        state.apply(packet, 1_600_000_000.0 + packet.seq)
        yield packet, state


def first(packets: list[Packet], event: str, **fields: str) -> Packet:
    return next(
        p
        for p in packets
        if p.fields.get("event") == event
        and all(p.fields.get(k.lower()) == v for k, v in fields.items())
    )


def test_cacofonisk_trunk_call_through_local_channels_is_one_inbound_call():
    path = "queue/queue_simple.json"
    packets = cacofonisk(path)
    trunk = first(packets, "Newchannel").fields["channel"]
    answer = first(packets, "DialEnd", Channel=trunk, DialStatus="ANSWER")
    seen = None
    for packet, state in cacofonisk_steps(path):
        if packet.seq == answer.seq:
            seen = conversations(state)
            break
    (conv,) = seen
    assert any(leg.channel.startswith("Local/") for leg in conv.legs)
    assert conv.caller.leg.channel == trunk and conv.caller.number == "+31150010001"
    assert conv.callee.resource == "150010002"  # the phone that answered, not a Local half
    assert conv.direction == INBOUND and conv.queue == ""
    assert conv.waited == answer.seq - first(packets, "Newchannel").seq
    assert conv.state == "talking"
    parties = [conv.caller, conv.callee, *conv.others]
    assert not any(p.leg.channel.startswith("Local/") for p in parties)


def test_cacofonisk_click_to_dial_to_the_outside_world_is_outbound():
    # The PBX rings phone 150010001 first (through Local pairs), then dials out on the trunk.
    path = "originate/ctd-account-world.json"
    packets = cacofonisk(path)
    trunk = first(packets, "Newchannel", Channel="SIP/voipgrid-siproute-docker-00000009")
    for packet, state in cacofonisk_steps(path):
        if packet.seq == trunk.seq:
            (conv,) = conversations(state)
            break
    assert conv.key == first(packets, "Newchannel").fields["linkedid"]  # a Local channel's
    assert conv.caller.resource == "150010001" and conv.caller.is_extension
    assert conv.callee.leg.channel == trunk.fields["channel"]
    assert conv.direction == OUTBOUND
