"""The PBX sends what it should not: garbage mid-stream, events no one knows, events missing
their fields, oversized packets, lists without their ``Complete``. The worker logs one line per
kind (not one per packet), keeps its session, resynchronises where bytes were lost, and the
mirror ends equal to the PBX.

Where an anomaly stands in for a real event (the bytes of a Hangup were garbled on the way),
the simulator's own events for that change are discarded first: only a resync can then make
the mirror right again.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.ami.packet import Packet
from monitor.ami.parser import parse_all
from monitor.ami.protocol import Action, ClientProtocol, Reply
from monitor.sim.transcript import Transcript, transcripts_dir
from monitor.state import PbxState

from .conftest import eventually, make_pbx, mirrored, worker_for
from .plugin import fuzzed

pytestmark = pytest.mark.django_db(transaction=True)
BAD = "bad input"


def lines_about(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and needle in r.getMessage()
    ]


def behind_the_workers_back(sim, change) -> None:  # noqa: ANN001
    """Make ``change`` on the PBX without its events reaching any session (they are lost)."""
    sessions = list(sim.authenticated_sessions)
    for s in sessions:
        s.stalled = True  # Session.deliver drops what it cannot write
    try:
        change()
    finally:
        for s in sessions:
            s.stalled = False


def hang_up_first_call(sim) -> str:  # noqa: ANN001
    ch = next(c for c in sim.pbx.channels.values() if c.name.startswith("PJSIP/1002-"))
    behind_the_workers_back(sim, lambda: sim.pbx.calls.hangup(ch.name))
    return ch.name


async def test_garbage_mid_stream_is_logged_once_and_a_lost_event_is_resynced(sim, record, caplog):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, pbx_id)
        resyncs = worker.resyncs
        hang_up_first_call(sim)  # the Hangup's bytes are lost...
        for i in range(50):  # ...and garbage arrives instead, again and again
            sim.faults.garbage(b"\x00\xff\xfe garbage %d \x01 no colon\r\n\r\n" % i)
        await mirrored(sim, pbx_id)
        assert worker.resyncs > resyncs
        assert worker.client.reconnects == 0
        assert len(lines_about(caplog, "not an AMI packet")) == 1
        record(
            BAD,
            "garbage bytes mid-stream (50 packets, one standing for a lost event)",
            "nothing lost",
            times=50,
        )


async def test_unknown_events_are_skipped_without_a_line_each(sim, record, caplog):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        await mirrored(sim, pbx_id)
        for i in range(100):
            sim.faults.send_event(
                [("Event", f"TotallyNewEvent{i % 7}"), ("Privilege", "call,all"), ("X", "y")],
                category="call",
            )
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, pbx_id)
        assert worker.client.reconnects == 0
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        record(BAD, "unknown events (100)", "nothing lost", times=100)


async def test_events_missing_fields_are_logged_once_and_resynced(sim, record, caplog):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, pbx_id)
        channel = hang_up_first_call(sim)
        broken = [
            [("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", channel)],  # no Uniqueid
            [("Event", "QueueMemberStatus"), ("Privilege", "agent,all"), ("Queue", "6500")],
            [("Event", "DeviceStateChange"), ("Privilege", "call,all"), ("State", "INUSE")],
            [("Event", "QueueCallerJoin"), ("Privilege", "agent,all")],
            [("Event", "BridgeEnter"), ("Privilege", "call,all"), ("Uniqueid", "1.1")],
        ]
        for pairs in broken * 20:
            category = pairs[1][1].split(",")[0]
            sim.faults.send_event(pairs, category=category)
        await mirrored(sim, pbx_id)
        assert worker.client.reconnects == 0
        assert len(lines_about(caplog, "missing a field")) == 1
        record(BAD, "events missing their fields (100)", "nothing lost", times=100)


async def test_oversized_packets_are_dropped_with_one_line_and_resynced(sim, record, caplog):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, pbx_id)
        hang_up_first_call(sim)
        for _ in range(3):
            sim.faults.oversized(size=1_200_000)
        await mirrored(sim, pbx_id, timeout=10)
        assert worker.client.reconnects == 0
        assert len(lines_about(caplog, "dropped")) == 1
        record(BAD, "oversized packets (1.2 MB, 3)", "nothing lost", times=3)


LIST_ACTIONS = [
    "PJSIPShowEndpoints",
    "DeviceStateList",
    "ExtensionStateList",
    "QueueStatus",
    "CoreShowChannels",
]


async def test_lists_without_their_complete_event(sim, record, caplog):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        sim.pbx.calls.phone_call("1005", "1002")
        await mirrored(sim, pbx_id)
        for action in LIST_ACTIONS:
            sim.faults.truncate_next_list(action)
        sim.faults.drop_all(rst=True)  # the resync after the reconnect gets them all truncated
        sim.pbx.calls.phone_call("1004", "1003")
        await eventually(lambda: worker.resyncs >= 2, what="the resync")
        await mirrored(sim, pbx_id)
        assert len(lines_about(caplog, "without its Complete")) == 1
        record(
            BAD,
            "list replies without their Complete event (5 lists)",
            "nothing lost",
            times=len(LIST_ACTIONS),
        )


# -- properties: the live state and the protocol never raise ------------------------------------
def _transcript_events() -> list[Packet]:
    out: list[Packet] = []
    for path in sorted(transcripts_dir().glob("*.txt")):
        data = Transcript.load(path).server_bytes()
        out += [p for p in parse_all(data, expect_banner=True) if isinstance(p, Packet)]
    return [p for p in out if p.is_event]


EVENTS = _transcript_events()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(range(len(EVENTS))), st.integers(0, 2**16)),
        min_size=1,
        max_size=20,
    )
)
def test_live_state_never_raises_on_events_with_fields_missing_or_mangled(picks):
    state = PbxState()
    for index, mask in picks:
        event = EVENTS[index]
        pairs = [
            (k, v)
            for i, (k, v) in enumerate(event.items())
            if not mask >> (i % 16) & 1 or k == "event"
        ]
        if mask % 5 == 0:  # a value replaced by junk
            pairs = [(k, "\x00\xff" if k != "event" else v) for k, v in pairs]
        packet = Packet.from_pairs(pairs, seq=len(picks))
        state.apply(packet, 1_700_000_000.0)  # must not raise
    state.take_changes()
    fuzzed("live state: events with fields dropped or mangled")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 3))
def test_protocol_never_raises_and_replies_around_garbage_still_resolve(garbage, where):
    protocol = ClientProtocol(id_prefix="t")
    aid, _ = protocol.send(Action("Ping"))
    lid, _ = protocol.send(Action("DeviceStateList"))
    reply = f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode()
    start = f"Response: Success\r\nActionID: {lid}\r\nEventList: start\r\n\r\n".encode()
    item = f"Event: DeviceStateChange\r\nActionID: {lid}\r\nDevice: PJSIP/1\r\n\r\n".encode()
    done = f"Event: DeviceStateListComplete\r\nActionID: {lid}\r\nEventList: Complete\r\n\r\n"
    parts = [b"Asterisk Call Manager/5.0.0\r\n", reply, start, item, done.encode()]
    # Garbage that could start a Follows block swallows what follows until --END COMMAND--.
    junk = garbage.replace(b"ollows", b"").replace(b"OLLOWS", b"") + b"\r\n\r\n"
    parts.insert(1 + where, junk)
    got = protocol.receive_data(b"".join(parts))
    replies = {r.action_id: r for r in got if isinstance(r, Reply)}
    assert replies[aid].ok and replies[aid].response.get("Ping") == "Pong"
    assert replies[lid].ok and replies[lid].complete is not None
    assert [i.get("Device") for i in replies[lid].items] == ["PJSIP/1"]
    fuzzed("AMI protocol: garbage between replies")
