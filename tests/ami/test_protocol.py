"""Client-side AMI session state (``monitor/ami/protocol.py``): encoding actions, matching
replies, collecting lists. Driven by the lab transcripts' real bytes where they exist."""

from __future__ import annotations

import pytest

from monitor.ami.errors import (
    ActionError,
    ActionRejected,
    PermissionDenied,
    UnknownAction,
)
from monitor.ami.packet import Banner, Packet
from monitor.ami.parser import parse_all
from monitor.ami.protocol import (
    MAX_HEADERS,
    Action,
    ClientProtocol,
    Reply,
    _Pending,
    encode_action,
    encode_packet,
)
from monitor.sim.transcript import Transcript, transcripts_dir

Item = Banner | Reply | Packet


# -- helpers ------------------------------------------------------------------------------
def expect_reply(proto: ClientProtocol, name: str, action_id: str) -> None:
    """Register an action the transcript's client sent, under the ActionID it carried (the lab
    client's ``lab-<pid>-<n>``), as ``send()`` would have registered ours."""
    proto._pending[action_id] = _Pending(name, action_id)


def replay(name: str, conn: int = 1) -> list[Item]:
    """Play one connection of a transcript as its client lived it: each action is registered
    when its blank line went out, the server's bytes arrive line by line in file order."""
    t = Transcript.load(transcripts_dir() / f"{name}.txt")
    proto = ClientProtocol(id_prefix="test")
    out: list[Item] = []
    sent = bytearray()
    for n, record in enumerate(t.records):
        if record.conn != conn:
            continue
        if record.kind == "C":
            sent += record.wire
            if not record.text:
                [action] = parse_all(bytes(sent))
                sent.clear()
                # d2 leaves the ActionID out on purpose: such replies answer the oldest waiter.
                expect_reply(proto, action.name, action.action_id or f"no-actionid-{n}")
        elif record.kind == "S":
            out.extend(proto.receive_data(record.wire))
    return out


def replies(items: list[Item]) -> dict[str, Reply]:
    return {r.action_id: r for r in items if isinstance(r, Reply)}


def events(items: list[Item]) -> list[Packet]:
    return [p for p in items if isinstance(p, Packet)]


def packets_of(name: str) -> list[Packet]:
    t = Transcript.load(transcripts_dir() / f"{name}.txt")
    items = parse_all(t.server_bytes(), expect_banner=True, keep_key_case=True)
    return [p for p in items if isinstance(p, Packet)]


def wire(packet: Packet, **changes: str | None) -> bytes:
    """A real packet's bytes again (no repeated keys), with some headers replaced or dropped."""
    pairs = [(k, changes.get(k, packet[k])) for k in packet.keys]
    return encode_packet((k, v) for k, v in pairs if v is not None)


BANNER = b"Asterisk Call Manager/11.0.0\r\n"


# -- encode_action ---------------------------------------------------------------------------
def test_encode_action_writes_crlf_lines_and_a_blank_line():
    data = encode_action(Action("QueuePause", Interface="PJSIP/1001", Paused=True), "a-1")
    assert data == (
        b"Action: QueuePause\r\nActionID: a-1\r\nInterface: PJSIP/1001\r\nPaused: true\r\n\r\n"
    )
    [packet] = parse_all(data)
    assert packet.fields == {
        "action": "QueuePause",
        "actionid": "a-1",
        "interface": "PJSIP/1001",
        "paused": "true",
    }


def test_encode_action_keeps_repeated_keys_in_order():
    data = encode_action(
        Action("Originate", {"Channel": "PJSIP/1001", "Variable": ["A=1", "B=2"]}), "o"
    )
    [packet] = parse_all(data)
    assert packet.get_all("Variable") == ["A=1", "B=2"]


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "a\r\nAction: Hangup", "x\nChannel: y"])
def test_encode_action_refuses_cr_lf_nul_in_values(bad):
    with pytest.raises(ActionRejected):
        encode_action(Action("Hangup", Channel=f"PJSIP/1001{bad}"), "h-1")


@pytest.mark.parametrize(
    "key", ["Chan\rnel", "Chan\nnel", "Chan\x00", "Chan:nel", "Chan nel", "", " Channel", "Kanäle"]
)
def test_encode_action_refuses_bad_header_names(key):
    with pytest.raises(ActionRejected):
        encode_action(Action("Hangup", [(key, "PJSIP/1001")]), "h-1")


