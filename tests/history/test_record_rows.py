"""The recorder's own rules (sans-IO, no socket, no clock), and its rows in the database: a
flush that failed loses nothing and a retry doubles nothing; a row the database refuses
leaves out that row only; a worker that died leaves a gap from ``Pbx.recorded_until``; the
FCM630A's missing numbers."""

from __future__ import annotations

import pytest
from django.db import transaction

from monitor.ami.packet import Packet
from monitor.history.dialect import FCM630A_REASONS, NO_MEMBER_LIST, missing_numbers
from monitor.history.recorder import Pending, Recorder
from monitor.history.rows import history_open, history_write
from monitor.history_models import AgentMiss, AgentSpan, QueueCallRecord, RecordGap
from monitor.models import Pbx

T0 = 1_796_357_342.0


def event(name: str, **fields: str) -> Packet:
    return Packet({"event": name, **{k.lower(): v for k, v in fields.items()}}, seq=1)


def join(rec: Recorder, uid: str, t: float, queue: str = "6501") -> None:
    rec.on_event(event("QueueCallerJoin", Queue=queue, Uniqueid=uid, Position="1"), t)


def member(rec: Recorder, t: float, **fields: str) -> None:
    block = {"Queue": "6501", "Interface": "PJSIP/1002", "MemberName": "Agent 1002"}
    rec.on_event(event("QueueMemberStatus", **block, **fields), t)


def up(rec: Recorder) -> Recorder:
    rec.up = True
    return rec


@pytest.fixture
def pbx(db) -> Pbx:
    row = Pbx(name="rows", host="127.0.0.1", port=5038, username="admin123")
    row.set_secret("admin123")
    row.save()
    return row


def test_a_leave_with_no_abandon_waits_for_its_connect_then_is_answered():
    rec = up(Recorder())
    join(rec, "1.1", T0)
    rec.on_event(event("QueueCallerLeave", Queue="6501", Uniqueid="1.1"), T0 + 18)
    assert rec.take(T0 + 18.001).calls[("6501", "1.1")]["outcome"] == "waiting"
    connect = event(
        "AgentConnect", Queue="6501", Uniqueid="1.1", Interface="PJSIP/1003", HoldTime="18"
    )
    rec.on_event(connect, T0 + 18.003)
    row = rec.take(T0 + 19).calls[("6501", "1.1")]
    assert (row["outcome"], row["wait_seconds"], row["agent"]) == ("answered", 18, "PJSIP/1003")


def test_abandon_timeout_and_key_are_told_apart_by_what_came_with_them():
    rec = up(Recorder())
    for uid in ("hangup", "timeout", "key", "nothing"):
        join(rec, uid, T0)
    rec.on_event(event("HangupRequest", Uniqueid="hangup"), T0 + 2)
    rec.on_event(event("DTMFEnd", Uniqueid="key", Direction="Received", Digit="1"), T0 + 3)
    for uid in ("hangup", "timeout"):
        abandon = event("QueueCallerAbandon", Queue="6501", Uniqueid=uid, HoldTime="5")
        rec.on_event(abandon, T0 + 5)
    for uid in ("hangup", "timeout", "key", "nothing"):
        rec.on_event(event("QueueCallerLeave", Queue="6501", Uniqueid=uid), T0 + 5)
    queuestatus = event("VarSet", Uniqueid="timeout", Variable="QUEUESTATUS", Value="TIMEOUT")
    rec.on_event(queuestatus, T0 + 5.01)
    calls = rec.take(T0 + 10).calls  # LEAVE_GRACE over: no AgentConnect came
    got = {uid: calls[("6501", uid)]["outcome"] for _, uid in calls}
    want = {"hangup": "abandoned", "timeout": "timeout", "key": "exitkey", "nothing": "other"}
    assert got == want


def test_a_failed_flush_gives_its_rows_back_under_the_newer_ones():
    rec = up(Recorder())
    join(rec, "1.1", T0)
    member(rec, T0, Status="1")
    failed = rec.take(T0 + 1)
    rec.on_event(event("HangupRequest", Uniqueid="1.1"), T0 + 3)
    rec.on_event(event("QueueCallerAbandon", Queue="6501", Uniqueid="1.1", HoldTime="3"), T0 + 3)
    rec.on_event(event("QueueCallerLeave", Queue="6501", Uniqueid="1.1"), T0 + 3)
    member(rec, T0 + 3, Status="1", Paused="1", PausedReason="Lunch")
    rec.give_back(failed)
    retry = rec.take(T0 + 4)
    call = retry.calls[("6501", "1.1")]
    assert (call["outcome"], call["ended_at"]) == ("abandoned", T0 + 3)  # the newer row won
    spans = {k[2]: v for k, v in retry.spans.items()}
    assert spans[T0]["ended_at"] == T0 + 3 and spans[T0 + 3]["state"] == "paused"
    assert retry.recorded_until == T0 + 4


