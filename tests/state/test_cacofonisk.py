"""Calls through real Asterisk 13 event captures (VoIPGRID/cacofonisk): simple calls, call
groups, queues, blind / attended transfers, pickups, click-to-dial, mobile.

The phones there are ``SIP/1500100NN`` channels (chan_sip: no PJSIP endpoint), and every call
goes through a Local channel pair that Asterisk optimises away once both sides answer; the
far end of a phone's call is looked up through those pairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.ami.packet import Packet
from monitor.state import Call, PbxState

from .replay import cacofonisk, cacofonisk_paths

NOW = 1_600_000_000.0


def feed(path: str) -> Iterator[tuple[Packet, PbxState]]:
    state = PbxState()
    for packet in cacofonisk(path):
        state.apply(packet, NOW)
        yield packet, state


def until(
    steps: Iterator[tuple[Packet, PbxState]], name: str, nth: int = 1, **fields: str
) -> PbxState:
    """The state right after the ``nth`` event ``name`` whose fields match (a value of
    ``"*"`` matches any non-empty one)."""
    for packet, state in steps:
        f = packet.fields
        if f.get("event") == name and all(
            f.get(k.lower()) == v or (v == "*" and f.get(k.lower())) for k, v in fields.items()
        ):
            nth -= 1
            if nth == 0:
                return state
    raise AssertionError(f"no {name} {fields} there")


def phone(state: PbxState, ext: str) -> Call:
    """The one live channel of phone ``SIP/1500100<ext>``."""
    calls = [
        c for c in state.calls.table.rows.values() if c.channel.startswith(f"SIP/1500100{ext}-")
    ]
    assert len(calls) == 1, [c.channel for c in calls]
    return calls[0]


def talks_to(state: PbxState, ext: str) -> str | None:
    """The channel name prefix (``SIP/150010002``) of the party phone ``ext`` talks to or rings."""
    far = state.far_end(phone(state, ext).uniqueid)
    return far.channel.rpartition("-")[0] if far is not None else None


@pytest.mark.parametrize("path", cacofonisk_paths())
def test_every_capture_ends_with_no_call(path):
    state = PbxState()
    for packet in cacofonisk(path):
        state.apply(packet, NOW)
    assert len(state.calls.table) == 0
    assert state.stats["malformed"] == 0 and state.stats["stale"] == 0
    changes = state.take_changes()
    assert not changes.calls  # every call came and went within one flush
    # nor does any bookkeeping about it linger (a leak would grow for months on a busy PBX)
    assert not state.calls._bridges and not state.calls._dialing and not state.calls._by_name


def test_simple_call_peers_through_the_local_pair_then_directly():
    steps = feed("simple/ab_success_a_hangup.json")
    state = until(steps, "BridgeEnter", 2)  # B and the Local ;2 half: the first pair
    assert talks_to(state, "01") == "SIP/150010002"
    assert talks_to(state, "02") == "SIP/150010001"
    b = phone(state, "02")
    assert state.calls.table.get(b.peer).channel.startswith("Local/")  # the immediate peer
    state = until(steps, "BridgeEnter", SwapUniqueid="*")  # the Local pair optimised away
    a, b = phone(state, "01"), phone(state, "02")
    assert (a.peer, b.peer) == (b.uniqueid, a.uniqueid) and a.bridge_id == b.bridge_id


def test_call_group_rings_two_phones_for_one_caller():
    steps = feed("simple/ab_callgroup.json")
    state = until(steps, "DialBegin", 4)
    assert talks_to(state, "02") == talks_to(state, "03") == "SIP/150010001"
    assert phone(state, "01").state == "Ring"
    state = until(steps, "BridgeEnter", 4)
    assert talks_to(state, "01") == "SIP/150010002"
    assert talks_to(state, "02") == "SIP/150010001"
    assert not [c for c in state.calls.table.rows.values() if c.channel.startswith("SIP/150010003")]


def test_queue_call_reaches_the_member_that_answered():
    steps = feed("queue/queue_simple.json")
    state = until(steps, "DialBegin", 4)  # the queue rings both members
    trunk = next(c for c in state.calls.table.rows.values() if "voipgrid" in c.channel)
    assert talks_to(state, "02") == talks_to(state, "03") == "SIP/voipgrid-siproute-docker"
    assert trunk.caller_id_num == "+31150010001"
    state = until(steps, "BridgeEnter", SwapUniqueid="*")
    member = phone(state, "02")
    assert (member.peer, trunk.peer) == (trunk.uniqueid, member.uniqueid)
    assert member.connected_num == "+31150010001"


def test_attended_transfer_joins_the_transferee_and_the_target():
    steps = feed("xfer_attended/xfer_abacbc.json")
    state = until(steps, "BridgeEnter", 8)  # A's second call to C is up (after optimisation)
    a_calls = sorted(
        (c for c in state.calls.table.rows.values() if c.channel.startswith("SIP/150010001-")),
        key=lambda c: c.uniqueid,
    )
    assert len(a_calls) == 2
    assert [state.far_end(c.uniqueid).channel[:13] for c in a_calls] == [
        "SIP/150010002",
        "SIP/150010003",
    ]
    state = until(steps, "AttendedTransfer")
    b, c = phone(state, "02"), phone(state, "03")
    assert (b.peer, c.peer) == (c.uniqueid, b.uniqueid) and b.bridge_id == c.bridge_id
    assert all(x.peer is None for x in a_calls)
    state = until(steps, "Hangup", Channel=a_calls[0].channel)
    assert not [
        x for x in state.calls.table.rows.values() if x.channel.startswith("SIP/150010001-")
    ]
    assert talks_to(state, "02") == "SIP/150010003"


def test_blind_transfer_leaves_the_transferee_ringing_then_talking_to_the_target():
    steps = feed("xfer_blind/xfer_blind_abacbc.json")
    state = until(steps, "BlindTransfer")
    assert talks_to(state, "02") == "SIP/150010001"
    state = until(steps, "Hangup", Channel="SIP/150010001-00000006")
    assert phone(state, "02").peer is None
    state = until(steps, "Newstate", ChannelStateDesc="Ringing", Channel="SIP/150010003-00000008")
    assert talks_to(state, "02") == "SIP/150010003"
    assert talks_to(state, "03") == "SIP/150010002"
    state = until(steps, "BridgeEnter", SwapUniqueid="*")  # B and C, the pair optimised
    b, c = phone(state, "02"), phone(state, "03")
    assert (b.peer, c.peer) == (c.uniqueid, b.uniqueid)


@pytest.mark.parametrize("path", ["xfer_misc/star_pickup.json", "xfer_misc/sip_pickup.json"])
def test_pickup_connects_the_caller_to_the_phone_that_picked_up(path):
    steps = feed(path)
    state = until(steps, "DialBegin", 2)
    assert talks_to(state, "01") == "SIP/150010002" and talks_to(state, "02") == "SIP/150010001"
    state = until(steps, "DialBegin", 1)  # the pickup: the Local half now "dials" C
    assert talks_to(state, "01") == "SIP/150010003"
    assert phone(state, "02").peer is None  # B still rings, for nobody
    state = until(steps, "Hangup", Channel=phone(state, "02").channel)
    assert talks_to(state, "03") == "SIP/150010001"
    state = until(steps, "BridgeEnter", SwapUniqueid="*")
    a, c = phone(state, "01"), phone(state, "03")
    assert (a.peer, c.peer) == (c.uniqueid, a.uniqueid)