def test_encode_action_refuses_a_bad_action_name_or_action_id():
    with pytest.raises(ActionRejected):
        encode_action(Action("Ping\r\nAction: Hangup"), "p-1")
    with pytest.raises(ActionRejected):
        encode_action(Action("Ping"), "p-1\r\nChannel: x")
    with pytest.raises(ActionRejected):
        encode_action(Action("Ping", ActionID="mine"), "p-1")


def test_encode_action_refuses_lines_over_1024_bytes():
    # "Value: " + value + CRLF: 9 bytes around the value.
    assert encode_action(Action("Setvar", Variable="V", Value="x" * 1015), "s-1")
    with pytest.raises(ActionRejected, match="1025 bytes"):
        encode_action(Action("Setvar", Variable="V", Value="x" * 1016), "s-1")
    # The line counts bytes, not characters.
    with pytest.raises(ActionRejected):
        encode_action(Action("Setvar", Variable="V", Value="é" * 508), "s-1")


def test_encode_action_refuses_more_than_128_headers():
    # Action and ActionID count: Asterisk keeps the first 128 lines of a packet.
    fits = Action("Originate", [("Variable", f"V{i}=1") for i in range(MAX_HEADERS - 3)])
    assert encode_action(fits, "o-1").count(b"\r\n") == MAX_HEADERS + 1
    with pytest.raises(ActionRejected, match="headers"):
        encode_action(
            Action("Setvar", [("Variable", f"V{i}=1") for i in range(MAX_HEADERS - 1)]), "s"
        )


def test_a_refused_action_leaves_nothing_behind():
    proto = ClientProtocol(id_prefix="t")
    with pytest.raises(ActionRejected):
        proto.send(Action("Hangup", Channel="PJSIP/1001\r\n"))
    assert proto.pending == []
    action_id, data = proto.send(Action("Ping"))
    assert proto.pending == [action_id]
    assert data.startswith(b"Action: Ping\r\n")


def test_every_action_gets_its_own_action_id():
    proto = ClientProtocol()
    ids = [proto.send(Action("Ping"))[0] for _ in range(1000)]
    other = ClientProtocol()
    assert len(set(ids)) == 1000
    assert other.send(Action("Ping"))[0] not in ids  # another session: another prefix
    for action_id in ids[:3]:
        [packet] = parse_all(encode_action(Action("Ping"), action_id))
        assert packet.action_id == action_id


@pytest.mark.parametrize(
    "headers",
    [{}, {"Async": False}, {"Async": "no"}, {"async": "false"}, {"Async": True}, {"ASYNC": "0"}],
)
def test_originate_always_goes_out_async(headers):
    action = Action("Originate", {"Channel": "PJSIP/1001", "Exten": "1002", **headers})
    [packet] = parse_all(encode_action(action, "o-1"))
    assert packet.get_all("Async") == ["true"]
    [lower] = parse_all(
        encode_action(Action("originate", {"Channel": "PJSIP/1001", **headers}), "o")
    )
    assert lower.get_all("Async") == ["true"]


# -- replies and lists, on the transcripts' bytes ------------------------------------------------
def test_banner_and_login_reply_come_out_in_order():
    items = replay("a1-login-events-idle")
    assert items[0] == Banner("Asterisk Call Manager/11.0.0")
    login = items[1]
    assert isinstance(login, Reply) and login.action == "Login" and login.ok
    assert login.message == "Authentication accepted"


def test_list_action_collects_items_until_complete():
    got = replies(replay("b3-queue-queries"))
    for reply in got.values():
        if reply.is_list:
            assert reply.complete is not None and not reply.truncated
            assert len(reply.items) == int(reply.complete["ListItems"])
            assert all(item.action_id == reply.action_id for item in reply.items)
    status = next(r for r in got.values() if r.action == "QueueStatus")
    assert {p.name for p in status.items} >= {"QueueParams", "QueueMember"}


def test_pipelined_lists_each_get_their_own_items():
    items = replay("b5-wallboard1-initial-sync-during-calls")
    got = replies(items)
    sizes = {got[i].action: len(got[i].items) for i in (f"lab-5901-{n}" for n in range(167, 171))}
    assert sizes == {
        "DeviceStateList": 24,
        "ExtensionStateList": 12,
        "QueueStatus": 10,
        "CoreShowChannels": 5,
    }
    assert got["lab-5901-167"].items[0].name == "DeviceStateChange"  # same name as a live event
    # No list item leaks out as a live event, and the live events still come.
    assert not any(p.action_id for p in events(items))
    assert {"QueueCallerLeave", "AgentConnect"} <= {p.name for p in events(items)}