def test_a_worker_that_died_leaves_a_gap_from_recorded_until_and_its_spans_close_there():
    rec = Recorder()
    span = {
        "queue": "6501",
        "interface": "PJSIP/1002",
        "name": "Agent 1002",
        "state": "available",
        "reason": "",
        "started_at": T0,
    }
    rec.restore(calls=[], spans=[span], gap=None, recorded_until=T0 + 60, now=T0 + 600)
    out = rec.take(T0 + 600)
    assert out.gaps == {T0 + 60: {"ended_at": None, "reason": "fcmdash was not running"}}
    assert out.spans[("6501", "PJSIP/1002", T0)]["ended_at"] == T0 + 60
    assert out.recorded_until is None  # not up before its first resync


def pending_day() -> tuple[Recorder, Pending]:
    rec = up(Recorder())
    join(rec, "1.1", T0)
    member(rec, T0, Status="6")
    ring = event(
        "AgentRingNoAnswer", Queue="6501", Uniqueid="1.1", Interface="PJSIP/1002", RingTime="15000"
    )
    rec.on_event(ring, T0 + 15)
    member(rec, T0 + 15, Status="1")
    rec.session_down(T0 + 20, "connection lost")
    return rec, rec.take(T0 + 20)


def rows(pbx_id: int) -> tuple[int, ...]:
    return tuple(
        m.objects.filter(pbx_id=pbx_id).count()
        for m in (QueueCallRecord, AgentSpan, AgentMiss, RecordGap)
    )


def test_a_retry_of_rows_already_committed_doubles_nothing(pbx):
    rec, pending = pending_day()
    with transaction.atomic():
        assert history_write(pbx_id=pbx.pk, pending=pending)
    # The commit went through but its answer was lost: the worker gives the rows back.
    rec.give_back(pending)
    with transaction.atomic():
        assert history_write(pbx_id=pbx.pk, pending=rec.take(T0 + 21))
    assert rows(pbx.pk) == (1, 2, 1, 1)
    left = history_open(pbx_id=pbx.pk)
    assert [c["uniqueid"] for c in left["calls"]] == ["1.1"]
    assert left["spans"] == [] and left["gap"]["started_at"] == T0 + 20


def test_a_row_the_database_refuses_leaves_out_that_row_only(pbx):
    _, pending = pending_day()
    pending.calls[("6501", "bad")] = {**pending.calls[("6501", "1.1")], "position": -1}
    with transaction.atomic():
        assert history_write(pbx_id=pbx.pk, pending=pending, each=True)
    assert pending.skipped == [("calls", ("6501", "bad"))]
    assert rows(pbx.pk) == (1, 2, 1, 1)


def test_the_fcm630a_member_list_has_no_pause_reasons_and_nothing_else_is_missing():
    assert missing_numbers(Pbx(actions={})) == {}
    assert missing_numbers(Pbx(actions={"QueueStatus": True})) == {}
    fcm = Pbx(actions={"QueueStatus": False, "Queues": True})
    assert missing_numbers(fcm) == {"paused_by_reason": FCM630A_REASONS}
    blind = missing_numbers(Pbx(actions={"QueueStatus": False}))
    assert blind == dict.fromkeys(("available_s", "paused_s", "paused_by_reason"), NO_MEMBER_LIST)


def test_the_worker_keeps_a_varset_only_for_queuestatus():
    from monitor.ami.events import WANTED_EVENTS, WANTED_IF
    from monitor.ami.parser import Parser

    def varset(name: str) -> bytes:
        return (
            f"Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/1005-00000035\r\n"
            f"Uniqueid: 1.1\r\nVariable: {name}\r\nValue: TIMEOUT\r\n\r\n"
        ).encode()

    parser = Parser(expect_banner=False, keep_events=WANTED_EVENTS, keep_if=WANTED_IF)
    parser.feed(varset("BRIDGEPEER") + varset("QUEUESTATUS") + varset("QUEUESTATUSX"))
    kept = [p.get("Variable") for p in parser.packets()]
    assert kept == ["QUEUESTATUS"] and parser.skipped == 2