def test_unrelated_events_come_out_in_order_while_a_list_is_open():
    status = packets_of("b3-queue-queries")
    start = next(p for p in status if p.get("EventList") == "start")
    list_id = start.action_id
    items = [p for p in status if p.action_id == list_id and p.is_event]
    *members, complete = items
    live = next(p for p in packets_of("c1-call-1001-to-1002-ami-hangup") if p.name == "Newstate")
    foreign = next(p for p in packets_of("d2-errors") if p.name == "UserEvent")  # another ActionID

    proto = ClientProtocol()
    expect_reply(proto, "QueueStatus", list_id)
    data = (
        BANNER
        + wire(start)
        + wire(members[0])
        + wire(live)
        + wire(members[1])
        + wire(foreign)
        + b"".join(wire(m) for m in members[2:])
        + wire(complete)
    )
    out = proto.receive_data(data)
    assert [type(x).__name__ for x in out] == ["Banner", "Packet", "Packet", "Reply"]
    assert out[1] == live and out[2] == foreign and out[2].action_id == "lab-5901-101"
    reply = out[3]
    assert reply.items == members and reply.complete == complete
    assert proto.pending == []


FCM630A_QUEUES = (
    # The FCM630A guide's "action: queues" answer (seed/FCM630A-AMI-Guide.txt, example 4), with
    # the ActionID Asterisk copies into a reply and its items: no end marker ever comes.
    b"Response: Success\r\nActionID: q-1\r\nEventList: start\r\n"
    b"Message: Queues list will follow\r\n\r\n"
    b"Event: QueueStatus\r\nActionID: q-1\r\nQueue: 6500\r\nCallsTotal: 0\r\nCallCount: 0\r\n"
    b"CallsComplete: 0\r\nCallsAbandoned: 0\r\nStrategy: ringall\r\nChairman: 1000\r\n"
    b"EnableAgentLogin: no\r\nQueueName: Test_Sales_Q\r\nServiceLevel: SL:0.0% within 0s\r\n"
    b"AbandonedRate: 0.00%\r\nAvgWaitTime: 0\r\nAvgTalkTime: 0\r\nAvailableCount: 0\r\n"
    b"AgentCount: 75\r\n\r\n"
    b"Event: QueueMemberStatus\r\nActionID: q-1\r\nQueue: 6500\r\nLocation: PJSIP/1014\r\n"
    b"MemberName: PJSIP/1014\r\nMembership: static\r\nPenalty: 0\r\nCallsTaken: 0\r\n"
    b"LastCall: 0\r\nStatus: 5\r\nEnableAgentLogin: no\r\nLoginTime: 0\r\nCallsAbandon: 0\r\n"
    b"TalkTime: 0\r\nCallerChannel:\r\nPausedTime: 0\r\nPaused: 0\r\n\r\n"
)


def test_list_without_end_marker_is_closed_by_the_reply_to_a_later_action():
    proto = ClientProtocol()
    expect_reply(proto, "Queues", "q-1")
    expect_reply(proto, "Ping", "q-2")
    assert [type(x) for x in proto.receive_data(BANNER + FCM630A_QUEUES)] == [Banner]
    assert proto.open_list("q-1")
    out = proto.receive_data(b"Response: Success\r\nActionID: q-2\r\nPing: Pong\r\n\r\n")
    queues, ping = out
    assert queues.action == "Queues" and queues.truncated and queues.complete is None
    assert [p.name for p in queues.items] == ["QueueStatus", "QueueMemberStatus"]
    assert queues.items[0]["QueueName"] == "Test_Sales_Q"
    assert queues.items[1]["Location"] == "PJSIP/1014" and queues.items[1]["CallerChannel"] == ""
    assert ping.action == "Ping" and ping.response["Ping"] == "Pong"
    assert proto.pending == []


def test_list_without_end_marker_is_closed_by_end_list():
    proto = ClientProtocol()
    expect_reply(proto, "Queues", "q-1")
    proto.receive_data(BANNER + FCM630A_QUEUES)
    reply = proto.end_list("q-1")
    assert reply is not None and reply.truncated and len(reply.items) == 2
    assert reply.raise_for_error() is reply
    assert proto.end_list("q-1") is None and proto.pending == []
    # An item that comes after the list was given up is a plain event now, not lost.
    [late] = proto.receive_data(b"Event: QueueStatus\r\nActionID: q-1\r\nQueue: 6501\r\n\r\n")
    assert isinstance(late, Packet) and late["Queue"] == "6501"


def test_response_without_action_id_answers_the_oldest_action_still_waiting():
    got = replies(replay("d2-errors"))
    too_long = got["A" * 1500]  # Asterisk could not read that ActionID line, so none came back
    assert too_long.action == "Ping" and not too_long.ok
    assert too_long.message == "Failed to parse message: line too long"
    assert "actionid" not in too_long.response.fields
    pings = [r for r in got.values() if r.action_id.startswith("no-actionid")]
    assert [r.action for r in pings] == ["Ping", "CoreStatus"]
    assert pings[0].response["Ping"] == "Pong"
    assert got["lab-5901-103"].response["Ping"] == "Pong"  # the next one is not shifted


def test_a_reply_to_an_action_we_gave_up_is_ignored():
    proto = ClientProtocol()
    expect_reply(proto, "Ping", "p-1")
    proto.forget("p-1")
    assert proto.receive_data(
        BANNER + b"Response: Success\r\nActionID: p-1\r\nPing: Pong\r\n\r\n"
    ) == [Banner("Asterisk Call Manager/11.0.0")]


# -- errors ----------------------------------------------------------------------------------
def test_permission_denied_maps_to_its_own_error():
    reply = replies(replay("a2-login-failed"))["lab-5901-4"]
    assert reply.message == "Permission denied"
    with pytest.raises(PermissionDenied) as caught:
        reply.raise_for_error()
    assert caught.value.reply is reply and caught.value.action == reply.action
    denied = [r for r in replies(replay("d1-restricted-user-denials")).values() if not r.ok]
    assert denied
    for r in denied:
        if r.message == "Permission denied":
            with pytest.raises(PermissionDenied):
                r.raise_for_error()


def test_unknown_action_maps_to_its_own_error():
    reply = replies(replay("d2-errors"))["lab-5901-92"]
    with pytest.raises(UnknownAction) as caught:
        reply.raise_for_error()
    assert caught.value.message.startswith("Invalid/unknown command: NoSuchAction")


@pytest.mark.parametrize(
    ("action_id", "message"),
    [
        ("lab-5901-93", "No such channel"),
        ("lab-5901-95", "Originate failed"),
        ("lab-5901-98", "Channel not specified"),
        ("lab-noaction", "Missing action in request"),
    ],
)
def test_other_errors_map_to_action_error(action_id, message):
    reply = replies(replay("d2-errors"))[action_id]
    with pytest.raises(ActionError) as caught:
        reply.raise_for_error()
    assert type(caught.value) is ActionError
    assert caught.value.message == message


def test_successful_replies_do_not_raise():
    for reply in replies(replay("b4-core-actions")).values():
        if reply.ok:
            assert reply.raise_for_error() is reply
    logoff = replies(replay("d2-errors"))["lab-5901-104"]
    assert logoff.ok and logoff.message == "Thanks for all the fish."


def test_a_failed_login_maps_to_action_error_with_the_pbx_message():
    reply = next(r for r in replies(replay("a2-login-failed")).values() if r.action == "Login")
    with pytest.raises(ActionError, match="Authentication failed"):
        reply.raise_for_error()


# -- OriginateResponse: an event that carries a Response header ----------------------------------
def test_originate_response_event_comes_out_as_an_event():
    items = replay("d2-errors")
    outcome = [p for p in events(items) if p.name == "OriginateResponse"]
    assert [(p.action_id, p["Response"]) for p in outcome] == [
        ("lab-5901-96", "Failure"),
        ("lab-5901-97", "Failure"),
    ]


def test_a_foreign_originate_response_does_not_answer_our_action():
    # Asterisk sends OriginateResponse to every session with call read privilege; one for another
    # client's Originate without ActionID carries none.
    originate = next(
        p for p in packets_of("c1-call-1001-to-1002-ami-hangup") if p.name == "OriginateResponse"
    )
    proto = ClientProtocol()
    expect_reply(proto, "Ping", "p-1")
    out = proto.receive_data(BANNER + wire(originate, ActionID=None))
    assert [type(x) for x in out] == [Banner, Packet]
    assert proto.pending == ["p-1"]
